"""The wire messages: every seed type parses, and every malformed variant gets the exact error it deserves."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from contop.core.messages import (
    PHONE_MESSAGES,
    SERVER_MESSAGES,
    AgentResult,
    AgentResultPayload,
    Error,
    GenericMessage,
    InvalidMessage,
    Keepalive,
    ManualControl,
    SessionContext,
    ToolCall,
    UserIntent,
    new_id,
    parse_phone_message,
    parse_server_message,
)

PHONE_SAMPLES: dict[str, dict[str, Any]] = {
    "user_intent": {"text": "Open Chrome and search for the weather", "frame_b64": "AAAA"},
    "agent_confirmation_response": {"approved": True, "request_id": "req-1"},
    "execution_stop": {},
    "manual_control": {"action": "click", "x": 640, "y": 360},
    "set_manual_mode": {"enabled": True},
    "new_session": {},
    "tool_call": {"tool": "execute_cli", "args": {"command": "ls -la"}},
    "session_context": {"turns": [{"role": "user", "text": "hi"}], "session_id": "s-1"},
    "device_control": {"action": "wake"},
    "away_mode_status": {},
    "away_mode_engage": {},
    "away_mode_disengage": {},
    "keepalive": {},
}

SERVER_SAMPLES: dict[str, dict[str, Any]] = {
    "agent_progress": {"step": 3, "tool": "execute_cli", "detail": "Running: git status", "status": "running"},
    "agent_result": {"answer": "Done.", "steps_taken": 5, "duration_ms": 12340, "session_id": "s", "tool_summary": {}},
    "agent_confirmation_request": {"tool": "execute_cli", "command": "rm -rf x", "reason": "destructive_command"},
    "state_update": {"ai_state": "idle", "connection_type": "permanent", "keep_host_awake": False},
    "agent_status": {"status_type": "vision_fallback", "message": "falling back"},
    "away_mode_status": {"away_mode": True, "overlay_active": True},
    "tool_result": {"tool": "execute_cli", "status": "success", "stdout": "out", "duration_ms": 1250, "ref_id": "r"},
    "device_control_result": {"action": "wake", "status": "success", "ref_id": "r"},
    "security_alert": {"reason": "overlay_killed", "message": "Away Mode overlay may have been terminated"},
    "agent_thinking": {"text": "I need to check"},
    "agent_text": {"text": "Created."},
    "keepalive": {"ref_id": "r"},
    "error": {"code": "busy", "message": "an execution is running", "ref_id": "r"},
}


def envelope(kind: str, payload: Any, msg_id: str = "id-1") -> str:
    return json.dumps({"type": kind, "id": msg_id, "payload": payload})


def test_samples_cover_every_type() -> None:
    assert set(PHONE_SAMPLES) == set(PHONE_MESSAGES)
    assert set(SERVER_SAMPLES) == set(SERVER_MESSAGES)


@pytest.mark.parametrize("kind", sorted(PHONE_SAMPLES))
def test_every_phone_message_parses_to_its_model(kind: str) -> None:
    message = parse_phone_message(envelope(kind, PHONE_SAMPLES[kind]))
    assert not isinstance(message, Error), message
    assert type(message) is PHONE_MESSAGES[kind]
    assert message.id == "id-1"
    dumped = message.to_dict()["payload"]
    assert {k: dumped[k] for k in PHONE_SAMPLES[kind]} == PHONE_SAMPLES[kind]


@pytest.mark.parametrize("kind", sorted(SERVER_SAMPLES))
def test_every_server_message_round_trips(kind: str) -> None:
    message = parse_server_message(envelope(kind, SERVER_SAMPLES[kind]))
    assert type(message) is SERVER_MESSAGES[kind]
    again = parse_server_message(message.to_json())
    assert again == message


def error_of(raw: str | bytes) -> tuple[str, str, str | None]:
    result = parse_phone_message(raw)
    assert isinstance(result, Error), result
    return result.payload.code, result.payload.message, result.payload.ref_id


@pytest.mark.parametrize(
    ("raw", "code", "fragment", "ref_id"),
    [
        ("{not json", "invalid_message", "not valid JSON", None),
        (b"\xff\xfe", "invalid_message", "UTF-8", None),
        ("[1, 2]", "invalid_message", "JSON object, got list", None),
        ('"text"', "invalid_message", "JSON object, got str", None),
        ('{"id": "a", "payload": {}}', "invalid_message", "'type'", "a"),
        ('{"type": 5, "id": "a", "payload": {}}', "invalid_message", "'type'", "a"),
        ('{"type": "keepalive", "payload": {}}', "invalid_message", "lacks 'id'", None),
        ('{"type": "keepalive", "id": 7, "payload": {}}', "invalid_message", "invalid 'id'", None),
        ('{"type": "keepalive", "id": "a"}', "invalid_message", "lacks 'payload'", "a"),
        ('{"type": "teleport", "id": "a", "payload": {}}', "unknown_type", "'teleport'", "a"),
        ('{"type": "agent_result", "id": "a", "payload": {}}', "unknown_type", "'agent_result'", "a"),
        ('{"type": "user_intent", "id": "a", "payload": "hello"}', "invalid_payload", "JSON object", "a"),
        ('{"type": "user_intent", "id": "a", "payload": null}', "invalid_payload", "JSON object", "a"),
        ('{"type": "user_intent", "id": "a", "payload": {}}', "invalid_payload", "payload.text", "a"),
        ('{"type": "user_intent", "id": "a", "payload": {"text": 3}}', "invalid_payload", "payload.text", "a"),
        ('{"type": "set_manual_mode", "id": "a", "payload": {"enabled": "yes"}}', "invalid_payload", "enabled", "a"),
        ('{"type": "manual_control", "id": "a", "payload": {"action": "up", "x": "1"}}', "invalid_payload", ".x", "a"),
        ('{"type": "tool_call", "id": "a", "payload": {"tool": "t", "args": []}}', "invalid_payload", "args", "a"),
        (
            '{"type": "agent_confirmation_response", "id": "a", "payload": {"approved": true}}',
            "invalid_payload",
            "request_id",
            "a",
        ),
    ],
)
def test_malformed_messages_get_precise_errors(raw: str, code: str, fragment: str, ref_id: str | None) -> None:
    got_code, message, got_ref = error_of(raw)
    assert (got_code, got_ref) == (code, ref_id)
    assert fragment in message


@pytest.mark.parametrize("depth", [65, 2000, 100_000])
def test_json_nested_too_deeply_is_an_error_not_a_crash(depth: int) -> None:
    raw = '{"type": "tool_call", "id": "a", "payload": {"tool": "t", "args": {"x": ' + "[" * depth + "]" * depth + "}}}"
    code, message, _ref = error_of(raw)
    assert code == "invalid_message" and "nested too deeply" in message
    assert error_of("[" * depth + "]" * depth)[1].endswith("(more than 64 levels)")


def test_unknown_payload_keys_are_kept_and_known_ones_checked() -> None:
    message = parse_phone_message(envelope("user_intent", {"text": "hi", "future_key": [1]}))
    assert isinstance(message, UserIntent)
    assert message.to_dict()["payload"]["future_key"] == [1]


def test_coordinates_accept_integers_and_floats() -> None:
    message = parse_phone_message(envelope("manual_control", {"action": "mouse_move", "x": 1, "y": 0.5}))
    assert isinstance(message, ManualControl)
    assert (message.payload.x, message.payload.y) == (1, 0.5)


def test_our_additions() -> None:
    context = parse_phone_message(envelope("session_context", {"turns": [], "session_id": "abc"}))
    assert isinstance(context, SessionContext) and context.payload.session_id == "abc"
    result = AgentResult(payload=AgentResultPayload(answer="ok", session_id="abc", tool_summary={"x": {"success": 2}}))
    data = json.loads(result.to_json())
    assert data["payload"]["session_id"] == "abc" and data["payload"]["tool_summary"] == {"x": {"success": 2}}
    error = Error.reply("not_available", "no agent yet", "req")
    expected = {"code": "not_available", "message": "no agent yet", "ref_id": "req"}
    assert json.loads(error.to_json())["payload"] == expected


def test_new_messages_get_fresh_ids() -> None:
    a, b = Keepalive(), Keepalive()
    assert a.id != b.id and len(a.id) == 36


def test_server_parse_is_lenient_about_new_types_and_strict_about_shape() -> None:
    message = parse_server_message(envelope("hologram", {"x": 1}))
    assert isinstance(message, GenericMessage) and message.type == "hologram"
    with pytest.raises(InvalidMessage) as info:
        parse_server_message("[]")
    assert info.value.code == "invalid_message"


def test_tool_call_args_default_to_empty() -> None:
    message = parse_phone_message(envelope("tool_call", {"tool": "get_action_history"}))
    assert isinstance(message, ToolCall) and message.payload.args == {}


def test_new_ids_are_distinct_random_version_4_uuids() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical lower-case spelling, dashes where uuid puts them
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every variant nibble and every hex digit of the random part turn up: nothing is stuck
    assert {text[19] for text in ids} == set("89ab")
    assert set("".join(text.replace("-", "")[13:] for text in ids)) == set("0123456789abcdef")
