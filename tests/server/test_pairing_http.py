"""Pairing over HTTP and the signaling token gate, against a real server process."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from contop.core.clock import parse_iso
from contop.core.pairing_payload import parse_pairing_url
from contop.server.dtls import fingerprint_of
from contop.testing.server import ServerProcess
from tests.server.wsutil import PLACEHOLDER_SDP, offer, passed_gate, signal_once

JSON = {"Accept": "application/json"}


def pair(server: ServerProcess, **params: str) -> dict:
    r = server.request("POST", "/api/pair", params=params, headers=JSON)
    assert r.status_code == 200, r.text
    return r.json()


def test_permanent_pairing_payload(server: ServerProcess) -> None:
    data = pair(server)
    assert data["connection_type"] == "permanent"
    assert len(data["token"]) >= 43  # 256 bits, URL-safe
    payload = parse_pairing_url(data["url"])
    assert data["url"].startswith(f"http://{payload['h']}:{server.port}/#p=")
    cert = x509.load_pem_x509_certificate((server.home / "dtls" / "cert.pem").read_bytes())
    assert payload["d"] == fingerprint_of(cert)
    assert payload["t"] == data["token"] and payload["c"] == "permanent" and payload["p"] == server.port
    expires = parse_iso(payload["e"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    # No API key ever travels in the QR, even when one is configured.
    settings = server.request("GET", "/api/settings").json()
    settings["gemini_api_key"] = "AIza-test-key-123456"
    assert server.request("PUT", "/api/settings", json=settings).status_code == 200
    again = pair(server, connection_type="temp")
    raw = base64.urlsafe_b64decode(again["url"].split("#p=")[1] + "==").decode()
    assert "AIza" not in raw and not set(json.loads(raw)) & {"g", "o", "a", "r", "pa"}
    assert "i" not in json.loads(raw)  # no ICE servers configured: host candidates only


def test_configured_ice_servers_travel_in_the_qr(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    settings["ice_servers"] = [
        {"urls": "stun:stun.example.org:3478"},
        {"urls": ["turn:turn.example.org:3478?transport=udp"], "username": "u1", "credential": "pw1"},
    ]
    assert server.request("PUT", "/api/settings", json=settings).status_code == 200
    payload = parse_pairing_url(pair(server, connection_type="temp")["url"])
    assert payload["i"] == settings["ice_servers"]


def test_png_variant_and_qr_image(server: ServerProcess) -> None:
    assert server.request("GET", "/api/qr-image").status_code == 404
    r = server.request("POST", "/api/pair")
    assert r.headers["content-type"] == "image/png" and r.content.startswith(b"\x89PNG")
    assert r.headers["x-pairing-token"] and r.headers["x-pairing-expires-at"]
    assert parse_pairing_url(r.headers["x-pairing-url"])["t"] == r.headers["x-pairing-token"]
    img = server.request("GET", "/api/qr-image")
    assert img.status_code == 200 and img.content.startswith(b"\x89PNG")


def test_unclaimed_permanent_token_is_reused_temp_is_not(server: ServerProcess) -> None:
    first, second = pair(server), pair(server)
    assert first["token"] == second["token"]
    t1, t2 = pair(server, connection_type="temp"), pair(server, connection_type="temp")
    assert t1["token"] != t2["token"]
    assert parse_iso(t1["expires_at"]) - datetime.now(UTC) <= timedelta(hours=4)


def test_status_never_shows_the_token_and_revoke(server: ServerProcess) -> None:
    data = pair(server)
    status = server.request("GET", "/api/pair/status")
    assert status.json()["status"] == "active" and status.json()["connection_type"] == "permanent"
    assert data["token"] not in status.text
    assert server.request("DELETE", "/api/pair").json() == {"revoked": True}
    assert server.request("GET", "/api/pair/status").json()["status"] == "none"
    assert signal_once(server.port, data["token"]).close_code == 4001


def test_bad_query_values(server: ServerProcess) -> None:
    r = server.request("POST", "/api/pair", params={"connection_type": "forever"})
    assert r.status_code == 422 and "connection_type" in r.json()["detail"]
    r = server.request("POST", "/api/pair", params={"device_id": "../../etc"})
    assert r.status_code == 422 and "device_id" in r.json()["detail"]
    assert server.request("DELETE", "/api/pair", params={"device_id": "ghost"}).status_code == 404
    assert server.request("GET", "/api/devices", params={"since": "yesterday"}).status_code == 400


def test_token_claimed_by_first_device_only(server: ServerProcess) -> None:
    token = pair(server)["token"]
    first = signal_once(server.port, token, offer("phone-a", "Alice's phone", device_location={"lat": 1, "lon": 2}))
    # The gate accepts; the transport then refuses the placeholder SDP (real negotiation: tests/transport).
    assert passed_gate(first)
    devices = server.request("GET", "/api/devices").json()["devices"]
    assert [(d["device_id"], d["device_name"], d["last_location"]) for d in devices] == [
        ("phone-a", "Alice's phone", {"lat": 1, "lon": 2})
    ]
    assert signal_once(server.port, token, offer("phone-b")).close_code == 4003
    assert passed_gate(signal_once(server.port, token, offer("phone-a")))  # its owner may come back
    assert signal_once(server.port, "not-a-token", offer("phone-a")).close_code == 4001
    # A claimed code no longer shows on the desktop: the next pairing gets a fresh one.
    assert pair(server)["token"] != token


@pytest.mark.parametrize(
    "sdp",
    ["garbage", "v=0\r\n", PLACEHOLDER_SDP.replace("a=ice-ufrag:abcd\r\n", ""),
     PLACEHOLDER_SDP.replace("a=fingerprint:sha-256 AA:BB\r\n", ""), "", 42],
)  # fmt: skip
def test_an_offer_that_cannot_connect_does_not_use_up_the_code(server: ServerProcess, sdp: object) -> None:
    token = pair(server)["token"]
    probe = signal_once(server.port, token, {**offer("probe"), "sdp": sdp})
    assert probe.close_code == 1008 and probe.messages[-1]["code"] in ("invalid_offer", "invalid_message")
    assert server.request("GET", "/api/devices").json()["devices"] == []  # no phone paired
    assert passed_gate(signal_once(server.port, token, offer("phone-a")))  # the real phone still claims it


@pytest.mark.parametrize(
    ("sdp", "said"),
    [
        ("hello world\r\nm=whatever", "cannot be read at line 2 ('m=whatever')"),
        (PLACEHOLDER_SDP + "a=setup:bogus\r\n", "cannot be read at line 12 ('a=setup:bogus')"),
        (PLACEHOLDER_SDP.replace("a=sctp-port:5000", "a=sctp-port:abc"), "line 8 ('a=sctp-port:abc')"),
        (PLACEHOLDER_SDP, "cannot answer this offer: it has no DTLS role (a=setup:actpass"),
        (PLACEHOLDER_SDP.replace("a=ice-ufrag:abcd", "a=ice-ufrag:"), "ICE username fragment or password is missing"),
    ],
    ids=["not-sdp", "setup", "sctp-port", "no-setup", "empty-ufrag"],
)
def test_an_offer_that_cannot_connect_is_told_what_is_wrong_in_words(
    server: ServerProcess, sdp: str, said: str
) -> None:
    refused = signal_once(server.port, pair(server)["token"], {**offer("probe"), "sdp": sdp})
    assert refused.close_code == 1008 and refused.messages[-1]["code"] == "invalid_offer", refused
    message = refused.messages[-1]["message"]
    assert said in message, message
    for internal in ("Error", "NoneType", "attribute"):  # Python's words, not the phone's
        assert internal not in message, message


def test_every_device_the_offer_lets_in_can_be_named_to_revoke_it(server: ServerProcess) -> None:
    token = pair(server)["token"]
    for odd in ("Pixel 8 (Ann)", "a/b", "x" * 129, "é"):
        refused = signal_once(server.port, token, offer(odd))
        assert refused.close_code == 1008 and "device_id must be" in refused.messages[-1]["message"], odd
    assert server.request("GET", "/api/devices").json()["devices"] == []
    longest = "x" * 128
    assert passed_gate(signal_once(server.port, token, offer(longest)))
    assert server.request("DELETE", "/api/pair", params={"device_id": longest}).json() == {"revoked": True}


def test_device_events_replace_and_revoke(server: ServerProcess) -> None:
    before = datetime.now(UTC).isoformat()
    old = pair(server)["token"]
    assert passed_gate(signal_once(server.port, old, offer("phone-a")))
    new = pair(server)["token"]
    assert passed_gate(signal_once(server.port, new, offer("phone-a")))  # same phone pairs again
    assert signal_once(server.port, old, offer("phone-a")).close_code == 4001  # its old code is gone
    events = server.request("GET", "/api/devices", params={"since": before}).json()["events"]
    assert [e["type"] for e in events] == ["token_replaced"]
    assert server.request("DELETE", "/api/pair", params={"device_id": "phone-a"}).json() == {"revoked": True}
    body = server.request("GET", "/api/devices", params={"since": before}).json()
    assert body["devices"] == []
    assert [e["type"] for e in body["events"]] == ["token_replaced", "revoked"]
    assert signal_once(server.port, new, offer("phone-a")).close_code == 4001
    later = server.request("GET", "/api/devices", params={"since": body["events"][-1]["timestamp"]}).json()
    assert later["events"] == []


def test_pairing_for_a_named_device_replaces_its_token(server: ServerProcess) -> None:
    a = pair(server, device_id="tablet-1")["token"]
    b = pair(server, device_id="tablet-1")["token"]
    assert a != b
    assert signal_once(server.port, a, offer("tablet-1")).close_code == 4001
    assert signal_once(server.port, b, offer("someone-else")).close_code == 4003
    status = server.request("GET", "/api/pair/status", params={"device_id": "tablet-1"}).json()
    assert status["status"] == "active" and status["claimed"] is True


def test_a_new_code_for_a_known_device_keeps_its_name(server: ServerProcess) -> None:
    assert passed_gate(signal_once(server.port, pair(server, device_id="tablet-1")["token"], offer("tablet-1", "Den")))
    before = datetime.now(UTC).isoformat()
    pair(server, device_id="tablet-1")  # the desktop issues it a fresh code before it connects again
    body = server.request("GET", "/api/devices", params={"since": before}).json()
    assert [d["device_name"] for d in body["devices"]] == ["Den"]
    assert [(e["type"], e["device_name"]) for e in body["events"]] == [("token_replaced", "Den")]


def test_failed_signaling_is_rate_limited(server: ServerProcess) -> None:
    good = pair(server)["token"]
    codes = [signal_once(server.port, f"wrong-{i}").close_code for i in range(6)]
    assert codes == [4001] * 6
    limited = signal_once(server.port, good, offer("phone-a"))
    assert limited.close_code == 4029 and "retry in" in limited.close_reason
    # The admin API is unaffected by the signaling limit.
    assert httpx.get(f"{server.base_url}/api/pair/status", headers=server.admin_headers()).status_code == 200


def test_malformed_first_signaling_message(server: ServerProcess) -> None:
    token = pair(server)["token"]
    out = signal_once(server.port, token, {"type": "offer"})  # no device_id
    assert out.close_code == 1008 and out.messages[0]["code"] == "invalid_message"
    out = signal_once(server.port, token, {"type": "ice_candidate", "candidate": None})
    assert out.close_code == 1008
    # The token was never claimed by these attempts.
    assert server.request("GET", "/api/pair/status").json()["claimed"] is False


def test_revoking_the_code_revokes_every_code_no_phone_has_used(server: ServerProcess) -> None:
    permanent = pair(server)["token"]
    temp = pair(server, connection_type="temp")["token"]
    assert server.request("DELETE", "/api/pair").json() == {"revoked": True}
    assert server.request("GET", "/api/pair/status").json()["status"] == "none"
    for token in (permanent, temp):  # neither pairs a phone any more, though only one was on the screen
        assert signal_once(server.port, token, offer("phone-late")).close_code == 4001
    assert server.request("DELETE", "/api/pair").json() == {"revoked": False}
    tokens = json.loads((server.home / "tokens.json").read_text())
    assert permanent not in json.dumps(tokens)  # gone from the disk too, so a restart does not bring it back


def test_after_a_restart_the_status_shows_the_code_still_waiting(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home") as first:
        token = pair(first)["token"]
    with ServerProcess(tmp_path / "home") as again:
        status = again.request("GET", "/api/pair/status").json()
        assert status["status"] == "active" and status["claimed"] is False
        assert again.request("DELETE", "/api/pair").json() == {"revoked": True}
        assert signal_once(again.port, token, offer("phone-x")).close_code == 4001
