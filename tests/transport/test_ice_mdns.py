"""A phone whose browser hides its addresses behind mDNS names (``<uuid>.local``), as Chrome and Safari do by
default: names nobody answers for must neither delay our answer nor make ICE give up before the phone's own checks
(peer-reflexive candidates) arrive. A real ``contop serve`` and the Python client, its offer rewritten the way such
a browser writes it: every candidate an unresolvable ``.local`` name, then end-of-candidates."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
import uuid
from typing import Any

import pytest

from contop.client import ContopClient
from contop.testing.server import ServerProcess
from contop.transport.peer import split_mdns_candidates
from tests.transport.conftest import pair

pytestmark = pytest.mark.slow

_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( .*)$", re.MULTILINE)


def hide_addresses(sdp: str) -> str:
    """Every candidate's address replaced by an mDNS name that does not resolve, and the candidates ended."""
    hidden = _CANDIDATE.sub(lambda m: f"{m[1]}{uuid.uuid4()}.local{m[3]}", sdp)
    assert hidden != sdp and ".local" in hidden
    return hidden.rstrip("\r\n") + "\r\na=end-of-candidates\r\n"


class _HidingSocket:
    """The signaling socket, sending the offer as an mDNS-hiding browser would, then its end-of-candidates."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        message = json.loads(text)
        if message.get("type") == "offer":
            message["sdp"] = hide_addresses(message["sdp"])
            await self._ws.send(json.dumps(message))
            await self._ws.send(json.dumps({"type": "ice_candidate", "candidate": None}))
            return
        await self._ws.send(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


class HidingClient(ContopClient):
    async def _open_signaling(self) -> Any:
        return _HidingSocket(await super()._open_signaling())


async def test_a_phone_hiding_its_addresses_behind_mdns_names_connects(server: ServerProcess) -> None:
    for attempt in range(3):  # each time: no name resolves, so only the phone's own checks can connect it
        client = HidingClient(pair(server)["url"], device_id=f"mdns-phone-{attempt}", video=False)
        started = time.perf_counter()
        try:
            await client.connect(timeout=15)
            elapsed = time.perf_counter() - started
            reply = await client.request({"type": "keepalive", "id": str(uuid.uuid4()), "payload": {}}, timeout=5)
            assert reply.type == "keepalive"
        finally:
            await client.aclose()
        # Resolving a name takes up to a second: it must not hold up the answer.
        assert elapsed < 1.0, elapsed


def test_the_offer_keeps_everything_but_mdns_candidates() -> None:
    sdp = (
        "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
        "a=candidate:1 1 udp 2122260223 abcd-ef.local 5000 typ host\r\n"
        "a=candidate:2 1 udp 2122260223 192.0.2.9 5001 typ host\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
        "a=candidate:3 1 udp 2122260223 Other.LOCAL 5002 typ host\r\na=end-of-candidates\r\n"
    )
    kept, later, ended = split_mdns_candidates(sdp)
    assert ".local" not in kept.lower() and "192.0.2.9 5001" in kept and "end-of-candidates" not in kept
    hidden = [(c["candidate"].split()[4], c["sdpMLineIndex"]) for c in later]
    assert hidden == [("abcd-ef.local", 0), ("Other.LOCAL", 1)]
    assert ended
    plain = sdp.replace("abcd-ef.local", "192.0.2.8").replace("Other.LOCAL", "192.0.2.7")
    assert split_mdns_candidates(plain) == (plain, [], False)  # untouched when nothing is hidden


async def test_a_link_that_never_comes_up_is_reported_on_signaling_at_once(server: ServerProcess) -> None:
    """No check ever arrives (nothing behind the offer): once ICE gives up, the phone hears it on its signaling
    socket (1008, "connection not established") instead of waiting out its own timeout."""
    from aiortc import RTCPeerConnection
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from contop.client.client import signaling_urls
    from contop.transport.peer import MDNS_GRACE_S

    url = pair(server)["url"]
    fragment = url.split("#p=", 1)[1]
    payload = json.loads(base64.urlsafe_b64decode(fragment + "=" * (-len(fragment) % 4)))
    ghost = RTCPeerConnection()  # only writes the offer: it never answers a check
    ghost.createDataChannel("contop")
    ghost.createDataChannel("contop-fast")
    await ghost.setLocalDescription(await ghost.createOffer())
    offer = hide_addresses(ghost.localDescription.sdp)
    await ghost.close()
    started = time.perf_counter()
    async with connect(signaling_urls(url, payload)[0]) as ws:
        await ws.send(json.dumps({"type": "offer", "sdp": offer, "device_id": "ghost-phone"}))
        with contextlib.suppress(ConnectionClosed):
            async for _message in ws:
                pass  # the answer and its end-of-candidates, then the close
        closed_after = time.perf_counter() - started
    assert ws.close_code == 1008 and "connection not established" in (ws.close_reason or ""), ws.close_reason
    assert MDNS_GRACE_S <= closed_after < MDNS_GRACE_S + 5, closed_after
