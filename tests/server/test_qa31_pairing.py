"""Pairing times and the temporary downgrade (QA round 31), against a real ``contop serve`` and a Python client over
real WebRTC: a device counts as paired from when it claims its code, a month-old permanent code is not shown again,
and a permanent code used as a temporary one ("connection_type": "temp" in the offer) is a 4-hour pairing that is
never saved."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient, SignalingRefused
from contop.core.clock import iso, parse_iso, utcnow
from contop.core.pairing_payload import pairing_url, parse_pairing_url
from contop.server.pairing import REUSE_UNCLAIMED_FOR, TOKEN_TTL, PairingToken, TokenStore, new_token_value
from contop.server.pairing_service import PairingService
from contop.testing.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _ms(moment: datetime) -> datetime:
    """``moment`` as the server reports times: to the millisecond, cut (not rounded)."""
    return parse_iso(iso(moment))


async def _connect(server: ServerProcess, url: str, device_id: str, **options: Any) -> dict[str, Any]:
    """Pair ``device_id`` with ``url`` over real WebRTC; the greeting's ``state_update`` payload."""
    async with ContopClient(url, device_id=device_id, device_name=device_id, video=False, **options) as client:
        return dict((await client.next_message("state_update", timeout=10)).to_dict()["payload"])


def _device(server: ServerProcess, device_id: str) -> dict[str, Any]:
    devices = server.request("GET", "/api/devices").json()["devices"]
    return next(d for d in devices if d["device_id"] == device_id)


def _saved(home: Path) -> dict[str, Any]:
    return dict(json.loads((home / "tokens.json").read_text()))


async def test_a_device_is_paired_from_when_it_claims_the_code_not_when_the_code_was_made(tmp_path: Path) -> None:
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home").start)
    try:
        code = await asyncio.to_thread(server.pair)
        made = parse_iso(code["expires_at"]) - TOKEN_TTL["permanent"]
        await asyncio.sleep(1.5)  # the QR waits on screen before the phone scans it
        before = _ms(utcnow())
        await _connect(server, code["url"], "phone-late")
        after = utcnow()
        device = await asyncio.to_thread(_device, server, "phone-late")
        paired = parse_iso(device["paired_at"])
        assert before <= paired <= after, (made, device)
        assert device["expires_at"] == code["expires_at"]  # the claim does not move the expiry the QR told the phone
        await asyncio.to_thread(server.stop)
        saved = _saved(server.home)["devices"]
        assert [d["paired_at"] for d in saved] == [device["paired_at"]]
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_stale_permanent_code_is_not_shown_again_but_still_pairs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    await asyncio.to_thread(ServerProcess(home).start().stop)  # a state directory a server has run in
    made = utcnow() - timedelta(days=2)
    stale = PairingToken(new_token_value(), "permanent", made, made + TOKEN_TTL["permanent"])
    (home / "tokens.json").write_text(json.dumps({"version": 1, "tokens": [stale.to_json()], "devices": []}))
    server = await asyncio.to_thread(ServerProcess(home).start)
    try:
        before = utcnow()
        code = await asyncio.to_thread(server.pair)
        assert code["token"] != stale.token
        assert parse_iso(code["expires_at"]) >= _ms(before + TOKEN_TTL["permanent"])  # a full 30 days
        assert (await asyncio.to_thread(server.pair))["token"] == code["token"]  # a fresh one is shown again
        status = server.request("GET", "/api/pair/status").json()
        assert status["expires_at"] == code["expires_at"] and not status["claimed"]
        # The stale code keeps its own expiry: a QR already shown or printed still pairs, for what is left of it.
        url = pairing_url({**parse_pairing_url(code["url"]), "t": stale.token, "e": iso(stale.expires_at)})
        await _connect(server, url, "phone-with-old-qr")
        device = await asyncio.to_thread(_device, server, "phone-with-old-qr")
        assert device["expires_at"] == iso(stale.expires_at) and device["connection_type"] == "permanent"
    finally:
        await asyncio.to_thread(server.stop)


