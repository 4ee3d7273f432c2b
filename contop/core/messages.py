"""Data-channel wire messages: the ``{"type","id","payload"}`` envelope and every message type, per direction.

Each message is a pydantic model with ``type: Literal[...]``; ``PhoneMessage`` and ``ServerMessage`` are the
discriminated unions of the two directions. ``parse_phone_message`` validates once at the edge and gives back
either a typed message or the ``error`` reply that says what was wrong (CONTRACTS.md §6). No I/O here.
"""

from __future__ import annotations

import json
import os
import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticSerializationError

MAX_ID_LENGTH = 128

Channel = Literal["contop", "contop-fast"]
RELIABLE: Channel = "contop"
FAST: Channel = "contop-fast"

ErrorCode = Literal["invalid_message", "unknown_type", "invalid_payload", "not_available", "busy", "internal"]


_VARIANT = "89ab"  # the RFC 4122 variant: the top two bits of the clock sequence are 10


def new_id() -> str:
    """A random version 4 UUID as text. Spelled out from 16 random bytes: ``str(uuid.uuid4())`` costs 4.6 µs here
    and every message sent takes one."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class Payload(BaseModel):
    """Known keys are type-checked; unknown keys are kept (a newer phone or server may add some)."""

    model_config = ConfigDict(extra="allow", strict=True)


class EmptyPayload(Payload):
    pass


class Envelope(BaseModel):
    """The shape every message shares. Subclasses narrow ``type`` and ``payload``."""

    model_config = ConfigDict(extra="ignore", strict=True)

    type: str
    id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] = Field(default_factory=new_id)
    payload: Payload = Field(default_factory=EmptyPayload)

    def to_json(self) -> str:
        try:
            return self.model_dump_json()
        except PydanticSerializationError:  # a lone surrogate (a file name that is not UTF-8): JSON's escape
            return json.dumps(self.model_dump(mode="json"), separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# --- phone → server --------------------------------------------------------------------------------------------


class UserIntentPayload(Payload):
    text: str
    frame_b64: str | None = None


class UserIntent(Envelope):
    type: Literal["user_intent"] = "user_intent"
    payload: UserIntentPayload


class ConfirmationResponsePayload(Payload):
    approved: bool
    request_id: str


class AgentConfirmationResponse(Envelope):
    type: Literal["agent_confirmation_response"] = "agent_confirmation_response"
    payload: ConfirmationResponsePayload


class ExecutionStop(Envelope):
    type: Literal["execution_stop"] = "execution_stop"
    payload: EmptyPayload = Field(default_factory=EmptyPayload)


class ManualControlPayload(Payload):
    # click, right_click, double_click, scroll, key_combo, mouse_move, mouse_down, mouse_up, … (the manual-control
    # handler owns the list); coordinates are screen pixels of the streamed frame.
    action: Annotated[str, Field(min_length=1)]
    x: float | None = None
    y: float | None = None


class ManualControl(Envelope):
    type: Literal["manual_control"] = "manual_control"
    payload: ManualControlPayload


class SetManualModePayload(Payload):
    enabled: bool


class SetManualMode(Envelope):
    type: Literal["set_manual_mode"] = "set_manual_mode"
    payload: SetManualModePayload


class NewSession(Envelope):
    type: Literal["new_session"] = "new_session"
    payload: EmptyPayload = Field(default_factory=EmptyPayload)


class ToolCallPayload(Payload):
    tool: Annotated[str, Field(min_length=1)]
    args: dict[str, Any] = Field(default_factory=dict)


class ToolCall(Envelope):
    type: Literal["tool_call"] = "tool_call"
    payload: ToolCallPayload


class SessionContextPayload(Payload):
    turns: list[Any] = Field(default_factory=list)
    session_id: str | None = None  # ours: resume a stored conversation


class SessionContext(Envelope):
    type: Literal["session_context"] = "session_context"
    payload: SessionContextPayload


class DeviceControlPayload(Payload):
    action: Annotated[str, Field(min_length=1)]


class DeviceControl(Envelope):
    type: Literal["device_control"] = "device_control"
    payload: DeviceControlPayload


class AwayModeStatusQuery(Envelope):
    type: Literal["away_mode_status"] = "away_mode_status"
    payload: EmptyPayload = Field(default_factory=EmptyPayload)


class AwayModeEngage(Envelope):
    type: Literal["away_mode_engage"] = "away_mode_engage"
    payload: EmptyPayload = Field(default_factory=EmptyPayload)


class AwayModeDisengage(Envelope):
    type: Literal["away_mode_disengage"] = "away_mode_disengage"
    payload: EmptyPayload = Field(default_factory=EmptyPayload)


class KeepalivePayload(Payload):
    # Ours: set when the keepalive answers one from the other side; an answer is never answered again.
    ref_id: str | None = None


class Keepalive(Envelope):
    """Both directions: a heartbeat, and the answer to one (with ``ref_id``)."""

    type: Literal["keepalive"] = "keepalive"
    payload: KeepalivePayload = Field(default_factory=KeepalivePayload)


PhoneMessage: TypeAlias = Annotated[
    UserIntent
    | AgentConfirmationResponse
    | ExecutionStop
    | ManualControl
    | SetManualMode
    | NewSession
    | ToolCall
    | SessionContext
    | DeviceControl
    | AwayModeStatusQuery
    | AwayModeEngage
    | AwayModeDisengage
    | Keepalive,
    Field(discriminator="type"),
]

# --- server → phone --------------------------------------------------------------------------------------------


class AgentProgressPayload(Payload):
    step: int
    tool: str = ""
    detail: str = ""
    status: Literal["running", "completed", "failed", "cancelled"] = "running"  # ours: cancelled (stopped mid-step)
    model: str | None = None
    backend: str | None = None


class AgentProgress(Envelope):
    type: Literal["agent_progress"] = "agent_progress"
    payload: AgentProgressPayload


class AgentResultPayload(Payload):
    answer: str
    steps_taken: int = 0
    duration_ms: int = 0
    model: str | None = None
    backend: str | None = None
    session_id: str | None = None  # ours
    tool_summary: dict[str, dict[str, int]] = Field(default_factory=dict)  # ours: tool → status → count
    ref_id: str | None = None  # the user_intent it answers


class AgentResult(Envelope):
    type: Literal["agent_result"] = "agent_result"
    payload: AgentResultPayload


class ConfirmationRequestPayload(Payload):
    tool: str
    command: str = ""
    reason: str = ""
    voice_message: str = ""
    timeout_s: float | None = None  # ours: how long the desktop waits for the answer, for the phone's countdown


class AgentConfirmationRequest(Envelope):
    """The phone answers with ``agent_confirmation_response`` whose ``request_id`` is this message's ``id``."""

    type: Literal["agent_confirmation_request"] = "agent_confirmation_request"
    payload: ConfirmationRequestPayload


