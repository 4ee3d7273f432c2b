"""Frames the signaling protocol has no place for (binary, or past the server's 16 MiB frame limit), before and
after the connection is up: the phone is told why (when the socket still carries words), nothing crashes, and an
established peer carries on."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from contop.client import ContopClient
from contop.core.messages import Keepalive
from contop.testing.server import ServerProcess
from tests.transport.conftest import devices, pair

pytestmark = pytest.mark.slow

TOO_BIG = "x" * (17 * 1024 * 1024)  # past uvicorn's ws_max_size (16 MiB): uvicorn closes the socket itself (1009)


def assert_no_crash(server: ServerProcess) -> None:
    log = server.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]


async def first_frame(server: ServerProcess, token: str, frame: str | bytes) -> tuple[list[dict[str, object]], int]:
    url = f"ws://127.0.0.1:{server.port}/ws/signaling?token={token}"
    messages = []
    async with websockets.connect(url, open_timeout=5, max_size=None) as ws:
        await ws.send(frame)
        try:
            async for raw in ws:
                messages.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        assert ws.close_code is not None
        return messages, ws.close_code


@pytest.mark.parametrize(("frame", "close"), [(b"\x00\x01binary", 1008), (TOO_BIG, 1009)], ids=["binary", "huge"])
async def test_an_odd_first_frame_is_refused_without_a_crash(
    server: ServerProcess, frame: str | bytes, close: int
) -> None:
    pairing = pair(server)
    messages, close_code = await first_frame(server, pairing["token"], frame)
    assert close_code == close
    if isinstance(frame, bytes):
        assert [(m["type"], m["code"]) for m in messages] == [("error", "invalid_message")]
        assert "binary" in str(messages[0]["message"])
    await asyncio.sleep(0.3)
    assert_no_crash(server)
    assert server.request("GET", "/api/pair/status").json()["claimed"] is False
    async with ContopClient(pairing["url"], device_id="phone-after") as client:  # the code still pairs the phone
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"


@pytest.mark.parametrize(("frame", "close"), [(b"\x00\x01binary", 1008), (TOO_BIG, 1009)], ids=["binary", "huge"])
async def test_an_odd_frame_after_the_connection_leaves_the_peer_up(
    server: ServerProcess, frame: str | bytes, close: int
) -> None:
    async with ContopClient(pair(server)["url"], device_id="phone-k", keep_signaling=True) as client:
        await client.ws.send(frame)
        await asyncio.wait_for(client.ws.wait_closed(), 10)
        await asyncio.sleep(0.2)
        assert client.signaling_close is not None and client.signaling_close[0] == close, client.signaling_close
        got = []
        while not client.signaling_messages.empty():
            got.append(client.signaling_messages.get_nowait())
        if isinstance(frame, bytes):
            errors = [m for m in got if m["type"] == "error"]
            assert [m["code"] for m in errors] == ["invalid_message"] and "binary" in errors[0]["message"], got
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"
        assert devices(server)["devices"][0]["connected"] is True
    assert_no_crash(server)


async def test_deeply_nested_json_after_the_connection_is_an_error_and_the_peer_stays(server: ServerProcess) -> None:
    """A nesting too deep for the JSON parser (RecursionError, not ValueError) on the kept signaling socket: the
    phone is told, nothing crashes, and the peer carries on."""
    async with ContopClient(pair(server)["url"], device_id="phone-deep", keep_signaling=True) as client:
        await client.ws.send("[" * 100_000 + "]" * 100_000)
        deadline = asyncio.get_running_loop().time() + 10
        errors: list[dict[str, object]] = []
        while not errors and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            while not client.signaling_messages.empty():
                message = client.signaling_messages.get_nowait()
                if message["type"] == "error":
                    errors.append(message)
        assert [m["code"] for m in errors] == ["invalid_message"], errors
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"
    assert_no_crash(server)
