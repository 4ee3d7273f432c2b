"""The devices list's ``last_seen``: the time of a connected phone's latest activity, kept in memory while it talks
(tokens.json is not rewritten for it) and saved with its disconnect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contop.core.messages import RELIABLE
from contop.server.pairing_service import PairingService
from contop.transport.router import Router
from contop.transport.session import Session, Timing
from tests.server.nullpeer import NullPeer


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 27, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _keepalive(n: int) -> str:
    return json.dumps({"type": "keepalive", "id": f"k{n}", "payload": {}})


def _saved_last_seen(path: Path) -> Any:
    return json.loads(path.read_text())["devices"][0]["last_seen"]


async def test_last_seen_follows_a_connected_phones_activity(tmp_path: Path) -> None:
    clock = Clock()
    service = PairingService(tmp_path / "tokens.json", clock)
    tok = service.issue("permanent")
    service.claim(tok.token, device_id="phone", device_name="Phone")
    session = Session(device_id="phone", device_name="Phone", connection_type="permanent", router=Router(),
                      hooks=service, timing=Timing(heartbeat=60, check=60))  # fmt: skip
    session.attach(NullPeer())  # type: ignore[arg-type]
    session.link_open()
    await service.persisted()
    connected_at = service.devices.get("phone").last_seen  # type: ignore[union-attr]
    assert connected_at == clock.now and _saved_last_seen(tmp_path / "tokens.json") == "2026-03-27T10:00:00.000Z"

    clock.now += timedelta(minutes=3)
    session.handle_inbound(RELIABLE, _keepalive(1))
    await service.persisted()
    listed = {d.device_id: d.to_json() for d in service.list_devices()}
    assert listed["phone"]["last_seen"] == "2026-03-27T10:03:00.000Z"
    assert _saved_last_seen(tmp_path / "tokens.json") == "2026-03-27T10:00:00.000Z"  # not written for activity

    clock.now += timedelta(minutes=1)
    await session.aclose()
    await service.persisted()
    assert _saved_last_seen(tmp_path / "tokens.json") == "2026-03-27T10:04:00.000Z"  # the disconnect saves it


async def test_a_stream_of_messages_is_reported_at_most_once_per_interval() -> None:
    class Hooks:
        def __init__(self) -> None:
            self.seen_calls = 0

        def mark_connected(self, device_id: str, connected: bool, path: Any = None) -> None:
            pass

        def seen(self, device_id: str) -> None:
            self.seen_calls += 1

    hooks = Hooks()
    session = Session(device_id="phone", device_name="Phone", connection_type="temp", router=Router(), hooks=hooks,
                      timing=Timing(heartbeat=60, check=60, seen_interval=60))  # fmt: skip
    session.attach(NullPeer())  # type: ignore[arg-type]
    session.link_open()
    for n in range(200):
        session.handle_inbound(RELIABLE, _keepalive(n))
    assert hooks.seen_calls == 1
    await session.aclose()


async def test_a_code_that_runs_out_disconnects_its_phone(tmp_path: Path) -> None:
    clock = Clock()
    service = PairingService(tmp_path / "tokens.json", clock)
    closed: list[tuple[str, str]] = []

    async def close_sessions(device_id: str, reason: str) -> None:
        closed.append((device_id, reason))

    service.on_revoke(close_sessions)
    guest = service.issue("temp")
    service.claim(guest.token, device_id="guest", device_name="Guest")
    service.mark_connected("guest", True)
    owner = service.issue("permanent")
    service.claim(owner.token, device_id="owner", device_name="Owner")
    service.mark_connected("owner", True)
    service.issue("temp")  # a code nobody used

    clock.now += timedelta(hours=3, minutes=59)
    assert await service.expire() == [] and closed == []
    clock.now += timedelta(minutes=2)  # past the guest code's 4 hours
    service.list_devices()  # the desktop's poll reads the tokens (and drops expired ones) before the check runs
    assert await service.expire() == ["guest"] and closed == [("guest", "pairing code expired")]
    service.mark_connected("guest", False)  # what closing its session does
    assert [e.to_json()["type"] for e in service.devices.events()][-2:] == ["expired", "disconnected"]
    assert service.status("owner")["status"] == "active"  # the owner's 30-day code still holds
    assert await service.expire() == []  # reported once


async def test_the_server_checks_for_expired_codes_periodically(monkeypatch: Any) -> None:
    import asyncio
    from types import SimpleNamespace

    from contop.server import app

    calls: list[int] = []

    async def expire() -> list[str]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bad moment")  # logged; the checks go on
        return []

    monkeypatch.setattr(app, "EXPIRY_CHECK_S", 0.01)
    task = asyncio.create_task(app._expire_codes(SimpleNamespace(pairing=SimpleNamespace(expire=expire))))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    task.cancel()
    assert len(calls) >= 3


def test_a_device_name_is_cleaned_of_what_would_act_on_a_screen() -> None:
    from contop.server.devices import shown_name

    assert shown_name("Pixel 7 · Chrome") == "Pixel 7 · Chrome"
    assert shown_name("a\x1b[2J\r\nb\tc\u2028d") == "a [2J b c d"
    assert shown_name("\u202eevil\u200b") == "evil"  # a bidi override and a zero-width space go
    assert shown_name("👨\u200d👩\u200d👧 phone") == "👨\u200d👩\u200d👧 phone"  # a joined emoji stays whole
    for blank in ("", "   ", "\u200b\u200b", "\x00", "\u200d", None, 7):
        assert shown_name(blank) == "", blank
    assert len(shown_name("x" * 500)) == 128
    assert shown_name("Pixel \ud800") == "Pixel"  # a lone surrogate made GET /api/devices fail (500) for good


def test_a_long_name_keeps_its_number_within_the_length_a_name_may_have() -> None:
    from contop.server.devices import MAX_NAME, Device, DeviceRegistry, shown_name

    registry = DeviceRegistry()
    later = datetime.now(UTC) + timedelta(days=1)
    long = "x" * MAX_NAME
    registry.upsert("a", device_name=long, connection_type="permanent", expires_at=later)
    second = registry.upsert("b", device_name=long, connection_type="permanent", expires_at=later)
    assert second.device_name.endswith(" (2)") and len(second.device_name) <= MAX_NAME
    restored = Device.from_json(second.to_json())  # as read back from tokens.json after a restart
    assert restored.device_name == second.device_name == shown_name(second.device_name)
