import pytest
from pydantic import ValidationError

from contop.core.settings import (
    Settings,
    default_settings,
    describe_validation_error,
    missing_required_keys,
    validate_settings,
)


def test_defaults_cover_every_seed_field_and_protected_paths() -> None:
    data = default_settings("/tmp/state").to_json_dict()
    for key in (
        "version", "gemini_api_key", "openai_api_key", "anthropic_api_key", "openrouter_api_key",
        "provider_auth", "proxy_auto_start", "conversation_system_prompt", "execution_system_prompt",
        "restricted_paths", "forbidden_commands", "destructive_patterns", "keep_host_awake",
        "enabled_skills", "away_mode", "pinchtab_url",
    ):  # fmt: skip
        assert key in data
    assert data["provider_auth"]["anthropic"] == {"mode": "api_key", "proxy_url": ""}
    assert data["away_mode"]["auto_engage_minutes"] == 5
    assert (data["video_width"], data["video_fps"]) == (1280, 30.0)
    for path in ("~/.ssh", "~/.gnupg", "~/.aws", "~/.config/gcloud", "/tmp/state", "/root", "/etc/shadow",
                 "C:\\Windows\\System32"):  # fmt: skip
        assert path in data["restricted_paths"]


def test_unknown_keys_survive_a_round_trip() -> None:
    data = default_settings("~/.contop").to_json_dict()
    data["future_feature"] = {"x": 1}
    data["away_mode"]["new_knob"] = True
    again = validate_settings(data).to_json_dict()
    assert again["future_feature"] == {"x": 1}
    assert again["away_mode"]["new_knob"] is True


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"keep_host_awake": "yes"}, "keep_host_awake"),
        ({"restricted_paths": "/root"}, "restricted_paths"),
        ({"away_mode": {"auto_engage_minutes": "5"}}, "away_mode.auto_engage_minutes"),
        ({"provider_auth": {"gemini": {"mode": "magic"}}}, "provider_auth.gemini.mode"),
        ({"version": True}, "version"),
        ({"video_width": "wide"}, "video_width"),
        ({"video_width": 40}, "video_width"),
        ({"video_fps": 0}, "video_fps"),
        ({"video_fps": 500}, "video_fps"),
    ],
)
def test_wrong_types_name_the_field(patch: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_settings({**Settings().to_json_dict(), **patch})
    assert describe_validation_error(info.value).startswith(field)


def test_required_keys_and_env_fallback() -> None:
    assert missing_required_keys({"version": 1}) == ["restricted_paths", "forbidden_commands"]
    s = Settings(openai_api_key="")
    assert s.effective_api_key("openai_api_key", {"OPENAI_API_KEY": "sk-env"}) == "sk-env"
    s = Settings(openai_api_key="sk-file")
    assert s.effective_api_key("openai_api_key", {"OPENAI_API_KEY": "sk-env"}) == "sk-file"
