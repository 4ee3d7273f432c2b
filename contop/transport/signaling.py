"""The WebRTC negotiation on an authenticated signaling socket (CONTRACTS.md §5).

The server route has already checked the token and read the offer; here we answer it (complete SDP, then
``candidate: null`` since every host candidate is in the SDP), apply the phone's trickled candidates and
``device_location`` updates, and return when the phone closes the socket. The peer outlives the socket.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from contop.transport.manager import SEND_AS_CREATED, SessionManager, ShuttingDown

log = logging.getLogger(__name__)

MAX_SIGNALING_MESSAGE = 256 * 1024
BINARY_FRAME = "signaling messages are JSON text; binary frames are not accepted"
POLICY_VIOLATION = 1008
SERVICE_RESTART = 1012  # RFC 6455 close codes
INTERNAL_ERROR = 1011


class SignalingSocket(Protocol):
    """The parts of Starlette's ``WebSocket`` we use (so tests can drive this without a server)."""

    async def send_text(self, data: str) -> None: ...

    async def receive(self) -> Mapping[str, Any]: ...  # an ASGI message: a text or binary frame, or a disconnect

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def offer_problem(offer: dict[str, Any]) -> tuple[str, str] | None:
    """Why an offer cannot be answered, as (error code, message), or None when it looks answerable.

    Checked before the pairing code is claimed: an offer that could never connect must not use up the code (the
    phone it was meant for would then be refused as "already claimed").
    """
    sdp = offer.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        return "invalid_message", "the offer has no sdp"
    try:
        media = _parse_sdp(sdp).media
    except Exception:  # aiortc's parser raises whatever the text trips it on: a phone is told where, in words
        log.debug("unreadable SDP in an offer", exc_info=True)
        return "invalid_offer", f"the offer's SDP cannot be read {_unreadable_line(sdp)}: {SEND_AS_CREATED}"
    if not any(m.kind == "application" for m in media):
        return "invalid_offer", "the offer has no data-channel section (m=application); create the channels first"
    lines = sdp.replace("\r\n", "\n").split("\n")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        return "invalid_offer", "the offer has no ICE credentials (a=ice-ufrag, a=ice-pwd)"
    if not any(line.startswith("a=fingerprint:") for line in lines):
        return "invalid_offer", "the offer has no DTLS fingerprint (a=fingerprint)"
    return None


def _parse_sdp(sdp: str) -> Any:
    from aiortc.sdp import SessionDescription

    return SessionDescription.parse(sdp)


def _unreadable_line(sdp: str) -> str:
    """Where an SDP the parser refuses stops being readable, as "at line N ('…')": the first line whose addition
    to the lines before it makes the parse fail (found by bisection; the empty SDP parses)."""
    lines = sdp.splitlines()
    good, bad = 0, len(lines)
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            _parse_sdp("\r\n".join(lines[:middle]))
        except Exception:
            bad = middle
        else:
            good = middle
    return f"at line {bad} ({lines[bad - 1][:80]!r})"


async def _send(ws: SignalingSocket, message: dict[str, Any]) -> None:
    await ws.send_text(json.dumps(message))


async def negotiate(
    ws: SignalingSocket,
    offer: dict[str, Any],
    *,
    manager: SessionManager,
    device_id: str,
    device_name: str,
    connection_type: str,
    path: Any,
    set_location: Callable[[dict[str, Any]], None],
    disconnect_errors: tuple[type[BaseException], ...] = (),
) -> None:
    sdp = offer.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        await _send(ws, {"type": "error", "code": "invalid_message", "message": "the offer has no sdp"})
        await ws.close(code=POLICY_VIOLATION, reason="offer without sdp")
        return
    try:
        session, answer = await manager.connect(
            sdp,
            device_id=device_id,
            device_name=device_name,
            connection_type=connection_type,
            path=path,
            signaling=ws,
        )
    except ValueError as exc:
        log.info("offer from %s refused: %s", device_id, exc)
        await _send(ws, {"type": "error", "code": "invalid_offer", "message": str(exc)[:300]})
        await ws.close(code=POLICY_VIOLATION, reason="invalid offer")
        return
    except ShuttingDown as exc:  # the phone retries, and reaches the next server
        await _send(ws, {"type": "error", "code": "shutting_down", "message": f"{exc}; try again in a moment"})
        await ws.close(code=SERVICE_RESTART, reason="the desktop server is shutting down")
        return
    except Exception:
        log.exception("answering the offer of %s failed", device_id)
        await _send(ws, {"type": "error", "code": "internal", "message": "the desktop could not answer the offer"})
        await ws.close(code=INTERNAL_ERROR, reason="the desktop could not answer the offer")
        return
    try:
        await _send(ws, {"type": "answer", "sdp": answer})
        await _send(ws, {"type": "ice_candidate", "candidate": None})
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":  # also uvicorn's own close, for a frame past its limit
                break
            text = message.get("text")
            if not isinstance(text, str):
                await _send(ws, {"type": "error", "code": "invalid_message", "message": BINARY_FRAME})
                await ws.close(code=POLICY_VIOLATION, reason="binary frame")
                break
            await _handle(ws, text, session.peer, set_location)
    except disconnect_errors:
        pass  # the phone closes signaling once connected; the peer stays up
    finally:
        if session.signaling is ws:
            session.signaling = None


async def _handle(ws: SignalingSocket, text: str, peer: Any, set_location: Callable[[dict[str, Any]], None]) -> None:
    if len(text) > MAX_SIGNALING_MESSAGE:
        await _send(ws, {"type": "error", "code": "invalid_message", "message": "signaling message too large"})
        return
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        await _send(ws, {"type": "error", "code": "invalid_message", "message": "signaling message is not JSON"})
        return
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "ice_candidate":
        candidate = data.get("candidate")
        if candidate is not None and not isinstance(candidate, dict):
            await _send(ws, {"type": "error", "code": "invalid_message", "message": "candidate must be an object"})
            return
        try:
            if peer is not None:
                await peer.add_candidate(candidate)
        except ValueError as exc:
            await _send(ws, {"type": "error", "code": "invalid_message", "message": str(exc)[:300]})
    elif kind == "device_location":
        location = data.get("location")
        try:
            if not isinstance(location, dict):
                raise ValueError("location must be an object")
            set_location(location)
        except ValueError as exc:
            await _send(ws, {"type": "error", "code": "invalid_message", "message": str(exc)[:300]})
    else:
        await _send(ws, {"type": "error", "code": "invalid_message", "message": f"unexpected message {kind!r}"})
