"""The typed model of ``settings.json``: every field of the seed configuration reference, plus unknown keys kept.

Pure data and validation; reading and writing the file lives in ``contop.server.settings_store``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contop.core.defaults import (
    DEFAULT_DESTRUCTIVE_PATTERNS,
    DEFAULT_FORBIDDEN_COMMANDS,
    default_restricted_paths,
)

Provider = Literal["gemini", "anthropic", "openai"]
PROVIDERS: tuple[Provider, ...] = ("gemini", "anthropic", "openai")
AuthMode = Literal["api_key", "cli_proxy"]
ThinkingMode = Literal["off", "on"]

# Keys PUT /api/settings must always carry (the seed's rule).
REQUIRED_KEYS: tuple[str, ...] = ("version", "restricted_paths", "forbidden_commands")

# Settings key → environment variable used when the key is empty in the file.
API_KEY_ENV: dict[str, str] = {
    "gemini_api_key": "GEMINI_API_KEY",
    "openai_api_key": "OPENAI_API_KEY",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "openrouter_api_key": "OPENROUTER_API_KEY",
}

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
    """One STUN or TURN server for WebRTC (``RTCIceServer``); TURN needs ``username`` and ``credential``."""

    model_config = _STRICT

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


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
