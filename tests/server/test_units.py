"""Pure parts of the foundation, tested without a server: tokens, rate limit, payload, admin rule, redaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import HTTPException

from contop.core.pairing_payload import build_payload, pairing_url, parse_pairing_url
from contop.server.admin import check_admin, host_is_loopback
from contop.server.logsetup import QuietReadsFilter, RedactingFilter
from contop.server.pairing import AuthFailure, TokenRefused, TokenStore
from contop.server.ratelimit import AuthRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_tokens_expire_claim_and_replace() -> None:
    clock = Clock()
    store = TokenStore(clock)
    perm = store.issue("permanent")
    assert store.issue("permanent") is perm  # unclaimed permanent code is reused
    tok, replaced = store.claim(perm.token, "phone")
    assert tok.device_id == "phone" and replaced == []
    with pytest.raises(TokenRefused) as info:
        store.claim(perm.token, "other")
    assert info.value.failure is AuthFailure.CLAIMED
    second = store.issue("permanent")
    assert second.token != perm.token  # a claimed code is not shown again
    _, replaced = store.claim(second.token, "phone")
    assert [t.token for t in replaced] == [perm.token]
    temp = store.issue("temp")
    clock.now += timedelta(hours=4)
    with pytest.raises(TokenRefused) as info:
        store.validate(temp.token)
    assert info.value.failure is AuthFailure.INVALID
    assert "expired" in str(info.value)
    with pytest.raises(TokenRefused) as info:  # once forgotten (or never restored at a restart)
        store.validate(temp.token)
    assert "expired" in str(info.value) and "scan a new QR code" in str(info.value)
    clock.now += timedelta(days=30)
    assert store.permanent() == []


def test_rate_limit_minute_then_hour() -> None:
    t = [0.0]
    limiter = AuthRateLimiter(lambda: t[0])
    for _ in range(5):
        limiter.record_failure("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == 0
    limiter.record_failure("1.2.3.4")
    assert 59 < limiter.retry_after("1.2.3.4") <= 60
    assert limiter.retry_after("5.6.7.8") == 0  # per address
    t[0] += 61
    assert limiter.retry_after("1.2.3.4") == 0
    # Spread out below the per-minute limit, 30 failures in an hour still lock the address for an hour.
    for _ in range(24):
        t[0] += 100
        limiter.record_failure("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") > 3500


def test_payload_round_trip_and_garbage() -> None:
    payload = build_payload(
        token="t" * 43,
        fingerprint="AB:CD",
        host="192.168.1.2",
        port=8000,
        expires_at="2026-01-01T00:00:00.000Z",
        connection_type="temp",
        tailscale_ip="100.64.0.1",
        signaling_url="wss://x.trycloudflare.com/ws/signaling",
    )
    url = pairing_url(payload)
    assert url.startswith("https://x.trycloudflare.com/#p=")  # a tunnel code opens the app through the tunnel
    assert parse_pairing_url(url) == payload
    lan = {k: v for k, v in payload.items() if k != "s"}
    assert pairing_url(lan).startswith("http://192.168.1.2:8000/#p=")
    assert parse_pairing_url(pairing_url(lan)) == lan
    for bad in ["http://h:1/", "http://h:1/#p=!!!", "http://h:1/#p=WzFd"]:
        with pytest.raises(ValueError):
            parse_pairing_url(bad)
    assert pairing_url({**lan, "h": "fe80::1"}).startswith("http://[fe80::1]:8000/")


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("localhost", True),
        ("localhost:8000", True),
        ("127.0.0.1:1", True),
        ("[::1]:8000", True),
        ("LOCALHOST", True),
        ("localhost.evil.com", False),
        ("127.0.0.1.nip.io", False),
        ("", False),
        (None, False),
        ("evil.com@localhost", False),
        ("10.0.0.1", False),
    ],
)
def test_host_header_rule(host: str | None, ok: bool) -> None:
    assert host_is_loopback(host) is ok


def test_admin_rule_order() -> None:
    good = "a" * 64
    with pytest.raises(HTTPException) as info:
        check_admin("192.168.1.9", "localhost", f"Bearer {good}", good)
    assert info.value.status_code == 403  # a remote peer learns nothing about the token
    with pytest.raises(HTTPException) as info:
        check_admin("127.0.0.1", "localhost", "Bearer wrong", good)
    assert info.value.status_code == 401
    check_admin("::ffff:127.0.0.1", "127.0.0.1:8000", f"Bearer {good}", good)


def test_redaction_of_patterns_and_known_values() -> None:
    redactor = RedactingFilter()
    redactor.add_secret("sk-live-1234567890")
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "%s %s %s",
        ("GET /ws/signaling?token=abcDEF_123-xyz&x=1", "Authorization: Bearer s3cr3t", "key sk-live-1234567890"),
        None,
    )
    redactor.filter(record)
    text = record.getMessage()
    assert "abcDEF" not in text and "s3cr3t" not in text and "sk-live" not in text
    assert "token=***&x=1" in text
    url = "http://me:pw1@10.0.0.2:8080/v1"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "nothing at %s", (url,), None)
    redactor.filter(record)
    assert record.getMessage() == "nothing at http://me:***@10.0.0.2:8080/v1"


@pytest.mark.parametrize(
    ("client", "method", "status", "kept"),
    [
        ("127.0.0.1:50000", "GET", 200, False),
        ("[::1]:50000", "GET", 200, False),
        ("::ffff:127.0.0.1:50000", "GET", 200, False),  # the desktop app, to a server listening on "::"
        ("::ffff:192.168.1.20:50000", "GET", 200, True),  # a LAN host is always logged
        ("127.0.0.1:50000", "POST", 200, True),
        ("127.0.0.1:50000", "GET", 401, True),
    ],
)
def test_only_successful_reads_from_this_computer_are_left_out_of_the_access_log(
    client: str, method: str, status: int, kept: bool
) -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (client, method, "/api/x", "1.1", status),
        None,
    )
    assert QuietReadsFilter().filter(record) is kept
