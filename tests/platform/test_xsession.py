"""The X session fixture itself: private display numbers, environment, and complete clean-up."""

from __future__ import annotations

import os
import subprocess

import pytest

from contop.testing.xsession import XSession, parse_screen, start_xsession

pytestmark = pytest.mark.x11


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def test_two_sessions_side_by_side_and_cleanup(xsession: XSession) -> None:
    other = start_xsession("800x600x24", atspi=True)
    try:
        assert other.display != xsession.display
        out = subprocess.run(["xdpyinfo"], env=other.child_env(), capture_output=True, text=True, check=True).stdout
        assert "800x600 pixels" in out
        assert other.env["DBUS_SESSION_BUS_ADDRESS"].startswith("unix:")
        assert other.env["DBUS_SESSION_BUS_ADDRESS"] != xsession.env["DBUS_SESSION_BUS_ADDRESS"]
        pids = [p.pid for _, p in other._procs]
        pgids = {os.getpgid(pid) for pid in pids}
    finally:
        other.close()
    other.close()  # idempotent
    assert not any(_alive(pid) for pid in pids)
    # Nothing left in the process groups either (the AT-SPI launcher starts its own dbus-daemon).
    leftovers = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) in pgids and _alive(int(entry)):
                    leftovers.append(entry)
            except ProcessLookupError:
                pass
    assert not leftovers
    assert not other.runtime_dir.exists()


def test_parse_screen() -> None:
    assert parse_screen("1920x1080x24") == (1920, 1080, 24)
    assert parse_screen("800x600") == (800, 600, 24)
    with pytest.raises(ValueError, match="1920x1080x24"):
        parse_screen("big")
