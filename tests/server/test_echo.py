"""``WS /ws/echo``, the transport benchmark's same-server baseline: only when asked for, only from loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contop.server.routes.echo import ENV, MAX_MESSAGE
from contop.testing.server import ServerProcess


def _ws_url(server: ServerProcess) -> str:
    return server.base_url.replace("http://", "ws://", 1) + "/ws/echo"


async def test_a_normal_server_has_no_echo(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(_ws_url(server)):
            pass
    assert refused.value.response.status_code in (403, 404)


async def test_the_bench_server_echoes_text_and_refuses_oversized_messages(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", env={ENV: "1"}).start()
    try:
        async with websockets.connect(_ws_url(server), compression=None) as ws:
            for text in ("x" * 100, "é ✓", "{}"):
                await ws.send(text)
                assert await ws.recv() == text
            await ws.send("y" * (MAX_MESSAGE + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert server.proc is not None and server.proc.poll() is None  # the server carries on
        with pytest.raises(InvalidStatus) as refused:  # what the remote access tunnel forwards
            async with websockets.connect(_ws_url(server), additional_headers={"CF-Connecting-IP": "203.0.113.9"}):
                pass
        assert refused.value.response.status_code == 403
    finally:
        server.stop()
