"""Edges of the data-channel protocol with real peers: errors for bad messages on ``contop-fast``, messages nested
too deeply or bigger than the announced max-message-size, and the bounded reading of an id from a message's start."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiortc.rtcsctptransport import LOCAL_MAX_MESSAGE_SIZE

from contop.client import ContopClient
from contop.core.messages import (
    FAST,
    ID_SCAN_CHARS,
    MAX_PHONE_MESSAGE_BYTES,
    RELIABLE,
    Envelope,
    Error,
    InvalidMessage,
    Keepalive,
    leading_id,
    parse_phone_message,
    read_phone_message,
)
from contop.testing.server import ServerProcess
from contop.transport.session import Session
from tests.transport.conftest import LocalServer, pair

pytestmark = pytest.mark.slow


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


async def _errors_for(client: ContopClient, ref_ids: set[str], timeout: float = 5.0) -> dict[str, Error]:
    """The ``error`` replies to ``ref_ids`` that arrive within ``timeout`` (fewer when some never come)."""
    got: dict[str, Error] = {}
    try:
        async with asyncio.timeout(timeout):
            async for message in client.messages():
                if isinstance(message, Error) and message.payload.ref_id in ref_ids:
                    got[message.payload.ref_id] = message
                    if len(got) == len(ref_ids):
                        break
    except TimeoutError:
        pass
    return got


def _record(server: LocalServer, message_type: str) -> list[Envelope]:
    """Register a handler for ``message_type`` that only records what reaches it."""
    ran: list[Envelope] = []

    async def record(session: Session, message: Envelope) -> None:
        ran.append(message)

    assert server.state.sessions is not None
    server.state.sessions.router.register(message_type, record, replace=True)
    return ran


def _unlimited(client: ContopClient, channel: str) -> Any:
    """The client's raw data channel with its send-side size check off: a peer that ignores our limit."""
    dc = client.channels[channel]
    dc.transport._remote_max_message_size = 0  # aiortc: 0 is "no limit"
    return dc


# --- contop-fast: every bad message gets its own error --------------------------------------------------------

FAST_BAD = {
    "tool_call": lambda n: json.dumps({"type": "tool_call", "id": n, "payload": {"tool": "execute_cli"}}),
    "unknown_type": lambda n: json.dumps({"type": "no_such_type", "id": n, "payload": {}}),
    "invalid_json": lambda n: f'{{"type":"tool_call","id":"{n}","payload":{{"tool":',
}


@pytest.mark.parametrize("kind", sorted(FAST_BAD))
async def test_every_bad_message_on_the_fast_channel_gets_its_error(local_server: LocalServer, kind: str) -> None:
    """README: anything but manual_control on contop-fast gets error invalid_message, each with its ref_id (only
    failed mouse_moves are answered at most once a second)."""
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id=f"phone-{kind}") as client:
        on_fast: list[str] = []
        client.channels[FAST].on("message", on_fast.append)
        ids = {f"{kind}-{n}" for n in range(5)}
        for ref in sorted(ids):
            client.send(FAST_BAD[kind](ref), FAST)
            await asyncio.sleep(0.05)
        errors = await _errors_for(client, ids)
        assert set(errors) == ids
        assert {e.payload.code for e in errors.values()} == {"invalid_message"}
        assert len(on_fast) == 5  # answered on the channel they came on
        if kind == "tool_call":
            assert all("reliable channel 'contop'" in e.payload.message for e in errors.values())


