"""A damaged Away Mode record (``away-overlay.json``) at start: the record exists only while the desk is locked, so
the server locks the desk again (fail closed), says so in an ERROR line, and keeps the record aside. A real
``contop serve`` on a real X server."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from contop.server.away import RECORD_FILE
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.server.test_away_http import alive, overlay_pids, wait_for, xsession  # noqa: F401 - fixtures

pytestmark = [pytest.mark.x11, pytest.mark.timeout(180)]

DAMAGED = {
    "cut short": b'{"pid": 4242, "started": 98',
    "wrong types": b'{"pid": "x", "started": [], "argv": 5, "display": {}, "engaged_at": 1, "engaged_by": 2}',
    "a list": b"[1, 2, 3]",
    "empty": b"",
    "nested too deeply": b"[" * 200_000 + b"]" * 200_000,
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_record_locks_the_desk_again(xsession: XSession, tmp_path: Path, damage: str) -> None:
    home = tmp_path / "home"
    with ServerProcess(home, env=dict(xsession.env)) as first:
        assert first.request("POST", "/api/away-mode/pin", json={"pin": "8642"}).is_success
    (home / RECORD_FILE).write_bytes(DAMAGED[damage])  # as a server killed while locked would have left it, damaged

    server = ServerProcess(home, env=dict(xsession.env)).start(60)
    overlays: list[int] = []
    try:
        status = server.request("GET", "/api/away-mode/status").json()
        assert status["away_mode"] is True and status["overlay_active"] is True, (status, server.log())
        overlays = overlay_pids(server)
        assert overlays
        [aside] = home.glob(f"{RECORD_FILE}.corrupt-*")
        assert aside.read_bytes() == DAMAGED[damage]
        errors = [line for line in server.log().splitlines() if "ERROR" in line and RECORD_FILE in line]
        assert errors and "damaged" in errors[0] and "locked again" in errors[0], server.log()
        assert "Traceback" not in server.log()

        assert server.request("POST", "/api/away-mode/disengage").json()["away_mode"] is False
        wait_for(lambda: not overlay_pids(server))
    finally:
        server.stop()
        for pid in overlays:  # never leak a lock screen into the next test
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
