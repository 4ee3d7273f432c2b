"""The typed model of ``settings.json``: every field of the seed configuration reference, plus unknown keys kept.

Pure data and validation; reading and writing the file lives in ``contop.server.settings_store``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contop.core.defaults import (
    DEFAULT_DESTRUCTIVE_PATTERNS,
    DEFAULT_FORBIDDEN_COMMANDS,
    default_restricted_paths,
)

log = logging.getLogger(__name__)

Provider = Literal["gemini", "anthropic", "openai"]
PROVIDERS: tuple[Provider, ...] = ("gemini", "anthropic", "openai")
AuthMode = Literal["api_key", "cli_proxy"]
ThinkingMode = Literal["off", "on"]

# Keys PUT /api/settings must always carry (the seed's rule).
REQUIRED_KEYS: tuple[str, ...] = ("version", "restricted_paths", "forbidden_commands")

# The API key of the local OpenAI-compatible server (vLLM or llama.cpp started with --api-key, LM Studio with
# authentication, a LiteLLM proxy). A secret like the providers' keys, so it is in API_KEY_ENV and hidden wherever
# they are; but no provider of its own: having it set chooses no model.
LOCAL_MODEL_KEY = "local_model_api_key"

# Settings key → environment variable used when the key is empty in the file. Every value here is a secret: the
# server's log, the audit log and what reaches the phone hide it, and the agent's commands never get the variable.
API_KEY_ENV: dict[str, str] = {
    "gemini_api_key": "GEMINI_API_KEY",
    "openai_api_key": "OPENAI_API_KEY",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "openrouter_api_key": "OPENROUTER_API_KEY",
    LOCAL_MODEL_KEY: "LOCAL_MODEL_API_KEY",
}
# The keys of the cloud providers, each of which is a model choice of its own.
PROVIDER_KEYS: tuple[str, ...] = tuple(key for key in API_KEY_ENV if key != LOCAL_MODEL_KEY)

# What execution_model may be (contop.agent.models parses it), for the messages that refuse a bad one.
EXECUTION_MODEL_FORMS = (
    "'provider:model' with provider gemini, anthropic, openai or openrouter (e.g. 'gemini:gemini-2.5-flash'), "
    "'openai-compatible:<model>' for the server at local_model_base_url (e.g. 'openai-compatible:llama3.1'), "
    "'scripted:<path to a JSON script>' (tests and demos), or empty for the first provider with a key"
)

_STRICT = ConfigDict(extra="allow", strict=True, validate_assignment=True)


class ProviderAuth(BaseModel):
    model_config = _STRICT

    mode: AuthMode = "api_key"
    proxy_url: str = ""


def _default_provider_auth() -> dict[str, ProviderAuth]:
    return {name: ProviderAuth() for name in PROVIDERS}


class AwayModeSettings(BaseModel):
    model_config = _STRICT

    enabled: bool = False
    pin_hash: str = ""
    emergency_pin_hash: str = ""
    auto_engage_minutes: int = Field(default=5, ge=1, le=24 * 60)
    idle_timeout_enabled: bool = True


class IceServer(BaseModel):
    """One STUN or TURN server for WebRTC (``RTCIceServer``); TURN needs ``username`` and ``credential``.

    Only the shape is checked here, so that a hand-edited ``settings.json`` with one unusable entry is not set
    aside whole: ``PUT /api/settings`` refuses such an entry (``ice_servers_problem``), and everything that builds
    a connection from the settings uses ``usable_ice_servers``, which leaves it out.
    """

    model_config = _STRICT

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


# RFC 7064/7065 as WebRTC applies them: stun:host[:port], turn:host[:port][?transport=udp|tcp] (and the "s" forms);
# host a DNS name, an IPv4 address or a bracketed IPv6 address.
_ICE_URL = re.compile(
    r"(?P<scheme>stuns?|turns?):"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?"
)
ICE_URL_FORMS = "stun:host[:port], stuns:host[:port], turn:host[:port][?transport=udp|tcp] or turns:…"


@dataclass(frozen=True)
class IceUrl:
    """A parsed STUN/TURN URL; ``port`` and ``transport`` filled in with the defaults WebRTC uses."""

    scheme: str
    host: str  # without the brackets of an IPv6 address
    port: int
    transport: str  # "udp" or "tcp"

    @property
    def label(self) -> str:
        """How logs name it (never with credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}:{host}:{self.port}" + ("?transport=tcp" if self.transport == "tcp" else "")


def parse_ice_url(url: Any) -> IceUrl:
    """Parse a STUN/TURN URL as a browser's ``RTCPeerConnection`` does; raises ``ValueError`` saying why."""
    if not isinstance(url, str) or not url:
        raise ValueError("an empty URL")
    match = _ICE_URL.fullmatch(url)
    if match is None:
        raise ValueError(f"{url[:200]!r} is not a STUN/TURN URL (use {ICE_URL_FORMS})")
    scheme, host, port_text, transport = match.group("scheme", "host", "port", "transport")
    if transport and scheme.startswith("stun"):
        raise ValueError(f"{url[:200]!r}: a STUN URL takes no ?transport")
    secure = scheme in ("stuns", "turns")
    port = int(port_text) if port_text else (5349 if secure else 3478)
    if not 1 <= port <= 65535:
        raise ValueError(f"{url[:200]!r}: the port must be from 1 to 65535")
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{url[:200]!r}: {host!r} is not an IPv6 address") from None
    return IceUrl(scheme, host, port, transport or ("tcp" if secure else "udp"))


