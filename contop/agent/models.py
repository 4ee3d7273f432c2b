"""Which model runs the agent: a pure resolution from settings and environment, then the pydantic-ai model.

``execution_model`` is ``provider:model``: ``gemini:``, ``openai:``, ``anthropic:``, ``openrouter:``,
``openai-compatible:<model>`` (at ``local_model_base_url``) or ``scripted:<path>`` (CONTRACTS §8). Provider SDKs
are imported only when their provider is chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from contop.core.errors import ConfigError
from contop.core.settings import API_KEY_ENV, LOCAL_MODEL_KEY, Settings

if TYPE_CHECKING:
    from pydantic_ai.models import Model

ProviderName = Literal["gemini", "anthropic", "openai", "openrouter", "openai-compatible", "scripted"]
PROVIDER_NAMES: tuple[str, ...] = get_args(ProviderName)
MODEL_ENV = "CONTOP_EXECUTION_MODEL"

# Tried in this order when no model is set; the first with a key (or a subscription proxy) wins. The local model
# server's key (local_model_api_key) is not here: it is sent to that server, and chooses no model by being set.
AUTO_ORDER: tuple[tuple[ProviderName, str, str], ...] = (
    ("gemini", "gemini_api_key", "gemini-2.5-flash"),
    ("anthropic", "anthropic_api_key", "claude-sonnet-4-5"),
    ("openai", "openai_api_key", "gpt-4.1"),
    ("openrouter", "openrouter_api_key", "google/gemini-2.5-flash"),
)
DEFAULT_MODELS: dict[str, str] = {name: model for name, _key, model in AUTO_ORDER}
KEY_OF: dict[str, str] = {name: key for name, key, _model in AUTO_ORDER}
# Default loopback ports of ``contop proxy <provider>`` (CONTRACTS §1).
PROXY_PORTS: dict[str, int] = {"anthropic": 3456, "gemini": 3457, "openai": 3458}

# Prefixes people type out of habit ("google:", "claude:") mapped to ours.
_ALIASES = {"google": "gemini", "google-gla": "gemini", "claude": "anthropic", "local": "openai-compatible"}


def no_model_answer(settings_path: str) -> str:
    """The agent's answer while no model is configured: every way to configure one, with this server's own
    settings file (``--home`` or ``CONTOP_HOME`` may have put it anywhere)."""
    return NO_MODEL_ANSWER.replace(_SETTINGS_FILE, settings_path)


_SETTINGS_FILE = "~/.contop/settings.json"
NO_MODEL_ANSWER = (
    "No AI model is configured on this computer, so I cannot act yet. Choose one of these:\n"
    "1. Put an API key in the settings: gemini_api_key, anthropic_api_key, openai_api_key or openrouter_api_key, "
    f"in {_SETTINGS_FILE} (an edit "
    "takes effect without a restart), or in the desktop app's Settings, or with PUT /api/settings. "
    "The first provider with a key is used with a sensible default model; "
    'pick another with execution_model, e.g. "gemini:gemini-2.5-pro" or "anthropic:claude-sonnet-4-5".\n'
    "2. Or set one of the environment variables GEMINI_API_KEY, ANTHROPIC_API_KEY, OPENAI_API_KEY or "
    "OPENROUTER_API_KEY before starting `contop serve`.\n"
    "3. Or use a local OpenAI-compatible server such as Ollama: run `ollama pull llama3.1`, then set "
    'local_model_base_url to "http://127.0.0.1:11434/v1" and execution_model to "openai-compatible:llama3.1" '
    "(a server that wants an API key, such as vLLM or llama.cpp started with --api-key: put it in "
    "local_model_api_key or LOCAL_MODEL_API_KEY).\n"
    "CONTOP_EXECUTION_MODEL in the server's environment overrides execution_model."
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A resolved model choice. ``api_key`` is never shown in ``repr`` or labels."""

    provider: ProviderName
    model: str
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    via_proxy: bool = False

    @property
    def label(self) -> str:
        if self.provider == "scripted":  # the script's file name is enough on a phone screen
            return f"scripted:{PurePath(self.model).name} (test model)"
        suffix = " via subscription proxy" if self.via_proxy else ""
        return f"{self.provider}:{self.model}{suffix}"

    @property
    def request_url(self) -> str:
        """``base_url`` as requests are sent to it. With an API key, a user and password written into the URL are
        left out: httpx sends those as Basic authentication in place of the key's ``Authorization: Bearer``, and
        the key, set on purpose, wins."""
        if not (self.api_key and self.base_url):
            return self.base_url
        try:
            parts = urlsplit(self.base_url.strip())
        except ValueError:
            return self.base_url
        if parts.username is None and parts.password is None:
            return self.base_url
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    @property
    def vision(self) -> bool:
        """Whether images may be sent: a subscription CLI behind the proxy takes text only."""
        return not self.via_proxy

    @property
    def backend(self) -> str:
        """What ``agent_progress.backend`` says: where the model runs."""
        if self.provider == "scripted":
            return "scripted"
        if self.via_proxy:
            return "cli_proxy"
        return "local" if self.provider == "openai-compatible" else "api"


def _proxy_url(settings: Settings, provider: str) -> str | None:
    auth = settings.provider_auth.get(provider)
    if auth is None or auth.mode != "cli_proxy":
        return None
    url = auth.proxy_url or f"http://127.0.0.1:{PROXY_PORTS[provider]}"
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def explicit_model(settings: Settings, env: Mapping[str, str]) -> tuple[str, str]:
    """The model asked for by name and where it was asked: ``$CONTOP_EXECUTION_MODEL`` overrides
    ``execution_model``. Messages name that source, so nobody hunts settings.json for a value from the environment."""
    from_env = env.get(MODEL_ENV, "").strip()
    if from_env:
        return from_env, f"${MODEL_ENV}"
    return settings.execution_model.strip(), "execution_model"


