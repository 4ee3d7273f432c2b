import pytest
from pydantic import ValidationError

from contop.core.settings import (
    IceServer,
    Settings,
    default_settings,
    describe_validation_error,
    ice_servers_problem,
    missing_required_keys,
    parse_ice_url,
    usable_ice_servers,
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


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("stun:stun.l.google.com:19302", ("stun", "stun.l.google.com", 19302, "udp")),
        ("stun:10.0.0.1", ("stun", "10.0.0.1", 3478, "udp")),
        ("stuns:stun.example.org", ("stuns", "stun.example.org", 5349, "tcp")),
        ("turn:turn.example.org?transport=tcp", ("turn", "turn.example.org", 3478, "tcp")),
        ("turn:turn.example.org:443?transport=udp", ("turn", "turn.example.org", 443, "udp")),
        ("turns:[2001:db8::1]:5349", ("turns", "2001:db8::1", 5349, "tcp")),
    ],
)
def test_ice_urls_as_webrtc_reads_them(url: str, parsed: tuple) -> None:
    got = parse_ice_url(url)
    assert (got.scheme, got.host, got.port, got.transport) == parsed


@pytest.mark.parametrize(
    "url",
    [
        "garbage", "http://example.com", "stun://example.com", "stun:", "stun:example.com:0",
        "stun:example.com:65536", "stun:example.com:x", "stun:example.com?transport=udp",
        "turn:example.com?transport=sctp", "turn:example.com?foo=bar", "turn:user:pass@example.com",
        "stun:exa mple.com", "stun:[zz]", " stun:example.com", "",
    ],
)  # fmt: skip
def test_bad_ice_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_ice_url(url)


def test_ice_server_problems_name_the_entry() -> None:
    assert ice_servers_problem([{"urls": "stun:a"}, {"urls": ["turn:b"], "username": "u", "credential": "c"}]) is None
    assert ice_servers_problem([{"urls": "stun:a"}, {"urls": "turn:b"}]) == (
        "ice_servers.1: a TURN server needs a username and a credential"
    )
    assert ice_servers_problem([{"urls": "turns:b", "username": "u"}]).startswith("ice_servers.0: a TURN")  # type: ignore[union-attr]
    assert "not a STUN/TURN URL" in (ice_servers_problem([{"urls": ["stun:a", "garbage"]}]) or "")
    assert "empty" in (ice_servers_problem([{"urls": []}]) or "")
    # The model checks only the shape, so that a hand-edited file with one bad entry is not set aside whole.
    assert validate_settings({**Settings().to_json_dict(), "ice_servers": [{"urls": "garbage"}]}).ice_servers


def test_usable_ice_servers_leave_out_bad_entries_and_log_them_without_credentials(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contop.core import settings as settings_module

    monkeypatch.setattr(settings_module, "_warned_ice", set())  # each is logged once per process: start afresh
    servers = [
        IceServer(urls="garbage-one"),
        IceServer(urls="stun:a"),
        {"urls": "turn:b"},
        {"urls": "turn:c host", "username": "u", "credential": "secret-c"},
        {"urls": ["turn:d"], "username": "u", "credential": "p", "credentialType": "password"},
    ]
    with caplog.at_level("WARNING"):
        usable = usable_ice_servers(servers)
    assert usable == [
        {"urls": "stun:a"},
        {"urls": ["turn:d"], "username": "u", "credential": "p", "credentialType": "password"},
    ]
    assert "garbage-one" in caplog.text and "ice_servers.2" in caplog.text and "secret-c" not in caplog.text
