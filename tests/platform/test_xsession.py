"""The X session fixture itself: private display numbers, environment, and complete clean-up."""

from __future__ import annotations

import os
import subprocess
import time

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

    # Nothing left in the process groups either (the AT-SPI launcher starts its own dbus-daemon). SIGKILL is
    # delivered asynchronously, so give stragglers a moment to finish dying.
    def leftovers_in_groups() -> list[str]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) in pgids and _alive(int(entry)):
                        with open(f"/proc/{entry}/cmdline", "rb") as f:
                            argv = f.read().replace(bytes(1), b" ").decode(errors="replace")
                        found.append(f"{entry}: {argv}")
                except (ProcessLookupError, OSError):
                    pass
        return found

    deadline = time.monotonic() + 3
    leftovers = leftovers_in_groups()
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.05)
        leftovers = leftovers_in_groups()
    assert not leftovers
    assert not other.runtime_dir.exists()
    # No zombies either: children were stopped while their parents could still reap them.
    zombies = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[2]) in pgids:
                with open(f"/proc/{entry}/comm") as f:
                    zombies.append(f"{entry} {f.read().strip()} ppid={fields[1]} pgid={fields[2]}")
    assert not zombies


def test_parse_screen() -> None:
    assert parse_screen("1920x1080x24") == (1920, 1080, 24)
    assert parse_screen("800x600") == (800, 600, 24)
    with pytest.raises(ValueError, match="1920x1080x24"):
        parse_screen("big")


def test_adapter_and_capture_report_a_vanished_display() -> None:
    from contop.core.errors import ContopError, NotAvailableError
    from contop.platform.capture import ScreenCapturer
    from contop.platform.linux.adapter import LinuxAdapter

    session = start_xsession("640x480x24", window_manager=False, dbus=False)
    adapter = LinuxAdapter(session.display, session_bus="")
    cap = ScreenCapturer(session.display)
    assert cap.capture().width == 640
    session.close()
    try:
        with pytest.raises(NotAvailableError, match="went away"):
            adapter.click(10, 10)
        with pytest.raises(NotAvailableError, match="went away"):
            adapter.list_windows()
        with pytest.raises(ContopError):
            cap.capture()
    finally:
        adapter.close()
        cap.close()


def test_processes_die_with_a_killed_test_run() -> None:
    """SIGKILL the process that owns a session: Xvfb, openbox and the bus must not outlive it."""
    import json
    import shutil
    import signal
    import sys

    script = (
        "import json, time\n"
        "from contop.testing.xsession import start_xsession\n"
        "s = start_xsession('640x480x24')\n"
        "print(json.dumps({'pids': [p.pid for _, p in s._procs], 'dir': str(s.runtime_dir)}), flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        info = json.loads(owner.stdout.readline())
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(5)
        if owner.stdout is not None:
            owner.stdout.close()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in info["pids"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(info["dir"], ignore_errors=True)  # the killed owner could not remove it
    assert not [pid for pid in info["pids"] if _alive(pid)]