AiState = Literal["idle", "listening", "processing", "executing", "manual"]


class DeskBusy(Payload):
    device: str  # the name the desktop knows the device by (what it sent when it paired)


class StateUpdatePayload(Payload):
    ai_state: str = "idle"
    connection_type: Literal["permanent", "temp"] = "permanent"
    keep_host_awake: bool = False
    # ours: another device's task runs on this desktop (None when none runs, or when the run is this phone's own)
    desk_busy: DeskBusy | None = None


class StateUpdate(Envelope):
    type: Literal["state_update"] = "state_update"
    payload: StateUpdatePayload


class AgentStatusPayload(Payload):
    # vision_fallback, sandbox_fallback, model_error; ours: connection_warning, confirmation_expired
    status_type: str
    message: str = ""
    ref_id: str | None = None  # ours: the tool call or confirmation request it is about


class AgentStatus(Envelope):
    type: Literal["agent_status"] = "agent_status"
    payload: AgentStatusPayload


class AwayModeStatusPayload(Payload):
    away_mode: bool
    overlay_active: bool = False
    ref_id: str | None = None


class AwayModeStatus(Envelope):
    type: Literal["away_mode_status"] = "away_mode_status"
    payload: AwayModeStatusPayload


class ToolResultPayload(Payload):
    tool: str
    status: str
    stdout: str | None = None
    duration_ms: int = 0
    ref_id: str | None = None


