"""Two real aiortc peers joined over loopback in one process, with a data channel between them.

For the SCTP tests and ``bench/bench_sctp.py``: packets are counted (and can be dropped) where SCTP hands them
to DTLS, so the counts are what really went on the wire. ``stock=True`` gives aiortc's own SCTP and DTLS
transports (a SACK for every packet, a task per send and per received datagram) as the baseline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiortc.rtcpeerconnection
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcsctptransport import RTCSctpTransport

from contop.transport.peer import create_peer_connection


@dataclass
class Side:
    """One peer, its end of the channel, what it received, and how many SCTP packets it sent."""

    pc: RTCPeerConnection
    channel: RTCDataChannel | None = None
    received: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue)
    sent_packets: int = 0
    drop: Callable[[int], bool] = lambda n: False  # by packet number, counted from 1

    @property
    def sctp(self) -> RTCSctpTransport:
        if self.pc.sctp is None:
            raise RuntimeError("the peer has no SCTP transport yet")
        return self.pc.sctp

    def send(self, data: str | bytes) -> None:
        if self.channel is None:
            raise RuntimeError("the channel is not open yet")
        self.channel.send(data)

    def _count_packets(self) -> None:
        dtls = self.sctp.transport
        send = dtls._send_data

        async def counted(data: bytes) -> None:
            self.sent_packets += 1
            if not self.drop(self.sent_packets):
                await send(data)

        dtls._send_data = counted  # type: ignore[method-assign]


def new_peer(*, stock: bool = False) -> RTCPeerConnection:
    """A peer as the server and ``contop.client`` make them, or (``stock``) with aiortc's unmodified SCTP and
    DTLS transports."""
    pc = create_peer_connection(RTCConfiguration(iceServers=[]), None)
    if stock:
        for method, name, cls in (
            ("_RTCPeerConnection__createSctpTransport", "RTCSctpTransport", RTCSctpTransport),
            ("_RTCPeerConnection__createDtlsTransport", "RTCDtlsTransport", RTCDtlsTransport),
        ):
            setattr(pc, method, _with_class(getattr(pc, method), name, cls))
    return pc


def _with_class(create: Callable[..., Any], name: str, cls: type) -> Callable[..., Any]:
    """``create`` running with aiortc's own ``cls`` in place of ours under ``name``."""

    def create_stock(*args: Any, **kwargs: Any) -> Any:
        module = aiortc.rtcpeerconnection
        ours = getattr(module, name)
        setattr(module, name, cls)
        try:
            return create(*args, **kwargs)
        finally:
            setattr(module, name, ours)

    return create_stock


async def connect(offerer_pc: RTCPeerConnection, answerer_pc: RTCPeerConnection) -> tuple[Side, Side]:
    """Offer, answer and wait until the channel ``contop`` is open at both ends; packets are counted from then."""
    offerer, answerer = Side(offerer_pc), Side(answerer_pc)
    channel = offerer.channel = offerer_pc.createDataChannel("contop")
    opened = asyncio.get_running_loop().create_future()
    offerer_open = asyncio.get_running_loop().create_future()
    channel.on("open", lambda: None if offerer_open.done() else offerer_open.set_result(None))

    @answerer_pc.on("datachannel")
    def on_channel(incoming: RTCDataChannel) -> None:
        answerer.channel = incoming
        incoming.on("message", answerer.received.put_nowait)
        opened.set_result(None)

    channel.on("message", offerer.received.put_nowait)
    await offerer_pc.setLocalDescription(await offerer_pc.createOffer())
    await answerer_pc.setRemoteDescription(offerer_pc.localDescription)
    await answerer_pc.setLocalDescription(await answerer_pc.createAnswer())
    await offerer_pc.setRemoteDescription(answerer_pc.localDescription)
    await asyncio.wait_for(opened, 10)
    await asyncio.wait_for(offerer_open, 10)
    offerer._count_packets()
    answerer._count_packets()
    return offerer, answerer


async def ping_pong(client: Side, server: Side, rounds: int) -> list[int]:
    """``rounds`` sequential requests of about 100 bytes, each answered as soon as it arrives; the numbers of
    the answers, in the order they came."""
    answers = []
    for i in range(rounds):
        client.send(json.dumps({"type": "ping", "n": i, "pad": "x" * 60}))
        request = json.loads(await asyncio.wait_for(server.received.get(), 10))
        server.send(json.dumps({"type": "pong", "n": request["n"]}))
        answers.append(json.loads(await asyncio.wait_for(client.received.get(), 10))["n"])
    return answers