async def test_failed_presses_on_the_fast_channel_each_get_an_error_and_moves_one_a_second(
    local_server: LocalServer,
) -> None:
    """The seed sends mouse_down and mouse_up on contop-fast: a bad one is answered every time. A stream of bad
    mouse_moves gets one error per second."""
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-press") as client:
        moves = {f"move-{n}" for n in range(30)}
        for ref in sorted(moves):  # strict payloads: a string coordinate is refused
            client.send({"type": "manual_control", "id": ref, "payload": {"action": "mouse_move", "x": "1"}}, FAST)
        presses = {f"press-{n}" for n in range(5)}
        for ref in sorted(presses):
            client.send({"type": "manual_control", "id": ref, "payload": {"action": "mouse_down", "x": "1"}}, FAST)
            await asyncio.sleep(0.05)
        errors = await _errors_for(client, presses | moves, timeout=3)
        assert presses <= set(errors)
        assert {e.payload.code for e in errors.values()} == {"invalid_payload"}
        assert 1 <= len(set(errors) & moves) <= 2


async def test_a_flood_of_bad_messages_on_the_fast_channel_does_not_hold_up_the_reliable_one(
    server: ServerProcess,
) -> None:
    """The errors go back on contop-fast, whose writer drops what finds its buffer full: 10,000 bad messages get
    a share of errors, and the reliable channel answers as soon as the phone's own flood has left (a server in its
    own process: in the test's loop the client's flood would compete with the server)."""
    url = pair(server)["url"]
    async with ContopClient(url, device_id="phone-flood") as client:
        on_fast: list[str] = []
        fast = client.channels[FAST]
        fast.on("message", on_fast.append)
        for n in range(10_000):  # straight to the channel: the client's own writer would drop most
            fast.send(json.dumps({"type": "tool_call", "id": f"f-{n}", "payload": {"tool": "x"}}))
        reply = await client.request(Keepalive(), expect_type="keepalive", timeout=15)
        assert reply.type == "keepalive"
        assert on_fast and all(json.loads(text)["type"] == "error" for text in on_fast)
        started = time.monotonic()
        await client.request(Keepalive(), expect_type="keepalive", timeout=5)
        assert time.monotonic() - started < 1.0
        ids = {f"after-{n}" for n in range(3)}
        for ref in sorted(ids):  # the channel still answers each one once the flood is over
            await asyncio.sleep(0.1)
            client.send(json.dumps({"type": "no_such_type", "id": ref, "payload": {}}), FAST)
        assert set(await _errors_for(client, ids)) == ids


# --- nesting and size: the error names the request --------------------------------------------------------------


@pytest.mark.parametrize("levels", [100, 100_000])
async def test_a_message_nested_too_deeply_is_answered_with_its_id(local_server: LocalServer, levels: int) -> None:
    """100 levels decode but are refused; 100,000 reach the decoder's recursion limit. Both errors carry ref_id."""
    ran = _record(local_server, "tool_call")
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-deep") as client:
        args = '{"a":' + _deep(levels) + "}"
        text = '{"type":"tool_call","id":"id-deep","payload":{"tool":"execute_cli","args":' + args + "}}"
        client.send(text)
        errors = await _errors_for(client, {"id-deep"})
        assert errors["id-deep"].payload.code == "invalid_message"
        assert "nested too deeply" in errors["id-deep"].payload.message
        assert ran == []


async def test_the_server_announces_the_message_size_it_enforces(local_server: LocalServer) -> None:
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-sdp") as client:
        assert client.pc is not None and client.pc.remoteDescription is not None
        assert f"a=max-message-size:{MAX_PHONE_MESSAGE_BYTES}" in client.pc.remoteDescription.sdp
    assert MAX_PHONE_MESSAGE_BYTES == LOCAL_MAX_MESSAGE_SIZE


