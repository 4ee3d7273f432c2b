"""The Python client's own decisions: where it signals, what it accepts as the server's identity, refusals."""

from __future__ import annotations

import time
from typing import Any

import pytest

from contop.client import ClientError, ContopClient, FingerprintMismatch, SignalingRefused, signaling_urls
from contop.core.messages import new_id
from contop.core.pairing_payload import build_payload, pairing_url
from contop.testing.server import ServerProcess
from tests.transport.conftest import pair

FP = ":".join(["AB"] * 32)


def payload(**extra: Any) -> dict[str, Any]:
    return build_payload(
        token="tok/en", fingerprint=FP, host="192.168.1.5", port=8000, expires_at="2030-01-01T00:00:00Z",
        connection_type="temp", **extra,
    )  # fmt: skip


def test_signaling_order_is_origin_then_lan_then_tailscale_then_tunnel() -> None:
    data = payload(tailscale_ip="100.64.0.2", signaling_url="wss://x.trycloudflare.com/ws/signaling")
    url = "https://phone.example:8443/#p=whatever"
    assert signaling_urls(url, data) == [
        "wss://phone.example:8443/ws/signaling?token=tok%2Fen",
        "ws://192.168.1.5:8000/ws/signaling?token=tok%2Fen",
        "ws://100.64.0.2:8000/ws/signaling?token=tok%2Fen",
        "wss://x.trycloudflare.com/ws/signaling?token=tok%2Fen",
    ]


def test_duplicate_addresses_are_tried_once() -> None:
    data = payload()
    assert signaling_urls(pairing_url(data), data) == ["ws://192.168.1.5:8000/ws/signaling?token=tok%2Fen"]


def test_fingerprint_check() -> None:
    client = ContopClient(pairing_url(payload()))
    client.verify_fingerprint(f"v=0\r\na=fingerprint:sha-256 {FP.lower()}\r\n")
    with pytest.raises(FingerprintMismatch):
        client.verify_fingerprint("v=0\r\na=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\n")
    with pytest.raises(FingerprintMismatch):
        client.verify_fingerprint("v=0\r\n")  # no fingerprint at all
    with pytest.raises(FingerprintMismatch):  # one good, one bad media section
        client.verify_fingerprint(f"a=fingerprint:sha-256 {FP}\r\na=fingerprint:sha-256 {'CD:' * 31}CD\r\n")


def test_bad_pairing_url_is_refused_early() -> None:
    with pytest.raises(ValueError, match="pairing"):
        ContopClient("http://host:1/#p=!!!")


@pytest.mark.slow
async def test_refused_token_reports_the_close_code(server: ServerProcess) -> None:
    data = pair(server)["payload"]
    data["t"] = "not-a-real-token"
    client = ContopClient(pairing_url(data))
    with pytest.raises(SignalingRefused) as info:
        await client.connect()
    assert info.value.code == 4001


@pytest.mark.slow
async def test_a_request_gets_its_answer_and_one_never_answered_times_out(server: ServerProcess) -> None:
    async with ContopClient(pair(server)["url"], device_id="timeouts", video=False) as client:
        ping = {"type": "keepalive", "id": new_id(), "payload": {}}
        answer = await client.request(ping, expect_type="keepalive", timeout=5)
        assert answer.payload.ref_id == ping["id"]

        # the server answers a keepalive with a keepalive, never with agent_result: nothing the client waits for
        lonely = {"type": "keepalive", "id": new_id(), "payload": {}}
        started = time.monotonic()
        with pytest.raises(ClientError, match=f"no reply to {lonely['id']} within 0.3 s"):
            await client.request(lonely, expect_type="agent_result", timeout=0.3)
        assert 0.25 < time.monotonic() - started < 2
        assert not client._waiters  # nothing left behind

        answer = await client.request({**ping, "id": new_id()}, expect_type="keepalive", timeout=5)
        assert answer.type == "keepalive"  # still usable afterwards