def test_an_unclaimed_permanent_code_is_handed_out_again_only_while_it_is_fresh() -> None:
    clock = Clock()
    store = TokenStore(clock)
    first = store.issue("permanent")
    clock.now += REUSE_UNCLAIMED_FOR - timedelta(seconds=1)
    assert store.issue("permanent") is first
    clock.now += timedelta(seconds=1)
    second = store.issue("permanent")
    assert second.token != first.token and second.created_at == clock.now
    assert store.issue("permanent") is second
    assert store.validate(first.token) == first  # not revoked: it still pairs until its own expiry
    assert store.unclaimed("permanent") == second  # what a QR shows after a restart


async def test_a_permanent_code_used_as_temporary_is_a_4_hour_pairing_never_saved(tmp_path: Path) -> None:
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home").start)
    try:
        code = await asyncio.to_thread(server.pair)
        assert code["connection_type"] == "permanent"
        assert [t["token"] for t in _saved(server.home)["tokens"]] == [code["token"]]
        before = _ms(utcnow())
        greeting = await _connect(server, code["url"], "guest", connection_type="temp")
        after = utcnow()
        assert greeting["connection_type"] == "temp"

        device = await asyncio.to_thread(_device, server, "guest")
        assert device["connection_type"] == "temp"
        expires = parse_iso(device["expires_at"])
        assert before + TOKEN_TTL["temp"] <= expires <= after + TOKEN_TTL["temp"]
        status = server.request("GET", "/api/pair/status", params={"device_id": "guest"}).json()
        assert (status["connection_type"], status["expires_at"]) == ("temp", device["expires_at"])
        deadline = time.monotonic() + 10  # the file is rewritten in the background
        while code["token"] in (tokens := [t["token"] for t in _saved(server.home)["tokens"]]):
            assert time.monotonic() < deadline, tokens
            await asyncio.sleep(0.05)
        assert _saved(server.home)["devices"] == []

        await asyncio.to_thread(server.stop)
        assert code["token"] not in json.dumps(_saved(server.home))
        await asyncio.to_thread(server.start)
        assert server.request("GET", "/api/devices").json()["devices"] == []
        with pytest.raises(SignalingRefused) as refused:
            await _connect(server, code["url"], "guest", connection_type="temp")
        assert refused.value.code == 4001  # memory only: after a restart the device must pair again
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_downgrade_never_gives_a_token_more_time(tmp_path: Path) -> None:
    clock = Clock()
    service = PairingService(tmp_path / "tokens.json", clock)
    tok = service.issue("permanent")
    service.claim(tok.token, device_id="phone", device_name="Phone")
    clock.now += timedelta(days=10)  # a phone paired for days connects once as a guest
    temp, device = service.claim(tok.token, device_id="phone", device_name="Phone", connection_type="temp")
    assert (temp.connection_type, temp.expires_at) == ("temp", clock.now + TOKEN_TTL["temp"])
    assert (device.connection_type, device.expires_at) == ("temp", temp.expires_at)
    clock.now += timedelta(hours=1)
    again, _ = service.claim(tok.token, device_id="phone", device_name="Phone", connection_type="temp")
    assert again.expires_at == temp.expires_at  # connecting again does not restart the 4 hours
    back, _ = service.claim(tok.token, device_id="phone", device_name="Phone")
    assert back.connection_type == "temp"  # never the reverse

    short = service.issue("permanent")
    clock.now = short.expires_at - timedelta(hours=1)
    ending, _ = service.claim(short.token, device_id="tablet", device_name="Tablet", connection_type="temp")
    assert ending.expires_at == short.expires_at  # an hour left stays an hour
    await service.persisted()
    assert json.loads((tmp_path / "tokens.json").read_text())["tokens"] == []