class ToolResult(Envelope):
    type: Literal["tool_result"] = "tool_result"
    payload: ToolResultPayload


class DeviceControlResultPayload(Payload):
    action: str
    status: str
    ref_id: str | None = None


class DeviceControlResult(Envelope):
    type: Literal["device_control_result"] = "device_control_result"
    payload: DeviceControlResultPayload


class SecurityAlertPayload(Payload):
    reason: str
    message: str = ""


class SecurityAlert(Envelope):
    type: Literal["security_alert"] = "security_alert"
    payload: SecurityAlertPayload


class TextPayload(Payload):
    text: str


class AgentThinking(Envelope):
    type: Literal["agent_thinking"] = "agent_thinking"
    payload: TextPayload


class AgentText(Envelope):
    type: Literal["agent_text"] = "agent_text"
    payload: TextPayload


class ErrorPayload(Payload):
    code: ErrorCode
    message: str
    ref_id: str | None = None


class Error(Envelope):
    type: Literal["error"] = "error"
    payload: ErrorPayload

    @classmethod
    def reply(cls, code: ErrorCode, message: str, ref_id: str | None = None) -> Error:
        return cls(payload=ErrorPayload(code=code, message=message, ref_id=ref_id))


ServerMessage: TypeAlias = Annotated[
    AgentProgress
    | AgentResult
    | AgentConfirmationRequest
    | StateUpdate
    | AgentStatus
    | AwayModeStatus
    | ToolResult
    | DeviceControlResult
    | SecurityAlert
    | AgentThinking
    | AgentText
    | Keepalive
    | Error,
    Field(discriminator="type"),
]


def _by_type(*models: type[Envelope]) -> dict[str, type[Envelope]]:
    return {m.model_fields["type"].default: m for m in models}


PHONE_MESSAGES: dict[str, type[Envelope]] = _by_type(
    UserIntent, AgentConfirmationResponse, ExecutionStop, ManualControl, SetManualMode, NewSession, ToolCall,
    SessionContext, DeviceControl, AwayModeStatusQuery, AwayModeEngage, AwayModeDisengage, Keepalive,
)  # fmt: skip
SERVER_MESSAGES: dict[str, type[Envelope]] = _by_type(
    AgentProgress, AgentResult, AgentConfirmationRequest, StateUpdate, AgentStatus, AwayModeStatus, ToolResult,
    DeviceControlResult, SecurityAlert, AgentThinking, AgentText, Keepalive, Error,
)  # fmt: skip

# Which channel a message may arrive on; everything is allowed on the reliable one.
FAST_CHANNEL_TYPES: frozenset[str] = frozenset({"manual_control"})


class GenericMessage(Envelope):
    """A well-formed envelope of a type this side does not know (kept by clients for forward compatibility)."""

    payload: Payload = Field(default_factory=EmptyPayload)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class InvalidMessage(ValueError):
    """Why a message was refused, with the ``error`` code and the request's id when it had a usable one.

    ``pointer_move`` says the message was a ``manual_control`` ``mouse_move``: its error is one of a stream that
    the receiver answers at most once a second.
    """

    def __init__(self, code: ErrorCode, message: str, ref_id: str | None = None, *, pointer_move: bool = False) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.ref_id = ref_id
        self.pointer_move = pointer_move

    def to_error(self) -> Error:
        return Error.reply(self.code, self.message, self.ref_id)