def _tool_call_of(size: int, ref: str, *, char: str = "a") -> str:
    """A tool_call of exactly ``size`` bytes as UTF-8 (``char`` pads it: 1, 2, 3 or 4 bytes each)."""
    head = json.dumps({"type": "tool_call", "id": ref, "payload": {"tool": "execute_cli", "args": {"pad": ""}}})
    room = size - len(head.encode())
    width = len(char.encode())
    pad = char * (room // width) + "a" * (room % width)
    text = head.replace('"pad": ""', f'"pad": "{pad}"')
    assert len(text.encode()) == size
    return text


@pytest.mark.parametrize("size", [MAX_PHONE_MESSAGE_BYTES + 1, 2 * 1024 * 1024])
async def test_a_message_over_the_announced_size_is_refused_unread(local_server: LocalServer, size: int) -> None:
    ran = _record(local_server, "tool_call")
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-big") as client:
        dc = _unlimited(client, RELIABLE)
        dc.send(_tool_call_of(size, "id-big", char="é"))
        errors = await _errors_for(client, {"id-big"}, timeout=20)
        error = errors["id-big"]
        assert error.payload.code == "invalid_message" and str(MAX_PHONE_MESSAGE_BYTES) in error.payload.message
        dc.send(_tool_call_of(MAX_PHONE_MESSAGE_BYTES, "id-fits", char="é"))  # the limit itself is taken
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [m.id for m in ran] == ["id-fits"]


# --- the pure parts ----------------------------------------------------------------------------------------------


def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    for char in ("a", "é", "€", "😀"):
        fits = parse_phone_message(_tool_call_of(MAX_PHONE_MESSAGE_BYTES, "ok", char=char))
        assert fits.type == "tool_call", char
        too_big = parse_phone_message(_tool_call_of(MAX_PHONE_MESSAGE_BYTES + 1, "no", char=char).encode())
        assert isinstance(too_big, Error) and too_big.payload.ref_id == "no", char


def test_the_channel_is_checked_before_the_payload() -> None:
    """On contop-fast a tool_call with a bad payload, or an unknown type, is invalid_message (wrong channel)."""
    for text in (
        '{"type":"tool_call","id":"t","payload":{"tool":""}}',
        '{"type":"no_such_type","id":"t","payload":{}}',
    ):
        with pytest.raises(InvalidMessage) as info:
            read_phone_message(text, FAST)
        assert info.value.code == "invalid_message" and info.value.ref_id == "t"
    with pytest.raises(InvalidMessage) as info:
        read_phone_message('{"type":"no_such_type","id":"t","payload":{}}', RELIABLE)
    assert info.value.code == "unknown_type"


def test_only_a_failed_pointer_move_is_marked_as_one() -> None:
    def refusal(action: str) -> InvalidMessage:
        with pytest.raises(InvalidMessage) as info:
            read_phone_message(
                json.dumps({"type": "manual_control", "id": "m", "payload": {"action": action, "x": ""}})
            )
        return info.value

    assert refusal("mouse_move").pointer_move and not refusal("mouse_down").pointer_move


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"x","id":"abc","payload":{}}', "abc"),
        ('  {\n "payload": {"id": "inner", "a": [{"id": "deeper"}]}, "id" : "outer"}', "outer"),
        ('{"type":"say \\"id\\":\\"no\\"","id":"yes"}', "yes"),
        ('{"\\u0069d":"escaped-key"}', "escaped-key"),
        ('{"payload":"}],{","id":"after-brackets-in-a-string"', "after-brackets-in-a-string"),
        ('{"type":"tool_call","id":"cut-after-id","payload":{"args":[[[', "cut-after-id"),
        ('{"type":"x","payload":{"id":"only-nested"}}', None),
        ('{"type":"x","id":""}', None),
        ('{"type":"x","id":"' + "i" * 129 + '"}', None),
        ('{"type":"x","id":42}', None),
        ('["id","x"]', None),
        ('{"type":"x","id":"unterminated', None),
        ('{"type":"x" "id":"missing-comma"}', None),
        ('{"payload":"' + "p" * ID_SCAN_CHARS + '","id":"beyond-the-scan"}', None),
    ],
)
def test_leading_id(text: str, expected: str | None) -> None:
    assert leading_id(text) == expected
    assert leading_id(text.encode()) == expected


def test_leading_id_work_is_bounded_by_the_scan() -> None:
    huge = '{"payload":' + _deep(5_000_000) + ',"id":"late"}'
    started = time.perf_counter()
    assert leading_id(huge) is None
    assert time.perf_counter() - started < 0.05
