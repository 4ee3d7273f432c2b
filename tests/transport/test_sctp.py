"""Delayed, bundled SCTP acknowledgements between real aiortc peers over loopback.

Packets are counted where SCTP hands them to DTLS, so the figures are what really went on the wire.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.rtcsctptransport import RTCSctpTransport

from contop.testing.peers import connect, new_peer, ping_pong
from contop.transport import sctp
from contop.transport.peer import ChannelWriter


async def test_a_round_trip_costs_two_packets_not_four(peers: list[RTCPeerConnection]) -> None:
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    assert isinstance(client.sctp, sctp.DelayedAckSctpTransport)
    assert isinstance(server.sctp, sctp.DelayedAckSctpTransport)

    assert await ping_pong(client, server, 200) == list(range(200))

    # each side sends one packet per round trip: its message with the SACK for the last one in front
    assert client.sent_packets + server.sent_packets <= 2 * 200 + 4
    # and nothing stays unacknowledged for longer than the delay
    await asyncio.sleep(sctp.SACK_DELAY_S * 5)
    assert not client.sctp._sent_queue and not server.sctp._sent_queue


async def test_stock_aiortc_acknowledges_every_packet(peers: list[RTCPeerConnection]) -> None:
    """The same exchange with unmodified aiortc at both ends: the figure the test above improves on."""
    peers += [new_peer(stock=True), new_peer(stock=True)]
    client, server = await connect(*peers)
    assert type(client.sctp) is RTCSctpTransport

    await ping_pong(client, server, 200)

    assert client.sent_packets + server.sent_packets >= 4 * 200


async def test_one_way_messages_are_acknowledged_every_second_packet_and_after_the_delay(
    peers: list[RTCPeerConnection],
) -> None:
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)

    client.send("one")
    assert await asyncio.wait_for(server.received.get(), 10) == "one"
    assert server.sent_packets == 0  # the SACK waits for a reply to ride on, or for the delay
    await asyncio.sleep(sctp.SACK_DELAY_S * 5)
    assert server.sent_packets == 1 and client.sctp._flight_size == 0

    started = time.monotonic()
    for i in range(100):
        client.send(f"m{i}")  # aiortc puts each message in a packet of its own
    got = [await asyncio.wait_for(server.received.get(), 10) for _ in range(100)]
    elapsed = time.monotonic() - started
    assert got == [f"m{i}" for i in range(100)]
    await asyncio.sleep(sctp.SACK_DELAY_S * 5)
    assert client.sctp._flight_size == 0
    # one SACK per two packets, plus one from the delay timer each time the sender paused longer than the delay
    # (stock aiortc: one per packet, 100)
    assert server.sent_packets - 1 <= 50 + elapsed / sctp.SACK_DELAY_S + 1


async def test_interoperates_with_an_aiortc_that_acknowledges_every_packet(peers: list[RTCPeerConnection]) -> None:
    """Bundled SACK + DATA packets are standard SCTP: a stock implementation reads them."""
    peers += [new_peer(stock=True), new_peer()]
    client, server = await connect(*peers)
    assert isinstance(server.sctp, sctp.DelayedAckSctpTransport) and type(client.sctp) is RTCSctpTransport

    assert await ping_pong(client, server, 50) == list(range(50))
    assert server.sent_packets <= 50 + 2  # the server's SACKs rode on its replies


async def test_lost_packets_are_retransmitted_and_nothing_is_lost_or_reordered(
    peers: list[RTCPeerConnection],
) -> None:
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    client.drop = lambda n: n in (3, 10)  # a request, and later a bundled SACK + request
    server.drop = lambda n: n in (6,)  # a reply with its SACK

    answers = await ping_pong(client, server, 20)
    for i in range(40):
        client.send(f"burst {i}")
    burst = [await asyncio.wait_for(server.received.get(), 15) for _ in range(40)]

    assert answers == list(range(20))
    assert burst == [f"burst {i}" for i in range(40)]


async def test_a_writer_draining_its_backlog_from_bufferedamountlow_keeps_the_order(
    peers: list[RTCPeerConnection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sends are made at once; one made while a send is under way (the writer's drain runs inside it) is queued
    behind it rather than nested, and nothing is lost, duplicated or reordered."""
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    assert client.channel is not None
    writer = ChannelWriter(client.channel, high_water=32 * 1024, drop_when_full=False)
    during_a_flush = 0
    send = sctp.DelayedAckSctpTransport._data_channel_send

    def counting(transport: sctp.DelayedAckSctpTransport, channel: RTCDataChannel, data: str | bytes) -> None:
        nonlocal during_a_flush
        during_a_flush += transport._flushing
        send(transport, channel, data)

    monkeypatch.setattr(sctp.DelayedAckSctpTransport, "_data_channel_send", counting)
    sent = [f"{i:05d}" + "x" * 4000 for i in range(300)]  # 1.2 MB: far over the high water mark
    for text in sent:
        writer.write(text)
    assert writer._backlog  # most of it waits for the buffer to drain

    got = [await asyncio.wait_for(server.received.get(), 20) for _ in sent]
    assert [g[:5] for g in got] == [s[:5] for s in sent] and got == sent
    assert not writer._backlog and not client.sctp._flushing
    assert during_a_flush > 100  # the case this is about really happened


