"""A tiny signaling client for tests: connect, optionally send an offer, report how the server closed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


@dataclass
class SignalingOutcome:
    close_code: int | None
    close_reason: str
    messages: list[dict[str, Any]] = field(default_factory=list)


def signal_once(
    port: int,
    token: str,
    offer: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> SignalingOutcome:
    """``headers`` are added to the handshake; ``source`` is the local address to connect from."""
    messages: list[dict[str, Any]] = []
    url = f"ws://{host}:{port}/ws/signaling?token={token}"
    extra: dict[str, Any] = {"source_address": (source, 0)} if source else {}
    with connect(url, open_timeout=5, close_timeout=5, additional_headers=headers, **extra) as ws:
        try:
            if offer is not None:
                ws.send(json.dumps(offer))
            while True:
                messages.append(json.loads(ws.recv(timeout=10)))
        except ConnectionClosed:
            pass
        rcvd = ws.protocol.close_rcvd
    return SignalingOutcome(rcvd.code if rcvd else None, rcvd.reason if rcvd else "", messages)


# An offer complete enough to be claimed with (a data-channel section, ICE credentials, a fingerprint), whose DTLS
# role aiortc cannot do without (no a=setup): it refuses it once the token gate has passed, so no peer is made.
PLACEHOLDER_SDP = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 AA:BB\r\n"
)


def offer(device_id: str, name: str = "Test Phone", **extra: Any) -> dict[str, Any]:
    return {"type": "offer", "sdp": PLACEHOLDER_SDP, "device_id": device_id, "device_name": name, **extra}


def passed_gate(outcome: SignalingOutcome) -> bool:
    """The token gate let the offer through and the transport judged its (placeholder) SDP: not a real peer."""
    return outcome.close_code == 1008 and bool(outcome.messages) and outcome.messages[-1]["code"] == "invalid_offer"
