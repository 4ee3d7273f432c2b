"""Delayed, bundled SCTP acknowledgements between real aiortc peers over loopback.

Packets are counted where SCTP hands them to DTLS, so the figures are what really went on the wire.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection
from aiortc.rtcsctptransport import RTCSctpTransport

from contop.transport import sctp
from contop.transport.peer import create_peer_connection


@dataclass
class Side:
    pc: RTCPeerConnection
    channel: RTCDataChannel | None = None
    received: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    sent_packets: int = 0
    drop: Callable[[int], bool] = lambda n: False  # by packet number, counted from 1

    @property
    def sctp(self) -> RTCSctpTransport:
        assert self.pc.sctp is not None
        return self.pc.sctp

    def count_packets(self) -> None:
        dtls = self.sctp.transport
        send = dtls._send_data

        async def counted(data: bytes) -> None:
            self.sent_packets += 1
            if not self.drop(self.sent_packets):
                await send(data)

        dtls._send_data = counted  # type: ignore[method-assign]


def stock_peer() -> RTCPeerConnection:
    """An unmodified aiortc peer: its SCTP transport acknowledges every packet at once."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc._RTCPeerConnection__createSctpTransport = _stock_sctp(pc)  # type: ignore[attr-defined]
    return pc


def _stock_sctp(pc: RTCPeerConnection) -> Callable[[], None]:
    create = pc._RTCPeerConnection__createSctpTransport  # type: ignore[attr-defined]

    def make() -> None:
        import aiortc.rtcpeerconnection as module

        ours, module.RTCSctpTransport = module.RTCSctpTransport, RTCSctpTransport  # type: ignore[misc]
        try:
            create()
        finally:
            module.RTCSctpTransport = ours  # type: ignore[misc]

    return make


async def connect(offerer_pc: RTCPeerConnection, answerer_pc: RTCPeerConnection) -> tuple[Side, Side]:
    offerer, answerer = Side(offerer_pc), Side(answerer_pc)
    offerer.channel = offerer_pc.createDataChannel("contop")
    opened = asyncio.get_running_loop().create_future()

    @answerer_pc.on("datachannel")
    def on_channel(channel: RTCDataChannel) -> None:
        answerer.channel = channel
        channel.on("message", answerer.received.put_nowait)
        opened.set_result(None)

    offerer.channel.on("message", offerer.received.put_nowait)
    await offerer_pc.setLocalDescription(await offerer_pc.createOffer())
    await answerer_pc.setRemoteDescription(offerer_pc.localDescription)
    await answerer_pc.setLocalDescription(await answerer_pc.createAnswer())
    await offerer_pc.setRemoteDescription(answerer_pc.localDescription)
    await asyncio.wait_for(opened, 10)
    while offerer.channel.readyState != "open":
        await asyncio.sleep(0.01)
    offerer.count_packets()
    answerer.count_packets()
    return offerer, answerer


@pytest.fixture
async def peers() -> AsyncIterator[list[RTCPeerConnection]]:
    made: list[RTCPeerConnection] = []
    yield made
    for pc in made:
        await pc.close()


async def ping_pong(client: Side, server: Side, rounds: int) -> list[str]:
    """``rounds`` sequential requests, each answered by the server as soon as it arrives."""
    assert client.channel is not None and server.channel is not None
    replies = []
    for i in range(rounds):
        client.channel.send(json.dumps({"type": "ping", "n": i, "pad": "x" * 60}))
        request = json.loads(await asyncio.wait_for(server.received.get(), 10))
        server.channel.send(json.dumps({"type": "pong", "n": request["n"]}))
        replies.append(await asyncio.wait_for(client.received.get(), 10))
    return replies


async def test_a_round_trip_costs_two_packets_not_four(peers: list[RTCPeerConnection]) -> None:
    peers += [create_peer_connection(RTCConfiguration(iceServers=[]), None) for _ in range(2)]
    client, server = await connect(*peers)
    assert isinstance(client.sctp, sctp.DelayedAckSctpTransport)
    assert isinstance(server.sctp, sctp.DelayedAckSctpTransport)

    replies = await ping_pong(client, server, 200)

    assert [json.loads(r)["n"] for r in replies] == list(range(200))
    # each side sends one packet per round trip (its message with the SACK for the last one in front)
    assert client.sent_packets + server.sent_packets <= 2 * 200 + 4
    # nothing stays unacknowledged: within the delay both sides have every message acknowledged
    await asyncio.sleep(sctp.SACK_DELAY_S * 5)
    assert not client.sctp._sent_queue and not server.sctp._sent_queue


async def test_stock_aiortc_acknowledges_every_packet(peers: list[RTCPeerConnection]) -> None:
    """The same exchange with unmodified aiortc at both ends: the figure the test above improves on."""
    peers += [stock_peer(), stock_peer()]
    client, server = await connect(*peers)
    assert type(client.sctp) is RTCSctpTransport

    await ping_pong(client, server, 200)

    assert client.sent_packets + server.sent_packets >= 4 * 200


async def test_one_way_messages_are_acknowledged_every_second_packet_and_after_the_delay(
    peers: list[RTCPeerConnection],
) -> None:
    peers += [create_peer_connection(RTCConfiguration(iceServers=[]), None) for _ in range(2)]
    client, server = await connect(*peers)
    assert client.channel is not None

    client.channel.send("one")
    assert await asyncio.wait_for(server.received.get(), 10) == "one"
    assert server.sent_packets == 0  # the SACK waits for a reply to ride on, or for the delay
    await asyncio.sleep(sctp.SACK_DELAY_S * 5)
    assert server.sent_packets == 1 and client.sctp._flight_size == 0

    for i in range(100):
        client.channel.send(f"m{i}")
        await asyncio.sleep(0.001)  # paced, so each message travels in a packet of its own
    got = [await asyncio.wait_for(server.received.get(), 10) for _ in range(100)]
    assert got == [f"m{i}" for i in range(100)]
    await asyncio.sleep(sctp.SACK_DELAY_S * 5)
    assert client.sctp._flight_size == 0
    assert server.sent_packets - 1 <= 51  # at least every second packet, not every one


async def test_interoperates_with_an_aiortc_that_acknowledges_every_packet(peers: list[RTCPeerConnection]) -> None:
    """Bundled SACK + DATA packets are standard SCTP: a stock implementation reads them."""
    peers += [stock_peer(), create_peer_connection(RTCConfiguration(iceServers=[]), None)]
    client, server = await connect(*peers)
    assert isinstance(server.sctp, sctp.DelayedAckSctpTransport) and type(client.sctp) is RTCSctpTransport

    replies = await ping_pong(client, server, 50)

    assert [json.loads(r)["n"] for r in replies] == list(range(50))
    assert server.sent_packets <= 50 + 2  # the server's SACKs rode on its replies


async def test_lost_packets_are_retransmitted_and_nothing_is_lost_or_reordered(
    peers: list[RTCPeerConnection],
) -> None:
    peers += [create_peer_connection(RTCConfiguration(iceServers=[]), None) for _ in range(2)]
    client, server = await connect(*peers)
    assert client.channel is not None and server.channel is not None
    client.drop = lambda n: n in (3, 10)  # a request, and later a bundled SACK + request
    server.drop = lambda n: n in (6,)  # a reply with its SACK

    replies = await ping_pong(client, server, 20)
    for i in range(40):
        client.channel.send(f"burst {i}")
    burst = [await asyncio.wait_for(server.received.get(), 15) for _ in range(40)]

    assert [json.loads(r)["n"] for r in replies] == list(range(20))
    assert burst == [f"burst {i}" for i in range(40)]
