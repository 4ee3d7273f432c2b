"""``WS /ws/echo``: a plain WebSocket echo served by the server itself, the transport benchmark's baseline.

A data-channel round trip is judged against a WebSocket round trip to the same process, so that both go through
the same event loop under the same load. Mounted only when the server starts with ``CONTOP_BENCH_ECHO=1``, it
answers loopback clients only (not the tunnel's) and does nothing but send back each text message (64 KiB at most).
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

ENV = "CONTOP_BENCH_ECHO"
MAX_MESSAGE = 64 * 1024
_LOOPBACK = frozenset({"127.0.0.1", "::1"})

router = APIRouter()


@router.websocket("/ws/echo")
async def echo(websocket: WebSocket) -> None:
    local = websocket.client is not None and websocket.client.host in _LOOPBACK
    if not local or "cf-connecting-ip" in websocket.headers:  # nor forwarded by the remote access tunnel
        await websocket.close(code=4003, reason="loopback only")
        return
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            if len(text) > MAX_MESSAGE:
                await websocket.close(code=1009, reason="message too big")
                return
            await websocket.send_text(text)
    except WebSocketDisconnect:
        return