async def test_a_send_from_another_thread_is_refused_and_nothing_is_sent(peers: list[RTCPeerConnection]) -> None:
    """Sending now happens inside send(): from a worker thread it would touch the association off the loop."""
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    with pytest.raises(RuntimeError, match="no running event loop"):
        await asyncio.to_thread(client.send, "from a thread")
    client.send("from the loop")
    assert await asyncio.wait_for(server.received.get(), 10) == "from the loop"
    assert client.channel is not None and client.channel.bufferedAmount == 0


@pytest.mark.parametrize("seed", range(4))
def test_received_tsn_bookkeeping_matches_aiortc(seed: int) -> None:
    """Our shortcut for the next TSN in order leaves the same state as aiortc's general bookkeeping, whatever
    arrives: in order, repeated, early (leaving a gap), filling a gap, and across the 32-bit wrap."""
    import random

    rng = random.Random(seed)
    ours = object.__new__(sctp.DelayedAckSctpTransport)
    stock = object.__new__(RTCSctpTransport)
    nxt = 2**32 - 50 if seed % 2 else rng.randrange(2**31)  # the next TSN in order
    for side in (ours, stock):
        side._last_received_tsn = (nxt - 1) % 2**32
        side._sack_misordered = set()
        side._sack_duplicates = []
    shortcuts = 0
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.7:
            tsn = nxt
        elif roll < 0.8:
            tsn = (nxt - rng.randrange(1, 5)) % 2**32  # a repeat
        else:
            tsn = (nxt + rng.randrange(1, 4)) % 2**32  # early, or a repeat of an early one
        shortcuts += not ours._sack_misordered and not ours._sack_duplicates and tsn == nxt
        assert ours._mark_received(tsn) == stock._mark_received(tsn), tsn
        assert ours._last_received_tsn == stock._last_received_tsn
        assert ours._sack_misordered == stock._sack_misordered
        assert ours._sack_duplicates == stock._sack_duplicates
        nxt = (ours._last_received_tsn + 1) % 2**32
    assert shortcuts > 300  # the shortcut was taken, and checked, many times
    if seed % 2:
        assert ours._last_received_tsn < 2**20  # and the sequence crossed the wrap


async def test_a_message_far_over_the_maximum_size_is_reassembled_in_linear_time(
    peers: list[RTCPeerConnection], caplog: pytest.LogCaptureFixture
) -> None:
    """A peer ignoring the announced maximum (256 KiB) and sending 16 MiB in one message: aiortc looked for a
    complete message from the start of what it held after each fragment, so one big message cost the square of
    its fragments (8 MiB: 3 s of CPU; 30 MiB: about 50 s, the loop starved for anything else). It now arrives
    (for the session to refuse it whole, with an error) for a small cost; one held far past the receive window
    ends the connection."""
    peers += [new_peer(stock=True), new_peer()]
    client, server = await connect(*peers)
    client.sctp._remote_max_message_size = 0  # a peer that ignores the size the receiver announced
    cpu = time.process_time()
    client.send(b"x" * (16 << 20))
    assert len(await asyncio.wait_for(server.received.get(), 60)) == 16 << 20
    cpu = time.process_time() - cpu
    assert cpu < 4, f"{cpu:.1f} s of CPU for both ends: the fragments were scanned again and again"
    client.send(b"after")  # and the channel goes on
    assert await asyncio.wait_for(server.received.get(), 10) == b"after"

    client.send(b"y" * (24 << 20))  # more than 16 MiB past the window
    deadline = time.monotonic() + 60
    while server.sctp.state != "closed" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert server.sctp.state == "closed"
    assert "past the receive window" in caplog.text and server.received.empty()


def test_a_forward_tsn_still_delivers_what_it_unblocks() -> None:
    """The reassembly skips its scan only right after a fragment that cannot complete a message: a FORWARD TSN that
    moves an ordered stream past an abandoned message (RFC 3758) must still deliver the message waiting behind it."""
    from struct import pack

    from aiortc.rtcsctptransport import SCTP_DATA_FIRST_FRAG, SCTP_DATA_LAST_FRAG, DataChunk

    def chunk(flags: int, tsn: int, ssn: int, data: bytes) -> DataChunk:
        return DataChunk(flags, pack("!LHHL", tsn, 0, ssn, 51) + data)

    stream = sctp._InboundStream()
    stream.add_chunk(chunk(SCTP_DATA_FIRST_FRAG | SCTP_DATA_LAST_FRAG, 10, 1, b"waiting"))  # ssn 0 never came
    assert list(stream.pop_messages()) == []
    stream.add_chunk(chunk(SCTP_DATA_FIRST_FRAG, 11, 2, b"half"))  # cannot complete anything: scan skipped
    assert list(stream.pop_messages()) == []
    stream.sequence_number = 1  # what a FORWARD TSN abandoning ssn 0 does, before it asks for messages again
    assert list(stream.pop_messages()) == [(0, 51, b"waiting")]
