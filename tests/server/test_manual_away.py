"""Manual control while Away Mode is on, through a real ``contop serve`` and a real WebRTC phone on a real Xvfb: keys
and text are refused with an error the phone can show (the lock screen holds the keyboard), clicks still pass."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.server.manual import AWAY_REFUSAL
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession, start_xsession
from tests.platform.conftest import RecorderApp, launch_recorder

pytestmark = [pytest.mark.x11, pytest.mark.slow, pytest.mark.timeout(150)]

PIN = "8642"


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    missing = [p for p in ("Xvfb", "openbox", "dbus-daemon") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    session = start_xsession("1280x800x24")  # the phone's 1280-wide video is the screen itself: no scaling
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
async def phone(xsession: XSession, tmp_path: Path) -> AsyncIterator[tuple[ContopClient, ServerProcess]]:
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=dict(xsession.env)).start)
    try:
        pin = await asyncio.to_thread(server.request, "POST", "/api/away-mode/pin", json={"pin": PIN})
        pin.raise_for_status()
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="away-phone", video=False) as client:
            yield client, server
    finally:
        await asyncio.to_thread(server.request, "POST", "/api/away-mode/disengage")
        await asyncio.to_thread(server.stop)


@pytest.fixture
def recorder(xsession: XSession, tmp_path: Path) -> Iterator[RecorderApp]:
    app = launch_recorder(xsession, tmp_path)
    try:
        yield app
    finally:
        app.stop()


def manual(action: str, **payload: Any) -> dict[str, Any]:
    return {"type": "manual_control", "id": str(uuid.uuid4()), "payload": {"action": action, **payload}}


async def away_mode(server: ServerProcess) -> bool:
    reply = await asyncio.to_thread(server.request, "GET", "/api/away-mode/status")
    return bool(reply.json()["away_mode"])


async def test_keys_from_the_phone_are_refused_while_away_and_clicks_still_pass(
    phone: tuple[ContopClient, ServerProcess], recorder: RecorderApp
) -> None:
    client, server = phone
    ex, ey = recorder.center("entry")
    client.send(manual("click", x=ex, y=ey))
    client.send(manual("type", text="ok"))
    await asyncio.to_thread(recorder.wait_for, lambda ev: recorder.last_text() == "ok")

    engaged = await asyncio.to_thread(server.request, "POST", "/api/away-mode/engage")
    assert engaged.status_code == 200, engaged.text
    # The PIN itself, typed from the phone: it went into the lock screen's PIN field and unlocked the desk.
    for message in (manual("type", text=PIN), manual("key", keys="enter"), manual("key_combo", keys=["ctrl", "a"])):
        reply = await client.request(message, expect_type="error", timeout=10)
        payload = reply.payload.model_dump()
        assert payload["ref_id"] == message["id"] and payload["code"] == "not_available", payload
        assert payload["message"] == AWAY_REFUSAL
    await asyncio.sleep(1.0)
    assert await away_mode(server)
    assert recorder.last_text() == "ok"

    # A click passes through the lock screen to the window under it.
    before = len(recorder.events())
    cx, cy = recorder.center("canvas")
    client.send(manual("click", x=cx, y=cy))
    events = await asyncio.to_thread(
        recorder.wait_for, lambda ev: any(e["event"] == "button" and e["num"] == 1 for e in ev[before:])
    )
    press = next(e for e in events[before:] if e["event"] == "button")
    assert (press["x"], press["y"]) == (cx, cy)

    # Unlocked: typing works again.
    await asyncio.to_thread(server.request, "POST", "/api/away-mode/disengage")
    client.send(manual("click", x=ex, y=ey))
    client.send(manual("type", text="!"))
    await asyncio.to_thread(recorder.wait_for, lambda ev: recorder.last_text() == "ok!")
