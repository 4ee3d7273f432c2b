"""DirectDtlsTransport between real aiortc peers over loopback: datagrams handled as they arrive, in order."""

from __future__ import annotations

import asyncio
import json

from aiortc import RTCPeerConnection

from contop.testing.peers import Side, connect, new_peer, ping_pong
from contop.transport.dtls import DirectDtlsTransport


def dtls(side: Side) -> DirectDtlsTransport:
    transport = side.sctp.transport
    assert isinstance(transport, DirectDtlsTransport)
    return transport


def answer_at_once(side: Side) -> None:
    """Reply from inside the message event, as the server's session does for a keepalive."""
    assert side.channel is not None
    side.channel.remove_all_listeners("message")
    side.channel.on("message", lambda data: side.send(json.dumps({"type": "pong", "n": json.loads(data)["n"]})))


async def turns_per_round_trip(client: Side, rounds: int) -> float:
    """Turns of the event loop from sending a request to holding its answer, averaged."""
    loop = asyncio.get_running_loop()
    turns = 0
    run_once = loop._run_once  # type: ignore[attr-defined]

    def counted() -> None:
        nonlocal turns
        turns += 1
        run_once()

    async def exchange() -> None:
        for i in range(rounds):
            client.send(json.dumps({"type": "ping", "n": i}))
            assert json.loads(await client.received.get())["n"] == i  # no wait_for: it adds a task and a turn

    loop._run_once = counted  # type: ignore[attr-defined]
    try:
        await asyncio.wait_for(exchange(), 30)
    finally:
        loop._run_once = run_once  # type: ignore[attr-defined]
    return turns / rounds


async def test_a_reply_leaves_in_the_turn_its_request_arrived(peers: list[RTCPeerConnection]) -> None:
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    await ping_pong(client, server, 5)
    assert dtls(client)._direct and dtls(server)._direct  # switched once the handshake was over
    answer_at_once(server)

    ours = await turns_per_round_trip(client, 100)

    peers += [new_peer(stock=True), new_peer(stock=True)]
    stock_client, stock_server = await connect(*peers[2:])
    assert not isinstance(stock_client.sctp.transport, DirectDtlsTransport)
    answer_at_once(stock_server)
    stock = await turns_per_round_trip(stock_client, 100)

    # ours: the server's turn (receive, decrypt, answer, send), the client's (receive, decrypt, deliver), and
    # the turn where the waiting test wakes up; aiortc's queue and send task add four more
    assert ours <= 3.2, ours
    assert stock >= 6, stock  # (measured: ours 3.0, stock 7.0)


async def test_order_is_kept_while_one_datagram_waits(peers: list[RTCPeerConnection]) -> None:
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    await ping_pong(client, server, 5)
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    handle = server.sctp._handle_data
    handled = 0

    async def slow_third(data: bytes) -> None:
        nonlocal handled
        handled += 1
        if handled == 3:
            await gate  # handling this datagram has to wait (as behind a TURN channel binding)
        await handle(data)

    server.sctp._handle_data = slow_third  # type: ignore[method-assign]
    for i in range(30):
        client.send(f"m{i}")
    await asyncio.sleep(0.2)
    early = [server.received.get_nowait() for _ in range(server.received.qsize())]
    assert early == ["m0", "m1"]  # nothing overtook the datagram that waits

    gate.set_result(None)
    rest = [await asyncio.wait_for(server.received.get(), 10) for _ in range(28)]
    assert early + rest == [f"m{i}" for i in range(30)]
    assert await ping_pong(client, server, 5) == list(range(5))


async def test_garbage_datagrams_are_ignored_and_the_link_stays_up(peers: list[RTCPeerConnection]) -> None:
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    await ping_pong(client, server, 5)
    receive = dtls(server).transport._connection.data_received
    for junk in (b"\x17\xfe\xfd" + b"\x00" * 40, b"\x16" + b"\xff" * 100, b"\x00junk", b"\x90" + b"\x01" * 30):
        receive(junk, 1)  # as if it came from the network on the ICE pair

    assert await ping_pong(client, server, 20) == list(range(20))
    assert dtls(server).state == "connected"


async def test_a_remote_close_ends_the_transport(peers: list[RTCPeerConnection]) -> None:
    peers += [new_peer(), new_peer()]
    client, server = await connect(*peers)
    await ping_pong(client, server, 5)
    closed = asyncio.get_running_loop().create_future()
    assert server.channel is not None
    server.channel.on("close", lambda: None if closed.done() else closed.set_result(None))

    await peers[0].close()  # the client goes away cleanly: DTLS close_notify

    await asyncio.wait_for(closed, 10)
    for _ in range(50):
        if dtls(server).state == "closed":
            break
        await asyncio.sleep(0.1)
    assert dtls(server).state == "closed"
