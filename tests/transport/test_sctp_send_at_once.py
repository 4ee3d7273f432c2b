"""A small message on an idle association is sent at once, as the very chunk aiortc's queue would have sent.

Real aiortc peers over loopback. The chunks are taken where SCTP serialises them, so they are what went out.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcsctptransport import DataChunk, RTCSctpTransport

from contop.testing.peers import Side, connect, new_peer, ping_pong
from contop.transport import sctp


async def test_a_request_and_its_reply_skip_aiortcs_send_queue(
    peers: list[RTCPeerConnection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common case (one request, one reply, nothing in flight) does not pass through aiortc's ``_send`` and
    ``_transmit`` coroutines: that layering was a tenth of the Python client's CPU per round trip."""
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    queued = 0
    send = RTCSctpTransport._send

    async def counting(transport: RTCSctpTransport, *args: Any, **kwargs: Any) -> None:
        nonlocal queued
        queued += 1
        await send(transport, *args, **kwargs)

    monkeypatch.setattr(RTCSctpTransport, "_send", counting)

    assert await ping_pong(client, server, 100) == list(range(100))
    assert queued == 0


def _wire(chunk: DataChunk, first_tsn: int) -> tuple[Any, ...]:
    return (
        chunk.flags,
        chunk.stream_id,
        chunk.stream_seq,
        chunk.protocol,
        chunk.user_data,
        (chunk.tsn - first_tsn) % 2**32,
        chunk._max_retransmits,
        chunk._expiry,
        chunk._book_size,
        chunk._sent_count,
    )


async def _exchange(sender: Side, receiver: Side, *, at_once: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Send a mix of messages on an ordered and an unordered, unreliable channel; the chunks that went out, and
    the association's counters after each, with the direct path allowed or not. ``sender`` is the answering
    peer: a second channel it opens needs no handler at the other end."""
    if not at_once:
        monkeypatch.setattr(sender.sctp, "_can_send_at_once", lambda channel, data: False)
    transport = sender.sctp
    assert isinstance(transport, sctp.DelayedAckSctpTransport)
    fast = sender.pc.createDataChannel("contop-fast", ordered=False, maxRetransmits=0)
    opened = asyncio.get_running_loop().create_future()
    fast.on("open", lambda: opened.done() or opened.set_result(None))
    await asyncio.wait_for(opened, 10)
    while transport._sent_queue:  # the channel's opening message: acknowledged before the comparison starts
        await asyncio.sleep(0.01)
    first_tsn = transport._local_tsn
    seen: list[Any] = []
    send_chunk = transport._send_chunk

    async def recording(chunk: Any) -> None:
        if isinstance(chunk, DataChunk):
            seen.append(_wire(chunk, first_tsn))
        await send_chunk(chunk)

    monkeypatch.setattr(transport, "_send_chunk", recording)
    assert sender.channel is not None
    messages = ["", "small", "é" * 40, b"", b"\x00\x01binary", "x" * 1200, "y" * 3000]
    for text in messages:
        for channel in (sender.channel, fast):
            channel.send(text)
            seen.append((transport._flight_size, dict(transport._outbound_stream_seq), channel.bufferedAmount))
        # the reliable copy arrives; wait for it so that each message starts on an idle association
        got = await asyncio.wait_for(receiver.received.get(), 10)
        assert got == text
        while transport._sent_queue:
            await asyncio.sleep(0.005)
    return seen


@pytest.mark.parametrize("at_once", [True, False])
async def test_the_chunks_sent_at_once_are_those_aiortcs_queue_sends(
    peers: list[RTCPeerConnection], monkeypatch: pytest.MonkeyPatch, at_once: bool
) -> None:
    """Flags, stream, sequence number, TSN, payload protocol, retransmission limit and the association's
    counters are the same either way, for text and binary, empty and fragmented, ordered and unordered."""
    tested, reference = [new_peer(), new_peer()], [new_peer(), new_peer()]
    peers += tested + reference
    client, server = await connect(*tested)
    reference_client, reference_server = await connect(*reference)

    with monkeypatch.context() as patch:
        got = await _exchange(server, client, at_once=at_once, monkeypatch=patch)
    with monkeypatch.context() as patch:
        expected = await _exchange(reference_server, reference_client, at_once=False, monkeypatch=patch)

    assert got == expected
    assert len([entry for entry in got if len(entry) == 10]) >= 2 * 7  # every message went out as chunks
