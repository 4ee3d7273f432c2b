"""DirectDtlsTransport between real aiortc peers over loopback: datagrams handled as they arrive, in order."""

from __future__ import annotations

import asyncio
import json
import warnings
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsFingerprint
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import crypto

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


class _OpenSslCertificate(RTCCertificate):
    """A certificate held as pyOpenSSL's X509, which (unlike ``cryptography``) can be any X.509 version; its
    fingerprint is announced as ``announce`` says, by default its own."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: Any, announce: Any = None) -> None:
        super().__init__(key, cert)
        self._announce = announce or cert

    def getFingerprints(self) -> list[RTCDtlsFingerprint]:
        return [RTCDtlsFingerprint(algorithm="sha-256", value=self._announce.digest("sha256").decode())]

    def _create_ssl_context(self, srtp_profiles: Any) -> Any:
        with warnings.catch_warnings():  # pyOpenSSL warns that its X509 is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            return super()._create_ssl_context(srtp_profiles)


def x509_certificate(version: int) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    """A self-signed certificate of ``version`` (0-based, as in the certificate: 1 is X.509 v2)."""
    key = ec.generate_private_key(ec.SECP256R1())
    with warnings.catch_warnings():  # pyOpenSSL's certificate builder is deprecated, and the only one writing v2
        warnings.simplefilter("ignore", DeprecationWarning)
        cert = crypto.X509()
        cert.set_version(version)
        cert.get_subject().CN = "libdatachannel"
        cert.set_issuer(cert.get_subject())
        cert.set_serial_number(1)
        cert.gmtime_adj_notBefore(-3600)
        cert.gmtime_adj_notAfter(86400)
        pkey = crypto.PKey.from_cryptography_key(key)
        cert.set_pubkey(pkey)
        cert.sign(pkey, "sha256")
    return key, cert


def with_certificate(pc: RTCPeerConnection, certificate: RTCCertificate) -> RTCPeerConnection:
    pc._RTCPeerConnection__certificates = [certificate]  # type: ignore[attr-defined]
    return pc


async def test_a_peer_with_an_x509_v2_certificate_connects(peers: list[RTCPeerConnection]) -> None:
    """libdatachannel (native WebRTC apps, node-datachannel) presents X.509 v2 certificates, which
    ``cryptography`` refuses to parse: its peers must connect all the same, their fingerprint checked."""
    key, cert = x509_certificate(version=1)
    der = crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
    with pytest.raises(x509.InvalidVersion):  # what aiortc's own check tripped over
        x509.load_der_x509_certificate(der)
    peers += [with_certificate(new_peer(), _OpenSslCertificate(key, cert)), new_peer()]
    client, server = await asyncio.wait_for(connect(*peers), 15)
    assert len(await ping_pong(client, server, 5)) == 5


async def test_a_certificate_other_than_the_announced_one_is_refused(peers: list[RTCPeerConnection]) -> None:
    """The check over the certificate's bytes still refuses a peer whose certificate is not the one its SDP
    names (v2 and v3 alike)."""
    for version in (1, 2):
        key, cert = x509_certificate(version)
        _, other = x509_certificate(version)
        offerer = with_certificate(new_peer(), _OpenSslCertificate(key, cert, announce=other))
        answerer = new_peer()
        peers += [offerer, answerer]
        failed = asyncio.Event()
        answerer.on("connectionstatechange", lambda pc=answerer, ev=failed: pc.connectionState == "failed" and ev.set())
        offerer.createDataChannel("contop")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await asyncio.wait_for(failed.wait(), 15)
        assert answerer.sctp is None or answerer.sctp.state != "connected"
