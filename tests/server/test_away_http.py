"""Away Mode through a real ``contop serve`` on a real X server: the admin API, and a phone (the Python client)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contop.client import ContopClient
from contop.core.messages import AwayModeDisengage, AwayModeEngage, AwayModeStatusQuery
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession, start_xsession

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]

PIN = "8642"
EMERGENCY = "11223344"


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    missing = [p for p in ("Xvfb", "openbox", "dbus-daemon") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    session = start_xsession("1280x800x24")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def server(xsession: XSession, tmp_path: Path) -> Iterator[ServerProcess]:
    # The server needs the desktop's DISPLAY to put the overlay up.
    proc = ServerProcess(tmp_path / "home", env=dict(xsession.env)).start()
    try:
        yield proc
    finally:
        overlays = children(proc)
        proc.stop()
        for pid in overlays:  # should already be gone (shutdown takes the overlay down); never leak one
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


def children(server: ServerProcess) -> list[int]:
    assert server.proc is not None
    pids: list[int] = []
    try:
        for task in Path(f"/proc/{server.proc.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except FileNotFoundError:
        pass  # the server has exited
    return pids


def overlay_pids(server: ServerProcess) -> list[int]:
    found = []
    for pid in children(server):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"contop.desktop.overlay" in cmdline and alive(pid):
            found.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_status_pin_engage_disengage_over_rest(server: ServerProcess) -> None:
    assert httpx.get(f"{server.base_url}/api/away-mode/status").status_code == 401
    status = server.request("GET", "/api/away-mode/status").json()
    assert status["away_mode"] is False and status["overlay_active"] is False and status["pin_set"] is False

    refused = server.request("POST", "/api/away-mode/engage")
    assert refused.status_code == 409 and "no Away Mode PIN" in refused.json()["detail"]

    bad = server.request("POST", "/api/away-mode/pin", json={"pin": "12"})
    assert bad.status_code == 400 and "4 to 12 digits" in bad.json()["detail"]
    same = server.request("POST", "/api/away-mode/pin", json={"pin": "123456", "emergency_pin": "123456"})
    assert same.status_code == 400
    assert server.request("POST", "/api/away-mode/pin", json={"pin": 1234}).status_code == 422

    ok = server.request("POST", "/api/away-mode/pin", json={"pin": PIN, "emergency_pin": EMERGENCY})
    assert ok.status_code == 200, ok.text
    assert ok.json()["pin_set"] and ok.json()["emergency_pin_set"] and ok.json()["enabled"]
    settings = (server.home / "settings.json").read_text()
    assert "$2b$10$" in settings and PIN not in settings and EMERGENCY not in settings

    engaged = server.request("POST", "/api/away-mode/engage")
    assert engaged.status_code == 200, engaged.text
    assert engaged.json()["away_mode"] is True and engaged.json()["overlay_active"] is True
    assert server.request("GET", "/api/away-mode/status").json()["engaged_by"] == "api"
    assert len(overlay_pids(server)) == 1
    assert server.request("DELETE", "/api/away-mode/pin").status_code == 409

    off = server.request("POST", "/api/away-mode/disengage").json()
    assert off["away_mode"] is False and off["overlay_active"] is False
    wait_for(lambda: not overlay_pids(server))
    log = server.log()
    assert PIN not in log and EMERGENCY not in log


def test_server_shutdown_takes_the_overlay_down(server: ServerProcess) -> None:
    server.request("POST", "/api/away-mode/pin", json={"pin": PIN}).raise_for_status()
    server.request("POST", "/api/away-mode/engage").raise_for_status()
    [pid] = overlay_pids(server)
    assert server.stop() == 0
    wait_for(lambda: not alive(pid), timeout=5)


async def test_phone_engages_and_gets_the_security_alert(server: ServerProcess) -> None:
    server.request("POST", "/api/away-mode/pin", json={"pin": PIN}).raise_for_status()
    r = server.request("POST", "/api/pair", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    async with ContopClient(r.json()["url"], video=False) as phone:
        reply = await phone.request(AwayModeStatusQuery(), expect_type="away_mode_status")
        assert reply.payload.model_dump()["away_mode"] is False

        engage = AwayModeEngage()
        reply = await phone.request(engage, expect_type="away_mode_status", timeout=30)
        payload = reply.payload.model_dump()
        assert reply.type == "away_mode_status", payload
        assert payload["away_mode"] is True and payload["overlay_active"] is True and payload["ref_id"] == engage.id

        [pid] = await asyncio.to_thread(overlay_pids, server)
        killed_at = time.monotonic()
        os.killpg(pid, signal.SIGKILL)
        alert = await phone.next_message("security_alert", timeout=5)
        assert time.monotonic() - killed_at < 5
        assert alert.payload.model_dump()["reason"] == "overlay_killed"

        disengage = AwayModeDisengage()
        reply = await phone.request(disengage, expect_type="away_mode_status", timeout=30)
        assert reply.payload.model_dump()["away_mode"] is False
    await asyncio.to_thread(wait_for, lambda: not overlay_pids(server))