def ice_server_problem(server: Any) -> str | None:
    """Why a browser would refuse this ``RTCIceServer`` entry (None when it would not)."""
    data = server.model_dump() if isinstance(server, BaseModel) else server
    if not isinstance(data, Mapping):
        return "not an object {urls, username?, credential?}"
    urls = data.get("urls")
    urls = [urls] if isinstance(urls, str) else urls
    if not isinstance(urls, list):
        return "urls must be a URL or a list of URLs"
    if not urls:
        return "urls is empty: give at least one stun: or turn: URL"
    turn = False
    for url in urls:
        try:
            turn = parse_ice_url(url).scheme.startswith("turn") or turn
        except ValueError as exc:
            return f"urls: {exc}"
    if turn and not (data.get("username") and data.get("credential")):
        return "a TURN server needs a username and a credential"
    return None


def ice_servers_problem(servers: Any) -> str | None:
    """The first unusable entry of an ``ice_servers`` list, named by its position (None when all are usable)."""
    if not isinstance(servers, list):
        return None  # the model reports a wrong type itself
    for index, server in enumerate(servers):
        problem = ice_server_problem(server)
        if problem:
            return f"ice_servers.{index}: {problem}"
    return None


_warned_ice: set[str] = set()


def usable_ice_servers(servers: Iterable[Any]) -> list[dict[str, Any]]:
    """The entries a browser and aiortc accept, as ``{urls, username?, credential?}`` dicts; each one left out is
    logged once (without its credentials). A bad entry in a hand-edited file must not break every connection."""
    usable: list[dict[str, Any]] = []
    for index, server in enumerate(servers):
        problem = ice_server_problem(server)
        if problem is None:
            data = server.model_dump() if isinstance(server, BaseModel) else dict(server)
            usable.append({key: value for key, value in data.items() if value is not None})
            continue
        note = f"ice_servers.{index}: {problem}"
        if note not in _warned_ice:
            _warned_ice.add(note)
            log.warning("ignoring STUN/TURN server %s; fix it in the settings", note)
    return usable


DEFAULT_VIDEO_WIDTH = 1280
DEFAULT_VIDEO_FPS = 30.0


class Settings(BaseModel):
    """``settings.json``. Unknown keys are kept (``extra='allow'``) so newer or foreign keys survive a save."""

    model_config = _STRICT

    version: int = Field(default=1, ge=1)
    gemini_api_key: str = ""
    openai_api_key: str = ""
    anthropic_api_key: str = ""
    openrouter_api_key: str = ""
    provider_auth: dict[str, ProviderAuth] = Field(default_factory=_default_provider_auth)
    proxy_auto_start: bool = True
    conversation_system_prompt: str = ""
    execution_system_prompt: str = ""
    # The execution agent's model, "provider:model" (see contop.agent.models); empty = first provider with a key.
    execution_model: str = ""
    local_model_base_url: str = ""  # OpenAI-compatible server for "openai-compatible:<model>" (Ollama, LM Studio…)
    # Sent to that server as "Authorization: Bearer <key>"; empty: LOCAL_MODEL_API_KEY, else no key.
    local_model_api_key: str = ""
    thinking_mode: ThinkingMode = "off"
    restricted_paths: list[str] = Field(default_factory=lambda: default_restricted_paths("~/.contop"))
    forbidden_commands: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN_COMMANDS))
    destructive_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_DESTRUCTIVE_PATTERNS))
    keep_host_awake: bool = False
    enabled_skills: list[str] = Field(default_factory=list)
    away_mode: AwayModeSettings = Field(default_factory=AwayModeSettings)
    pinchtab_url: str = "http://127.0.0.1:9867"
    ice_servers: list[IceServer] = Field(default_factory=list)  # empty: host candidates only (LAN, Tailscale)
    # The live screen: frame width in pixels (height keeps the screen's aspect) and frames per second.
    video_width: int = Field(default=DEFAULT_VIDEO_WIDTH, ge=160, le=7680)
    video_fps: float = Field(default=DEFAULT_VIDEO_FPS, gt=0, le=60)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def effective_api_key(self, key: str, env: Mapping[str, str]) -> str:
        """The API key for ``key`` (e.g. ``gemini_api_key``): the file's value, else its environment fallback."""
        value = str(getattr(self, key, "") or "")
        return value or env.get(API_KEY_ENV[key], "")


def default_settings(state_dir_display: str) -> Settings:
    """Defaults for a server whose state directory is shown as ``state_dir_display`` (``~/.contop`` or a path)."""
    return Settings(restricted_paths=default_restricted_paths(state_dir_display))


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field: ``away_mode.auto_engage_minutes: Input should be a valid integer``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def validate_settings(data: Any) -> Settings:
    """Validate a decoded JSON value as settings; raises ``ValidationError`` or ``TypeError``."""
    if not isinstance(data, dict):
        raise TypeError("settings must be a JSON object")
    return Settings.model_validate(data)


def missing_required_keys(data: Mapping[str, Any]) -> list[str]:
    return [key for key in REQUIRED_KEYS if key not in data]
