"""Model resolution (pure) and the scripted model's script parsing."""

from __future__ import annotations

import pytest

from contop.agent.events import RecordingEvents
from contop.agent.models import ModelSpec, build_model, parse_model_string, resolve_model
from contop.agent.scripted import END_OF_SCRIPT, ScriptStep, parse_script
from contop.core.errors import ConfigError
from contop.core.settings import ProviderAuth, Settings
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(30)


def test_nothing_configured_gives_none() -> None:
    assert resolve_model(Settings(), {}) is None


def test_first_provider_with_a_key_wins_with_its_default_model() -> None:
    spec = resolve_model(Settings(openai_api_key="sk-o"), {"ANTHROPIC_API_KEY": "sk-a"})
    assert spec == ModelSpec("anthropic", "claude-sonnet-4-5", api_key="sk-a")
    assert resolve_model(Settings(openrouter_api_key="k"), {}).model == "google/gemini-2.5-flash"  # type: ignore[union-attr]
    assert resolve_model(Settings(), {"GEMINI_API_KEY": "g"}).provider == "gemini"  # type: ignore[union-attr]


def test_explicit_setting_and_env_override() -> None:
    settings = Settings(execution_model="openai:gpt-4.1-mini", gemini_api_key="g", openai_api_key="o")
    assert resolve_model(settings, {}) == ModelSpec("openai", "gpt-4.1-mini", api_key="o")
    spec = resolve_model(settings, {"CONTOP_EXECUTION_MODEL": "gemini:gemini-2.5-pro"})
    assert spec == ModelSpec("gemini", "gemini-2.5-pro", api_key="g")
    assert resolve_model(Settings(execution_model="scripted:/tmp/x.json"), {}) == ModelSpec("scripted", "/tmp/x.json")


def test_openai_compatible_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="local_model_base_url"):
        resolve_model(Settings(execution_model="openai-compatible:llama3.1"), {})
    spec = resolve_model(
        Settings(execution_model="openai-compatible:llama3.1", local_model_base_url="http://127.0.0.1:11434/v1"), {}
    )
    assert spec == ModelSpec("openai-compatible", "llama3.1", base_url="http://127.0.0.1:11434/v1")
    assert spec.backend == "local"


