"""Pure parts of the desktop app, without Qt: sidecar argv and states, log rotation, form rules, backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from contop.desktop.forms import (
    changed_fields,
    conflicting_fields,
    dotted_get,
    field_errors,
    merged_settings,
    parse_ice_servers,
    typed_changes,
    validate_base_url,
    validate_entries,
    validate_pins,
    validate_skill,
)
from contop.desktop.proxies import backoff_delay
from contop.desktop.sidecar import (
    InvalidTransition,
    ParentDeath,
    SidecarConfig,
    SidecarEvent,
    SidecarState,
    prepare_log,
    serve_argv,
    transition,
)

pytestmark = pytest.mark.timeout(30)


def test_serve_argv_runs_contop_serve_in_our_interpreter(tmp_path: Path) -> None:
    cfg = SidecarConfig(home=tmp_path, port=8123, python="/py")
    assert serve_argv(cfg) == ["/py", "-m", "contop", "serve", "--no-qr", "--home", str(tmp_path), "--port", "8123"]


def test_serve_argv_with_the_pipe_watch_and_a_host(tmp_path: Path) -> None:
    cfg = SidecarConfig(home=tmp_path, port=0, host="127.0.0.1", python="/py", parent_death=ParentDeath.PIPE)
    argv = serve_argv(cfg)
    assert argv[:3] == ["/py", "-m", "contop.desktop.lifeline"]
    assert argv[3:] == ["serve", "--no-qr", "--home", str(tmp_path), "--port", "0", "--host", "127.0.0.1"]


def test_parent_death_default_always_has_the_pipe() -> None:
    assert ParentDeath.PIPE in ParentDeath.default()


def test_state_machine_normal_life() -> None:
    s = SidecarState.STOPPED
    for event, expected in [
        (SidecarEvent.START, SidecarState.STARTING),
        (SidecarEvent.HEALTHY, SidecarState.RUNNING),
        (SidecarEvent.EXITED, SidecarState.CRASHED),
        (SidecarEvent.START, SidecarState.STARTING),
        (SidecarEvent.HEALTHY, SidecarState.RUNNING),
        (SidecarEvent.STOP, SidecarState.STOPPING),
        (SidecarEvent.STOPPED, SidecarState.STOPPED),
    ]:
        s = transition(s, event)
        assert s is expected


def test_state_machine_refuses_nonsense() -> None:
    with pytest.raises(InvalidTransition):
        transition(SidecarState.RUNNING, SidecarEvent.START)
    with pytest.raises(InvalidTransition):
        transition(SidecarState.STOPPED, SidecarEvent.HEALTHY)
    assert transition(SidecarState.STOPPED, SidecarEvent.STOP) is SidecarState.STOPPED


def test_prepare_log_keeps_one_old_generation(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "server.log"
    prepare_log(log, max_bytes=100)
    assert "server starting" in log.read_text()
    log.write_bytes(b"x" * 200)
    prepare_log(log, max_bytes=100)
    assert (tmp_path / "logs" / "server.log.1").read_bytes() == b"x" * 200
    assert log.read_text().strip().startswith("----- contop desktop")


def test_validate_entries() -> None:
    assert validate_entries(["a", "b"]) is None
    assert validate_entries(["a", " "]) == "entries must not be empty"
    assert validate_entries(["a", "b", "a"]) == "duplicate entry: a"


@pytest.mark.parametrize(
    ("pin", "emergency", "fields"),
    [
        ("1234", "123456", set()),
        ("123", "123456", {"pin"}),
        ("1234567890123", "123456", {"pin"}),
        ("12a4", "123456", {"pin"}),
        ("1234", "12345", {"emergency_pin"}),
        ("123456", "123456", {"emergency_pin"}),
        ("1234", "", set()),  # optional: empty keeps the emergency PIN the server has
        ("12", "", {"pin"}),
    ],
)
def test_validate_pins(pin: str, emergency: str, fields: set[str]) -> None:
    assert set(validate_pins(pin, emergency)) == fields


def test_merged_settings_keeps_unknown_keys_and_reaches_nested_ones() -> None:
    snapshot = {"version": 1, "custom": {"x": 1}, "provider_auth": {"gemini": {"mode": "api_key", "proxy_url": "u"}}}
    merged = merged_settings(snapshot, {"provider_auth.gemini.mode": "cli_proxy", "keep_host_awake": True})
    assert merged["custom"] == {"x": 1}
    assert merged["provider_auth"]["gemini"] == {"mode": "cli_proxy", "proxy_url": "u"}
    assert merged["keep_host_awake"] is True
    assert snapshot["provider_auth"]["gemini"]["mode"] == "api_key"  # the snapshot is not modified


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("", True),
        ("http://127.0.0.1:11434/v1", True),
        ("https://llm.example.org", True),
        ("http://[::1]:1234/v1", True),
        ("localhost:11434", False),
        ("127.0.0.1:11434/v1", False),
        ("ftp://host/v1", False),
        ("http://", False),
        ("http://host:99999/v1", False),
        ("http://host:abc", False),
        ("http://my host/v1", False),
    ],
)
def test_validate_base_url(url: str, ok: bool) -> None:
    assert (validate_base_url(url) is None) is ok


def test_parse_ice_servers() -> None:
    assert parse_ice_servers("  \n") == ([], None)
    assert parse_ice_servers('[{"urls": "stun:s:3478"}]') == ([{"urls": "stun:s:3478"}], None)
    assert "not valid JSON" in (parse_ice_servers("[{")[1] or "")
    assert "list of objects" in (parse_ice_servers('{"urls": "stun:s"}')[1] or "")
    assert "list of objects" in (parse_ice_servers('["stun:s"]')[1] or "")


def test_typed_changes_converts_text_fields_and_names_problems() -> None:
    values, problems = typed_changes({"video_fps": "12.5", "ice_servers": "", "keep_host_awake": True})
    assert values == {"video_fps": 12.5, "ice_servers": [], "keep_host_awake": True} and problems == {}
    _, problems = typed_changes({"video_fps": "", "ice_servers": "x", "local_model_base_url": "localhost"})
    assert set(problems) == {"video_fps", "ice_servers", "local_model_base_url"}
    assert typed_changes({"video_width": 50}) == ({"video_width": 50}, {})  # ranges are the server's to judge


def test_changed_and_conflicting_fields() -> None:
    loaded_form = {"execution_model": "", "keep_host_awake": False, "away_mode.auto_engage_minutes": 5}
    now_form = {"execution_model": "anthropic:x", "keep_host_awake": False, "away_mode.auto_engage_minutes": 5}
    changed = changed_fields(loaded_form, now_form)
    assert changed == {"execution_model": "anthropic:x"}
    loaded = {"execution_model": "", "away_mode": {"auto_engage_minutes": 5}}
    assert conflicting_fields(loaded, {**loaded, "away_mode": {"auto_engage_minutes": 11}}, changed) == []
    assert conflicting_fields(loaded, {**loaded, "execution_model": "gemini:y"}, changed) == ["execution_model"]
    assert conflicting_fields(loaded, {**loaded, "execution_model": "anthropic:x"}, changed) == []  # same value
    assert dotted_get(loaded, "away_mode.auto_engage_minutes") == 5
    assert dotted_get(loaded, "provider_auth.gemini.mode") is None
    assert dotted_get(loaded, "execution_model.x") is None


def test_field_errors_maps_the_server_detail_to_fields() -> None:
    known = ["restricted_paths", "away_mode.auto_engage_minutes", "gemini_api_key"]
    found, rest = field_errors(
        "away_mode.auto_engage_minutes: Input should be less than or equal to 1440; restricted_paths.2: "
        "Input should be a valid string; thinking_mode: bad",
        known,
    )
    assert found == {
        "away_mode.auto_engage_minutes": "Input should be less than or equal to 1440",
        "restricted_paths": "Input should be a valid string",
    }
    assert rest == "thinking_mode: bad"
    found, rest = field_errors("missing required keys: restricted_paths, version", known)
    assert found == {"restricted_paths": "required"}
    assert rest == "version: required"
    # the sentences the server says about the model fields name their field first
    detail = "execution_model 'badmodel' is not valid: use 'provider:model' with provider gemini, anthropic"
    assert field_errors(detail, [*known, "execution_model"]) == ({"execution_model": detail}, "")
    detail = "local_model_base_url 'ftp://x' is not valid: give the server's http(s) address"
    assert field_errors(detail, [*known, "local_model_base_url"]) == ({"local_model_base_url": detail}, "")


def test_validate_skill() -> None:
    good = "---\nname: tidy-desk\ndescription: Closes windows\n---\n# body\n"
    assert validate_skill("tidy-desk", good) is None
    assert validate_skill("Tidy Desk", good) is not None
    assert "front matter" in (validate_skill("tidy-desk", "# no front matter") or "")
    assert "name: other" in (validate_skill("other", good) or "")
    assert "description" in (validate_skill("tidy-desk", "---\nname: tidy-desk\n---\n") or "")


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_delay(n, 0.5, 4) for n in range(0, 6)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]