# No message or request body of ours nests deeper than a few levels; a deeper one would reach Python's recursion
# limit in the decoder, the validation or the encoder that saves it.
MAX_JSON_DEPTH = 64
TOO_DEEP = f"message is nested too deeply (more than {MAX_JSON_DEPTH} levels)"

# The max-message-size our SDP answer announces (aiortc's LOCAL_MAX_MESSAGE_SIZE). A peer may ignore it, and SCTP
# hands us whatever it reassembled, so a bigger phone message is refused without being decoded.
MAX_PHONE_MESSAGE_BYTES = 262144
TOO_BIG = f"message is bigger than {MAX_PHONE_MESSAGE_BYTES} bytes (256 KiB), the most the desktop accepts"

# A message that is not decoded as a whole (too big, too deep, broken) still names its id in its first few hundred
# characters: every envelope puts "id" right after "type". Only this much of its start is looked at.
ID_SCAN_CHARS = 4096
_TOKEN = re.compile(r'\s*("[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+)', re.DOTALL)
_OPENERS = ("{", "[")
_CLOSERS = ("}", "]")


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether decoded JSON nests objects and arrays more than ``limit`` levels deep (iterative: any depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _json_string(part: str) -> str | None:
    try:
        value = json.loads(part)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def leading_id(raw: str | bytes) -> str | None:
    """The usable top-level ``"id"`` of a JSON object, read from its first ``ID_SCAN_CHARS`` characters only.

    For the error about a message that is not decoded as a whole: the work is bounded whatever the message's size
    or depth. Nested values are skipped (an ``"id"`` inside the payload is not the message's). None when the id
    is not within that start, or the start is not the beginning of an object.
    """
    text = raw[:ID_SCAN_CHARS].decode("utf-8", "ignore") if isinstance(raw, bytes) else raw[:ID_SCAN_CHARS]
    depth = pos = 0
    expect, key = "{", None
    while (match := _TOKEN.match(text, pos)) is not None:
        pos, part = match.end(), match.group(1)
        if depth > 1:  # inside a nested value: only where it ends matters
            depth += (part in _OPENERS) - (part in _CLOSERS)
        elif expect == "{":
            if part != "{":
                return None
            depth, expect = 1, "key"
        elif expect == "key":
            key, expect = (_json_string(part) if part.startswith('"') else None), ":"
            if key is None:
                return None
        elif expect == ":":
            if part != ":":
                return None
            expect = "value"
        elif expect == "value":
            if key == "id":
                value = _json_string(part) if part.startswith('"') else None
                return value if value and len(value) <= MAX_ID_LENGTH else None
            if part in _CLOSERS:
                return None
            depth += part in _OPENERS
            expect = ","
        elif part != ",":  # expect == ",": the object ended (or broke) without an id
            return None
        else:
            expect = "key"
    return None


def _bigger_than(raw: str | bytes, limit: int) -> bool:
    """Whether ``raw`` takes more than ``limit`` bytes as UTF-8, encoding it only when its length cannot tell."""
    if len(raw) > limit:
        return True
    if isinstance(raw, bytes) or len(raw) * 4 <= limit or raw.isascii():
        return False
    return len(raw.encode("utf-8", "surrogatepass")) > limit


def _is_pointer_move(kind: object, payload: object) -> bool:
    return kind == "manual_control" and isinstance(payload, dict) and payload.get("action") == "mouse_move"


def is_pointer_move(message: Envelope) -> bool:
    """Whether ``message`` is a ``manual_control`` ``mouse_move`` (one of a stream, superseded by the next)."""
    return message.type == "manual_control" and getattr(message.payload, "action", None) == "mouse_move"


def _not_taken(kind: str, only: frozenset[str], models: dict[str, type[Envelope]]) -> str:
    if kind in models:
        return f"{kind} must be sent on the reliable channel {RELIABLE!r}, not on {FAST!r}"
    return f"{FAST!r} takes {', '.join(sorted(only))} only, not {kind!r}"


def _parse(
    raw: str | bytes,
    models: dict[str, type[Envelope]],
    *,
    lenient: bool,
    only: frozenset[str] | None = None,
    max_bytes: int | None = None,
) -> Envelope:
    """Decode and validate one message; raises ``InvalidMessage`` saying exactly what is wrong.

    ``only`` limits the types taken (the channel's), checked before the payload is; ``max_bytes`` refuses a bigger
    message before it is decoded.
    """
    if max_bytes is not None and _bigger_than(raw, max_bytes):
        raise InvalidMessage("invalid_message", TOO_BIG, leading_id(raw))
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMessage("invalid_message", "message is not UTF-8 text") from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InvalidMessage("invalid_message", TOO_DEEP, leading_id(raw)) from None
    except ValueError as exc:
        raise InvalidMessage("invalid_message", f"message is not valid JSON ({exc})", leading_id(raw)) from None
    msg_id = data.get("id") if isinstance(data, dict) else None
    ref_id = msg_id if isinstance(msg_id, str) and 0 < len(msg_id) <= MAX_ID_LENGTH else None
    deep = raw.count("{") + raw.count("[") > MAX_JSON_DEPTH  # cheap: most messages cannot nest that deep at all
    if deep and nested_deeper_than(data, MAX_JSON_DEPTH):  # validating or storing it would reach the recursion limit
        raise InvalidMessage("invalid_message", TOO_DEEP, ref_id)
    if not isinstance(data, dict):
        raise InvalidMessage("invalid_message", f"message must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidMessage("invalid_message", "message lacks a string 'type'", ref_id)
    if ref_id is None:
        what = "lacks 'id'" if msg_id is None else f"has an invalid 'id' (need a string of 1-{MAX_ID_LENGTH} chars)"
        raise InvalidMessage("invalid_message", f"message {what}")
    if only is not None and kind not in only:
        raise InvalidMessage("invalid_message", _not_taken(kind, only, models), ref_id)
    if "payload" not in data:
        raise InvalidMessage("invalid_message", "message lacks 'payload' (send {} when there is nothing)", ref_id)
    if not isinstance(data["payload"], dict):
        raise InvalidMessage("invalid_payload", "payload must be a JSON object", ref_id)
    model = models.get(kind)
    if model is None:
        if lenient:
            return GenericMessage(type=kind, id=ref_id, payload=Payload.model_validate(data["payload"]))
        raise InvalidMessage("unknown_type", f"unknown message type {kind!r}", ref_id)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        move = _is_pointer_move(kind, data["payload"])
        raise InvalidMessage("invalid_payload", f"bad {kind}: {_describe(exc)}", ref_id, pointer_move=move) from None


def read_phone_message(raw: str | bytes, channel: Channel = RELIABLE) -> Envelope:
    """A phone → server message that came on ``channel``, as its typed model; raises ``InvalidMessage``.

    ``contop-fast`` takes only ``FAST_CHANNEL_TYPES``; any other type there is ``invalid_message`` whatever its
    payload. A message over ``MAX_PHONE_MESSAGE_BYTES`` is refused unread.
    """
    only = FAST_CHANNEL_TYPES if channel == FAST else None
    return _parse(raw, PHONE_MESSAGES, lenient=False, only=only, max_bytes=MAX_PHONE_MESSAGE_BYTES)


def parse_phone_message(raw: str | bytes, channel: Channel = RELIABLE) -> Envelope:
    """A phone → server message as its typed model, or the ``Error`` reply to send back for a bad one."""
    try:
        return read_phone_message(raw, channel)
    except InvalidMessage as exc:
        return exc.to_error()


def parse_server_message(raw: str | bytes) -> Envelope:
    """A server → phone message: typed when known, ``GenericMessage`` for a newer type; raises ``InvalidMessage``."""
    return _parse(raw, SERVER_MESSAGES, lenient=True)