@pytest.mark.parametrize(
    ("model", "env_name"),
    [("gemini:gemini-2.5-flash", "GEMINI_API_KEY"), ("openai:gpt-4.1", "OPENAI_API_KEY"),
     ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"), ("openrouter:x/y", "OPENROUTER_API_KEY")],
)  # fmt: skip
def test_a_named_provider_without_a_key_says_which_key_is_missing(model: str, env_name: str) -> None:
    with pytest.raises(ConfigError, match=f"no .* API key is set: add .*_api_key in settings.json or set {env_name}"):
        resolve_model(Settings(execution_model=model), {})
    assert resolve_model(Settings(execution_model=model), {env_name: "k"}) is not None


def test_cli_proxy_routes_through_the_proxy_url() -> None:
    auth = {"anthropic": ProviderAuth(mode="cli_proxy", proxy_url=""), "gemini": ProviderAuth()}
    spec = resolve_model(Settings(provider_auth=auth), {})  # no key needed in subscription mode
    assert spec == ModelSpec("anthropic", "claude-sonnet-4-5", base_url="http://127.0.0.1:3456/v1", via_proxy=True)
    assert spec.backend == "cli_proxy" and "subscription" in spec.label
    auth = {"gemini": ProviderAuth(mode="cli_proxy", proxy_url="http://127.0.0.1:9999/")}
    spec = resolve_model(Settings(provider_auth=auth, execution_model="gemini:gemini-2.5-pro"), {})
    assert spec is not None and spec.base_url == "http://127.0.0.1:9999/v1"
    model = build_model(spec)
    assert model.model_name == "gemini-2.5-pro" and model.system == "openai"


@pytest.mark.parametrize(
    ("settings", "env", "source"),
    [
        (Settings(), {"CONTOP_EXECUTION_MODEL": "gpt-4o"}, "$CONTOP_EXECUTION_MODEL 'gpt-4o'"),
        (Settings(execution_model="gpt-4o"), {}, "execution_model 'gpt-4o'"),
        (Settings(), {"CONTOP_EXECUTION_MODEL": "openai:gpt-4.1"}, "$CONTOP_EXECUTION_MODEL is openai:gpt-4.1"),
        (Settings(execution_model="openai:gpt-4.1"), {}, "execution_model is openai:gpt-4.1"),
        (
            Settings(),
            {"CONTOP_EXECUTION_MODEL": "local:llama3.1"},
            "$CONTOP_EXECUTION_MODEL is openai-compatible:llama3.1",
        ),
        (Settings(execution_model="local:llama3.1"), {}, "execution_model is openai-compatible:llama3.1"),
    ],
)
def test_errors_name_where_the_model_was_set(settings: Settings, env: dict[str, str], source: str) -> None:
    """A value from the environment is not blamed on settings.json's execution_model, nor the reverse."""
    with pytest.raises(ConfigError) as caught:
        resolve_model(settings, env)
    assert str(caught.value).startswith(source + " "), caught.value


def test_a_missing_key_names_both_steps_of_the_subscription_route() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_model(Settings(execution_model="openai:gpt-4.1"), {})
    assert 'or use your subscription: set provider_auth.openai.mode to "cli_proxy" and run `contop proxy openai`' in (
        str(caught.value)
    )
    proxied = Settings(execution_model="openai:gpt-4.1", provider_auth={"openai": ProviderAuth(mode="cli_proxy")})
    assert resolve_model(proxied, {}) == ModelSpec("openai", "gpt-4.1", "http://127.0.0.1:3458/v1", via_proxy=True)


async def test_the_answer_names_the_environment_variable(env: Env, events: RecordingEvents) -> None:
    """What the phone shows when the server was started with a bad ``CONTOP_EXECUTION_MODEL``."""
    env.env["CONTOP_EXECUTION_MODEL"] = "gpt-4o"
    result = await run_intent(env.service(), "hi", events)
    assert result.status == "failed"
    assert result.answer.startswith("The model could not be set up: $CONTOP_EXECUTION_MODEL 'gpt-4o' is not"), (
        result.answer
    )


@pytest.mark.parametrize(
    "bad", ["gpt-4", "foo:bar", "openai:", ":x", "openai:gpt-4.1\nx", "gemini:a\x00b", "openai:a b"]
)
def test_bad_model_strings(bad: str) -> None:
    with pytest.raises(ConfigError, match="provider:model"):
        parse_model_string(bad)


def test_keys_never_show_in_repr_or_label() -> None:
    spec = ModelSpec("openai", "gpt-4.1", api_key="sk-secret-123")
    assert "sk-secret" not in repr(spec) and "sk-secret" not in spec.label


def test_build_models_for_each_provider_without_network() -> None:
    for provider, model in (("gemini", "gemini-2.5-flash"), ("anthropic", "claude-sonnet-4-5"),
                            ("openai", "gpt-4.1"), ("openrouter", "google/gemini-2.5-flash")):  # fmt: skip
        built = build_model(ModelSpec(provider, model, api_key="k"))  # type: ignore[arg-type]
        assert built.model_name == model


def test_script_parsing() -> None:
    steps = parse_script(
        [
            {"thinking": "first"},
            {"tool": "wait", "args": {"seconds": 0}},
            {"tools": [{"tool": "a"}, {"tool": "b", "args": {"x": 1}}]},
            {"text": "bye"},
            {"thinking": "dangling"},
        ]
    )
    assert steps == [
        ScriptStep("first", (("wait", {"seconds": 0}),)),
        ScriptStep("", (("a", {}), ("b", {"x": 1}))),
        ScriptStep("", text="bye"),
        ScriptStep("dangling", text=END_OF_SCRIPT),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tool": "x"}, "JSON list"),
        ([{"tool": ""}], "item 0"),
        ([{"tool": "x", "args": []}], "'args' must be an object"),
        ([{"tools": []}], "non-empty list"),
        ([{"text": "a", "tool": "b"}], "exactly one"),
        ([{"text": 3}], "'text' must be a string"),
    ],
)
def test_malformed_scripts(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_script(data)