def subscription_hint(provider: str) -> str:
    """Both steps of using a subscription instead of a key: a running proxy is unused until the mode says so."""
    return f'set provider_auth.{provider}.mode to "cli_proxy" and run `contop proxy {provider}`'


def _for_provider(
    provider: ProviderName, model: str, settings: Settings, env: Mapping[str, str], source: str
) -> ModelSpec:
    if provider == "scripted":
        return ModelSpec("scripted", model)
    if provider == "openai-compatible":
        base = settings.local_model_base_url.strip()
        if not base:
            raise ConfigError(
                f"{source} is openai-compatible:{model} but local_model_base_url is empty "
                '(for Ollama: "http://127.0.0.1:11434/v1")'
            )
        return ModelSpec(
            "openai-compatible", model, base_url=base, api_key=settings.effective_api_key(LOCAL_MODEL_KEY, env)
        )
    proxy = _proxy_url(settings, provider)
    if proxy is not None:
        return ModelSpec(provider, model, base_url=proxy, via_proxy=True)
    key_name = KEY_OF[provider]
    api_key = settings.effective_api_key(key_name, env)
    if not api_key:  # the provider's SDK would fail later, in its own words and only at the first request
        raise ConfigError(
            f"{source} is {provider}:{model} but no {provider} API key is set: add {key_name} in "
            f"settings.json or set {API_KEY_ENV[key_name]}"
            + (f", or use your subscription: {subscription_hint(provider)}" if provider in PROXY_PORTS else "")
        )
    return ModelSpec(provider, model, api_key=api_key)


def parse_model_string(value: str, source: str = "execution_model") -> tuple[ProviderName, str]:
    """``"provider:model"`` → its parts; ``ConfigError`` naming ``source`` and the accepted forms otherwise."""
    provider, sep, model = value.strip().partition(":")
    provider = _ALIASES.get(provider.lower(), provider.lower())
    if not sep or not model.strip() or provider not in PROVIDER_NAMES:
        raise ConfigError(
            f"{source} {value!r} is not 'provider:model' with provider one of {', '.join(PROVIDER_NAMES)}"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in model.strip()):  # a line break, a NUL: no model is named so
        raise ConfigError(
            f"{source} {value!r} is not 'provider:model': the model's name holds a space or a control character"
        )
    return provider, model.strip()  # type: ignore[return-value]


def resolve_model(settings: Settings, env: Mapping[str, str]) -> ModelSpec | None:
    """The model to use: env override → ``execution_model`` → first provider with a key → ``None``. Pure."""
    explicit, source = explicit_model(settings, env)
    if explicit:
        provider, model = parse_model_string(explicit, source)
        return _for_provider(provider, model, settings, env, source)
    for provider, key, default in AUTO_ORDER:
        if _proxy_url(settings, provider) is not None or settings.effective_api_key(key, env):
            return _for_provider(provider, default, settings, env, source)
    return None


def build_model(spec: ModelSpec, *, record_path: str | None = None) -> Model:
    """The pydantic-ai model for ``spec``; the provider's SDK is imported here, only when chosen."""
    if spec.provider == "scripted":
        from contop.agent.scripted import ScriptedModel

        return ScriptedModel.from_file(spec.model, record_path=record_path)
    if spec.provider == "gemini" and not spec.via_proxy:
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        return GoogleModel(spec.model, provider=GoogleProvider(api_key=spec.api_key))
    if spec.provider == "anthropic" and not spec.via_proxy:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        return AnthropicModel(spec.model, provider=AnthropicProvider(api_key=spec.api_key))

    from pydantic_ai.models.openai import OpenAIChatModel

    if spec.provider == "openrouter" and not spec.via_proxy:
        from pydantic_ai.providers.openrouter import OpenRouterProvider

        return OpenAIChatModel(spec.model, provider=OpenRouterProvider(api_key=spec.api_key))
    from pydantic_ai.providers.openai import OpenAIProvider

    if spec.base_url:
        # A local server (its key sent as "Authorization: Bearer", when one is set) or the subscription proxy. The
        # SDK wants a key even for a server that needs none.
        provider = OpenAIProvider(base_url=spec.request_url, api_key=spec.api_key or "not-needed")
        if spec.via_proxy:
            # Each attempt runs the subscription's CLI once and spends its quota; the proxy's errors say what is
            # wrong (not logged in, no answer, crashed), and the SDK's two retries of them only repeated that.
            # The provider keeps its own HTTP client (which it closes), so the setting is changed on its client.
            provider.client.max_retries = 0
        return OpenAIChatModel(spec.model, provider=provider)
    return OpenAIChatModel(spec.model, provider=OpenAIProvider(api_key=spec.api_key))


def context_budget_tokens(spec: ModelSpec) -> int:
    """Rough history budget per model family (tokens, estimated as chars/4)."""
    name = spec.model.lower()
    if spec.provider == "gemini" or "gemini" in name:
        return 400_000
    if spec.provider == "anthropic" or "claude" in name:
        return 150_000
    if spec.provider in ("openai", "openrouter"):
        return 100_000
    if spec.provider == "scripted":
        return 100_000
    return 24_000  # small local models
