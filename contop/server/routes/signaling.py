"""``WS /ws/signaling?token=T``: the pairing-token gate in front of the WebRTC negotiation (CONTRACTS.md §5).

This module authenticates (rate limit, token, claim by device) and hands the socket to the transport's
handler; the SDP/ICE exchange itself belongs to ``contop.transport``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from enum import IntEnum
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from contop.server.network import OwnOrigins, attempt_address, refusal_hint
from contop.server.pairing import DEVICE_ID_PATTERN, AuthFailure, TokenRefused
from contop.server.state import ServerState

log = logging.getLogger(__name__)
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
router = APIRouter()

FIRST_MESSAGE_TIMEOUT = 15.0
MAX_SIGNALING_MESSAGE = 256 * 1024
BINARY_FRAME = "signaling messages are JSON text; binary frames are not accepted"
CLAIM_PERSIST_TIMEOUT_S = 5.0  # how long a connecting phone waits for the disk to record its claim


class CloseCode(IntEnum):
    INVALID_TOKEN = 4001
    REPLACED = 4002
    CLAIMED = 4003
    RATE_LIMITED = 4029
    POLICY = 1008
    TRY_LATER = 1013


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    """Close unless either side has: after the client's close (or uvicorn's, for a frame past its size limit) the
    ASGI server refuses a second one."""
    if WebSocketState.DISCONNECTED not in (ws.application_state, ws.client_state):
        await ws.close(code=code, reason=reason[:120])


async def send_error(ws: WebSocket, code: str, message: str) -> None:
    await ws.send_text(json.dumps({"type": "error", "code": code, "message": message}))


async def receive_json(ws: WebSocket) -> dict[str, Any] | None:
    """One JSON object from the socket, or None (after telling the client why) when it is not one."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if not isinstance(text, str):
        await send_error(ws, "invalid_message", BINARY_FRAME)
        return None
    if len(text) > MAX_SIGNALING_MESSAGE:
        await send_error(ws, "invalid_message", "signaling message too large")
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: arrays or objects nested thousands deep
        await send_error(ws, "invalid_message", "signaling message is not valid JSON")
        return None
    if not isinstance(data, dict):
        await send_error(ws, "invalid_message", "signaling message must be a JSON object")
        return None
    return data


async def _foreign_origin(ws: WebSocket, state: ServerState) -> str | None:
    """The ``Origin`` of a browser page that is not this server's phone app; None for the app, and for native
    clients (aiortc, ``contop run``), which send none."""
    origin = ws.headers.get("origin")
    if origin is None:
        return None
    own: OwnOrigins = ws.app.state.own_origins
    arrived_at = ws.scope.get("server")
    if await own.allowed(origin, state.config.port, state.tunnel.host, arrived_at[0] if arrived_at else None):
        return None
    return origin


@router.websocket("/ws/signaling")
async def signaling(ws: WebSocket) -> None:
    state: ServerState = ws.app.state.contop
    # Before the token and the rate limiter: any web page the phone opens could otherwise try bad tokens from the
    # phone's address until the phone itself is locked out. Refused before accept, the browser sees HTTP 403 (its
    # page gets 1006 and no reason); the body says what to do to whoever looks (developer tools, curl). The log
    # names each origin once, with the same advice (OwnOrigins.report_refusal).
    if (origin := await _foreign_origin(ws, state)) is not None:
        log.debug("signaling refused: a page at %r is not this server's phone app", origin[:200])
        hint = refusal_hint(origin, state.config.port)
        if "websocket.http.response" in ws.scope.get("extensions", {}):
            await ws.send_denial_response(PlainTextResponse(f"signaling refused for this page: {hint}\n", 403))
        else:
            await ws.close(code=CloseCode.POLICY)
        return
    address = attempt_address(ws.client.host if ws.client else None, ws.headers, state.tunnel.host)
    token = ws.query_params.get("token", "")
    await ws.accept()
    wait = state.rate_limiter.retry_after(address)
    if wait > 0:
        await _close(ws, CloseCode.RATE_LIMITED, f"too many failed attempts; retry in {int(wait) + 1} s")
        return
    try:
        state.pairing.tokens.validate(token)
    except TokenRefused as exc:
        state.rate_limiter.record_failure(address)
        log.info("signaling refused for %s: %s", address, exc)
        await _close(ws, CloseCode.INVALID_TOKEN, str(exc))
        return
    try:
        async with asyncio.timeout(FIRST_MESSAGE_TIMEOUT):
            offer = await receive_json(ws)
    except (TimeoutError, WebSocketDisconnect):
        await _close(ws, CloseCode.POLICY, "no offer received")
        return
    if offer is None:
        await _close(ws, CloseCode.POLICY, "invalid first message")
        return
    device_id = offer.get("device_id")
    if offer.get("type") != "offer" or not isinstance(device_id, str):
        await send_error(ws, "invalid_message", "the first message must be an offer with a device_id")
        await _close(ws, CloseCode.POLICY, "expected an offer")
        return
    if not _DEVICE_ID.fullmatch(device_id):
        await send_error(
            ws, "invalid_message", "device_id must be 1 to 128 letters, digits, '.', '_', ':' or '-' (a UUID will do)"
        )
        await _close(ws, CloseCode.POLICY, "bad device_id")
        return
    from contop.transport.signaling import offer_problem

    problem = offer_problem(offer)
    if problem is not None:  # before the claim: an offer that cannot connect does not use up the code
        await send_error(ws, *problem)
        await _close(ws, CloseCode.POLICY, "invalid offer")
        return
    name = offer.get("device_name")
    kind = offer.get("connection_type")
    try:
        tok, device = state.pairing.claim(
            token,
            device_id=device_id,
            device_name=name if isinstance(name, str) else "",  # made fit to show by the device registry
            connection_type="temp" if kind == "temp" else None,
        )
    except TokenRefused as exc:
        state.rate_limiter.record_failure(address)
        code = CloseCode.CLAIMED if exc.failure is AuthFailure.CLAIMED else CloseCode.INVALID_TOKEN
        await _close(ws, code, str(exc))
        return
    # the binding of a permanent code to this device survives a crash from here on (another holder of the QR
    # could claim it otherwise); the write runs in a thread, so other phones are answered meanwhile. A disk that
    # refuses the write (the writer logs it), or stalls, does not refuse the phone: the pairing holds while the
    # server runs.
    if tok.connection_type == "permanent" or kind == "temp":  # a downgrade takes the code off the disk
        with contextlib.suppress(Exception):
            await state.pairing.persisted(timeout=CLAIM_PERSIST_TIMEOUT_S)
    location = offer.get("device_location")
    if isinstance(location, dict):
        try:
            state.pairing.devices.set_location(device_id, location)
        except ValueError as exc:  # the connection goes on without it (an error here would end the phone's connect)
            log.warning("device %s: its location is not kept: %s", device_id, exc)
    handler = state.signaling_handler
    if handler is None:
        await send_error(ws, "not_available", "WebRTC transport not available yet in this build")
        await _close(ws, CloseCode.TRY_LATER, "transport not available")
        return
    await handler(ws, offer, tok, device)
