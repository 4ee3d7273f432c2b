"""Away Mode across a server crash: the lock screen stays up, and the next server takes it over so that the phone can
unlock the desk again. Real ``contop serve`` processes, real overlays, a real Xvfb."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contop.client import ContopClient
from contop.core.messages import AwayModeDisengage, AwayModeStatusQuery
from contop.desktop.away_attempts import ATTEMPTS_FILE, read_attempts
from contop.server.away import (
    RECORD_FILE,
    AwayModeController,
    AwayTiming,
    OverlayRecord,
    is_recorded_overlay,
    new_pin_settings,
    start_time,
)
from contop.server.settings_store import SettingsStore
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession, linux_adapter_for_tests, start_xsession

PIN = "8642"
EMERGENCY = "11223344"
OVERLAY_CLASS = ("contop-away-mode", "ContopAwayMode")

# -- pure -------------------------------------------------------------------------------------------------------

STAT = "4242 (python3 (x) y) S 1 4242 4242 0 -1 4194560 2131 0 0 0 31 6 0 0 20 0 3 0 987654 1 2 3"


def test_start_time_reads_field_22_past_any_command_name() -> None:
    assert start_time(STAT) == 987654
    assert start_time(STAT.replace(") S ", ") Z ")) is None  # a zombie is gone
    assert start_time("4242 (x) S 1 2") is None


def test_a_record_names_one_process_only() -> None:
    record = OverlayRecord(4242, 987654, ("python3", "-m", "contop.desktop.overlay"), ":5", "2024-01-01", "phone")
    cmdline = b"python3\0-m\0contop.desktop.overlay\0"
    assert is_recorded_overlay(record, STAT, cmdline)
    assert not is_recorded_overlay(record, STAT.replace("987654", "987655"), cmdline)  # the pid was reused
    assert not is_recorded_overlay(record, STAT, b"python3\0-m\0something.else\0")
    assert not is_recorded_overlay(record, None, None)  # no such process
    assert OverlayRecord.loads(record.dumps()) == record
    for garbage in (
        b"",
        b"{",
        b"[]",
        b'{"pid": "x"}',
        json.dumps({**json.loads(record.dumps()), "pid": None}).encode(),
        json.dumps({**json.loads(record.dumps()), "pid": float("inf")}).encode(),  # Infinity: int() overflows
        b"[" * 200_000 + b"]" * 200_000,  # json.loads recurses past the limit
    ):
        assert OverlayRecord.loads(garbage) is None


# -- helpers ----------------------------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def adapter(xsession: XSession) -> Iterator[Any]:
    yield from linux_adapter_for_tests(xsession)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def overlay_processes() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"contop.desktop.overlay" in cmdline and alive(int(entry.name)):
                found.add(int(entry.name))
    return found


@pytest.fixture
def no_leftover_overlays() -> Iterator[None]:
    """Whatever a test leaves up (it should leave nothing) is killed, so the next one starts unlocked."""
    before = overlay_processes()
    yield
    for pid in overlay_processes() - before:
        os.killpg(pid, signal.SIGKILL)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class LockWatch:
    """Samples, from its own thread, whether some overlay window is viewable: the desk must never be bare."""

    def __init__(self, xsession: XSession) -> None:
        from Xlib import display as xdisplay

        self._d = xdisplay.Display(xsession.display)
        self.samples = 0
        self.bare = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def covered(self) -> bool:
        from Xlib import X
        from Xlib import error as xerror

        for window in self._d.screen().root.query_tree().children:
            try:
                if window.get_wm_class() == OVERLAY_CLASS and window.get_attributes().map_state == X.IsViewable:
                    return True
            except xerror.XError:
                continue
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples += 1
            if not self.covered():
                self.bare += 1
            time.sleep(0.005)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._d.close()


# -- through real servers ---------------------------------------------------------------------------------------


@pytest.mark.x11
@pytest.mark.timeout(180)
async def test_a_restarted_server_takes_over_the_lock_and_the_phone_unlocks_it(
    xsession: XSession, tmp_path: Path, no_leftover_overlays: None, adapter: Any
) -> None:
    home = tmp_path / "home"
    first = ServerProcess(home, env=dict(xsession.env)).start()
    second: ServerProcess | None = None
    watch: LockWatch | None = None
    try:
        first.request("POST", "/api/away-mode/pin", json={"pin": PIN, "emergency_pin": EMERGENCY}).raise_for_status()
        first.request("POST", "/api/away-mode/engage").raise_for_status()
        [old] = overlay_processes()
        record = home / RECORD_FILE
        assert record.stat().st_mode & 0o777 == 0o600
        assert json.loads(record.read_text())["pid"] == old
        # A wrong PIN at the desk: the count must survive the crash (no fresh attempts for whoever is there).
        await asyncio.to_thread(adapter.type_text, "0000")
        await asyncio.to_thread(adapter.press_key, "enter")
        await asyncio.to_thread(
            wait_for, lambda: first.request("GET", "/api/away-mode/status").json()["failed_attempts"]
        )

        watch = LockWatch(xsession)
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # the server crashes ...
        await asyncio.sleep(1.0)
        assert alive(old)  # ... and the desk stays locked

        second = await asyncio.to_thread(ServerProcess(home, env=dict(xsession.env)).start, 60)
        status = second.request("GET", "/api/away-mode/status").json()
        assert status["away_mode"] is True and status["overlay_active"] is True, status
        assert status["engaged_by"] == "api" and status["failed_attempts"] == 1
        # Its own overlay replaced the old one, which is gone; the desk was never bare meanwhile.
        await asyncio.to_thread(wait_for, lambda: not alive(old))
        [new] = overlay_processes()
        assert new != old and json.loads(record.read_text())["pid"] == new
        watch.close()
        assert watch.samples > 100 and watch.bare == 0, (watch.samples, watch.bare)
        watch = None
        assert "taking it over" in second.log()

        # The phone (one of the three unlock methods) unlocks the desk again.
        pairing = second.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
        async with ContopClient(pairing["url"], video=False) as phone:
            reply = await phone.request(AwayModeStatusQuery(), expect_type="away_mode_status")
            assert reply.payload.model_dump()["away_mode"] is True
            reply = await phone.request(AwayModeDisengage(), expect_type="away_mode_status", timeout=30)
            assert reply.payload.model_dump()["away_mode"] is False
        await asyncio.to_thread(wait_for, lambda: not overlay_processes())
        assert not record.exists()
        # And it can be locked again: nothing holds the keyboard any more.
        engaged = second.request("POST", "/api/away-mode/engage")
        assert engaged.status_code == 200, engaged.text
        second.request("POST", "/api/away-mode/disengage").raise_for_status()
    finally:
        if watch is not None:
            watch.close()
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.x11
@pytest.mark.timeout(180)
async def test_after_a_takeover_the_pin_at_the_desk_still_unlocks(
    xsession: XSession, tmp_path: Path, no_leftover_overlays: None, adapter: Any
) -> None:
    home = tmp_path / "home"
    first = ServerProcess(home, env=dict(xsession.env)).start()
    second: ServerProcess | None = None
    try:
        first.request("POST", "/api/away-mode/pin", json={"pin": PIN}).raise_for_status()
        first.request("POST", "/api/away-mode/engage").raise_for_status()
        first.stop(signal.SIGKILL)
        second = await asyncio.to_thread(ServerProcess(home, env=dict(xsession.env)).start, 60)
        assert second.request("GET", "/api/away-mode/status").json()["away_mode"] is True
        await asyncio.to_thread(wait_for, lambda: len(overlay_processes()) == 1)
        await asyncio.to_thread(adapter.type_text, PIN)
        await asyncio.to_thread(adapter.press_key, "enter")

        def unlocked() -> bool:
            return second is not None and second.request("GET", "/api/away-mode/status").json()["away_mode"] is False

        await asyncio.to_thread(wait_for, unlocked)
        assert second.request("GET", "/api/away-mode/status").json()["last_unlock"] == "pin"
        assert not overlay_processes() and not (home / RECORD_FILE).exists()
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.x11
@pytest.mark.timeout(180)
async def test_wrong_pins_typed_while_the_server_is_down_still_count_and_their_lockout_holds(
    xsession: XSession, tmp_path: Path, no_leftover_overlays: None, adapter: Any
) -> None:
    home = tmp_path / "home"
    first = ServerProcess(home, env=dict(xsession.env)).start()
    second: ServerProcess | None = None
    try:
        first.request("POST", "/api/away-mode/pin", json={"pin": PIN}).raise_for_status()
        first.request("POST", "/api/away-mode/engage").raise_for_status()
        [old] = overlay_processes()
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # nobody hears the overlay now
        for wrong in ("1111", "2222", "3333", "4444", "5555"):  # the fifth starts a 30 s lockout
            await asyncio.to_thread(adapter.type_text, wrong)
            await asyncio.to_thread(adapter.press_key, "enter")
        attempts = home / ATTEMPTS_FILE

        def counted() -> bool:
            saved = read_attempts(attempts)
            return saved is not None and saved.failures == 5

        with contextlib.suppress(AssertionError):  # the lock screen checks them (bcrypt); what counts is below
            await asyncio.to_thread(wait_for, counted, 5.0)
        locked_at = time.monotonic()

        second = await asyncio.to_thread(ServerProcess(home, env=dict(xsession.env)).start, 60)
        status = second.request("GET", "/api/away-mode/status").json()
        assert status["away_mode"] is True and status["failed_attempts"] == 5, status
        assert attempts.stat().st_mode & 0o777 == 0o600
        await asyncio.to_thread(wait_for, lambda: not alive(old) and len(overlay_processes()) == 1)

        def status_now() -> dict[str, Any]:
            assert second is not None
            return dict(second.request("GET", "/api/away-mode/status").json())

        # Inside the lockout the right PIN does nothing, on the lock screen the new server put up.
        await asyncio.to_thread(adapter.type_text, PIN)
        await asyncio.to_thread(adapter.press_key, "enter")
        await asyncio.sleep(1.5)
        assert time.monotonic() - locked_at < 28, "too slow a restart for this test"
        assert status_now()["away_mode"] is True
        # The phone can still unlock at once (that the lockout ends when it should is test_overlay_pin's).
        off = second.request("POST", "/api/away-mode/disengage").json()
        assert off["away_mode"] is False
        assert not attempts.exists() and not (home / RECORD_FILE).exists()
    finally:
        first.stop()
        if second is not None:
            second.stop()


# -- the controller, with an overlay a "previous server" left up ------------------------------------------------


def make_store(home: Path, *, pin: bool = True) -> SettingsStore:
    home.mkdir(parents=True, exist_ok=True)
    store = SettingsStore(home / "settings.json", state_dir_display=str(home))
    store.load()
    if pin:
        store.update(away_mode=new_pin_settings(store.get().away_mode, PIN, None))
    return store


@pytest.fixture
async def orphan(xsession: XSession, tmp_path: Path) -> AsyncIterator[tuple[subprocess.Popen[bytes], OverlayRecord]]:
    """An overlay whose server is gone: its status lines go nowhere, and the record names it."""
    hashes = tmp_path / "hashes.json"
    make_store(tmp_path / "old")
    hashes.write_bytes((tmp_path / "old" / "settings.json").read_bytes())
    argv = [sys.executable, "-m", "contop.desktop.overlay", "--settings", str(hashes)]
    proc = subprocess.Popen(
        argv, env=xsession.child_env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        while True:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
            assert line, "the overlay exited"
            if json.loads(line)["event"] == "ready":
                break
        proc.stdout.close()  # the server died
        started = start_time(Path(f"/proc/{proc.pid}/stat").read_text())
        assert started is not None
        record = OverlayRecord(proc.pid, started, tuple(argv), xsession.display, datetime.now(UTC).isoformat(), "phone")
        yield proc, record
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@pytest.mark.x11
@pytest.mark.timeout(90)
async def test_an_overlay_that_cannot_be_replaced_stays_up_and_the_phone_can_still_end_it(
    xsession: XSession, tmp_path: Path, orphan: tuple[subprocess.Popen[bytes], OverlayRecord]
) -> None:
    proc, record = orphan
    home = tmp_path / "home"
    store = make_store(home, pin=False)  # no PIN here any more: our own overlay refuses to start
    (home / RECORD_FILE).write_bytes(record.dumps())
    ctl = AwayModeController(store, env=xsession.child_env(), idle_source=lambda: 0.0,
                             timing=AwayTiming(poll_interval=3600, orphan_poll=0.05))  # fmt: skip
    try:
        await ctl.start()
        status = ctl.status()
        assert status["away_mode"] is True and status["overlay_active"] is True and status["engaged_by"] == "phone"
        assert proc.poll() is None  # left up: a restart never unlocks the desk
        await ctl.disengage("phone")
        assert proc.wait(5) == 0 and ctl.status()["away_mode"] is False
        assert not (home / RECORD_FILE).exists()
    finally:
        await ctl.aclose()


@pytest.mark.x11
@pytest.mark.timeout(90)
async def test_an_overlay_on_another_display_is_followed_until_it_closes(
    xsession: XSession, tmp_path: Path, orphan: tuple[subprocess.Popen[bytes], OverlayRecord], adapter: Any
) -> None:
    _proc, record = orphan
    home = tmp_path / "home"
    (home / RECORD_FILE).parent.mkdir(parents=True)
    (home / RECORD_FILE).write_bytes(record.dumps())
    ctl = AwayModeController(make_store(home), env={**xsession.child_env(), "DISPLAY": ":999"},
                             timing=AwayTiming(poll_interval=3600, orphan_poll=0.05))  # fmt: skip
    try:
        ctl._idle_source = lambda: 0.0
        await ctl.start()
        assert ctl.status()["away_mode"] is True
        await asyncio.to_thread(adapter.type_text, PIN)  # unlocked at the desk
        await asyncio.to_thread(adapter.press_key, "enter")
        deadline = time.monotonic() + 10
        while ctl.engaged:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert ctl.status()["last_unlock"] == "desk" and not (home / RECORD_FILE).exists()
    finally:
        await ctl.aclose()


_COVER_THEN_FAIL = """
import json, os, runpy, sys, time
if os.path.exists(sys.argv.pop(1)):
    print(json.dumps({"event": "covering"}), flush=True)
    time.sleep(0.5)
    print(json.dumps({"event": "error", "message": "cannot grab the keyboard: held for the test"}), flush=True)
    sys.exit(3)
runpy.run_module("contop.desktop.overlay", run_name="__main__")
"""


@pytest.mark.x11
@pytest.mark.timeout(90)
async def test_a_takeover_whose_lock_screen_fails_stays_engaged_and_tries_again(
    xsession: XSession, tmp_path: Path, orphan: tuple[subprocess.Popen[bytes], OverlayRecord]
) -> None:
    """The previous lock screen is ended once ours covers the screen; ours then fails: Away Mode stays on."""
    proc, record = orphan
    home = tmp_path / "home"
    store = make_store(home)
    (home / RECORD_FILE).write_bytes(record.dumps())
    broken = tmp_path / "broken"
    broken.touch()
    script = tmp_path / "overlay.py"
    script.write_text(_COVER_THEN_FAIL)
    ctl = AwayModeController(
        store,
        overlay_argv=[sys.executable, str(script), str(broken)],
        env=xsession.child_env(),
        idle_source=lambda: 0.0,
        timing=AwayTiming(poll_interval=3600, relock_delay=0.5),
    )
    alerts: list[str] = []
    ctl.on_alert(lambda reason, _message: alerts.append(reason))
    try:
        await ctl.start()
        assert proc.wait(5) is not None  # ended when ours covered the screen
        status = ctl.status()
        assert status["away_mode"] is True and status["overlay_active"] is False, status
        assert alerts == ["overlay_restart_failed"]
        broken.unlink()
        await asyncio.to_thread(wait_for, lambda: ctl.status()["overlay_active"], 30)
        assert ctl.status()["away_mode"] is True
        assert json.loads((home / RECORD_FILE).read_text())["pid"] not in (record.pid, None)
        assert (await ctl.disengage("phone"))["away_mode"] is False
    finally:
        await ctl.aclose()


async def test_a_damaged_record_is_kept_aside_and_locks_again_only_with_a_pin(tmp_path: Path) -> None:
    """The record exists only while the desk is locked: a damaged one still says so (the lock screen is put back
    through real servers in test_away_record_qa28). Without a PIN nobody could unlock it, so the desk is not locked."""
    home = tmp_path / "home"
    store = make_store(home, pin=False)
    (home / RECORD_FILE).write_bytes(b'{"pid": 42, "star')  # names no lock screen
    ctl = AwayModeController(store, idle_source=lambda: 0.0, timing=AwayTiming(poll_interval=3600))
    try:
        await ctl.start()
        assert ctl.status()["away_mode"] is False and not (home / RECORD_FILE).exists()
        [aside] = home.glob(f"{RECORD_FILE}.corrupt-*")
        assert aside.read_bytes() == b'{"pid": 42, "star'
    finally:
        await ctl.aclose()


def gone_overlay_record() -> OverlayRecord:
    """A record whose lock screen is gone: our own pid, with a start time that is not ours."""
    return OverlayRecord(os.getpid(), 1, ("python3", "-m", "contop.desktop.overlay"), ":0", "2024-01-01T00:00:00+00:00",
                         "idle")  # fmt: skip


@pytest.mark.x11
@pytest.mark.timeout(90)
async def test_a_record_whose_lock_screen_is_gone_locks_the_desk_again(
    xsession: XSession, tmp_path: Path, no_leftover_overlays: None
) -> None:
    """The server and its lock screen both died (or the machine restarted) while locked: nobody unlocked the desk."""
    home = tmp_path / "home"
    store = make_store(home)
    (home / RECORD_FILE).write_bytes(gone_overlay_record().dumps())
    (home / ATTEMPTS_FILE).write_text(json.dumps({"failed_attempts": 3, "locked_until": 0.0}))
    ctl = AwayModeController(store, env=xsession.child_env(), idle_source=lambda: 0.0,
                             timing=AwayTiming(poll_interval=3600))  # fmt: skip
    alerts: list[str] = []
    ctl.on_alert(lambda reason, _message: alerts.append(reason))
    watch: LockWatch | None = None
    try:
        await ctl.start()
        status = ctl.status()
        assert status["away_mode"] is True and status["overlay_active"] is True, status
        assert status["engaged_by"] == "idle" and status["engaged_at"].startswith("2024-01-01")
        assert status["failed_attempts"] == 3
        assert alerts == ["overlay_killed"]
        [pid] = overlay_processes()
        assert json.loads((home / RECORD_FILE).read_text())["pid"] == pid
        watch = LockWatch(xsession)
        await asyncio.sleep(0.3)
        assert watch.samples > 10 and watch.bare == 0, (watch.samples, watch.bare)
        assert (await ctl.disengage("phone"))["away_mode"] is False
        assert not (home / RECORD_FILE).exists()
    finally:
        if watch is not None:
            watch.close()
        await ctl.aclose()


async def test_a_gone_lock_screen_is_not_put_back_when_away_mode_cannot_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = make_store(home, pin=False)  # the PIN was removed from settings.json while no server ran
    (home / RECORD_FILE).write_bytes(gone_overlay_record().dumps())
    ctl = AwayModeController(store, idle_source=lambda: 0.0, timing=AwayTiming(poll_interval=3600))
    try:
        await ctl.start()
        assert ctl.status()["away_mode"] is False and not (home / RECORD_FILE).exists()
    finally:
        await ctl.aclose()


@pytest.mark.x11
@pytest.mark.timeout(180)
async def test_server_and_lock_screen_both_killed_the_next_server_locks_again_but_not_after_a_desk_unlock(
    xsession: XSession, tmp_path: Path, no_leftover_overlays: None, adapter: Any
) -> None:
    home = tmp_path / "home"
    servers: list[ServerProcess] = []

    async def start() -> ServerProcess:
        server = await asyncio.to_thread(ServerProcess(home, env=dict(xsession.env)).start, 60)
        servers.append(server)
        return server

    try:
        first = await start()
        first.request("POST", "/api/away-mode/pin", json={"pin": PIN}).raise_for_status()
        first.request("POST", "/api/away-mode/engage").raise_for_status()
        [old] = overlay_processes()
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        os.killpg(old, signal.SIGKILL)  # a power cut, as far as the state directory can tell
        await asyncio.to_thread(wait_for, lambda: not overlay_processes())

        second = await start()
        status = second.request("GET", "/api/away-mode/status").json()
        assert status["away_mode"] is True and status["overlay_active"] is True, status
        [again] = overlay_processes()
        assert again != old and "locking the desk again" in second.log()

        # Now the PIN at the desk while no server listens: that is an unlock, and the next server knows it.
        assert second.stop(signal.SIGKILL) == -signal.SIGKILL
        await asyncio.to_thread(adapter.type_text, PIN)
        await asyncio.to_thread(adapter.press_key, "enter")
        await asyncio.to_thread(wait_for, lambda: not overlay_processes())
        assert not (home / RECORD_FILE).exists()
        third = await start()
        assert third.request("GET", "/api/away-mode/status").json()["away_mode"] is False
        assert not overlay_processes()
    finally:
        for server in servers:
            server.stop()


_APP = """
import sys, time
from pathlib import Path
from contop.desktop.sidecar import ParentDeath, Sidecar, SidecarConfig
side = Sidecar(SidecarConfig(home=Path(sys.argv[1]), port=0, host="127.0.0.1", parent_death=ParentDeath.default()))
side.start()
assert side.wait_healthy(30)
print(side.pid, side.port, flush=True)
time.sleep(600)
"""


@pytest.mark.x11
@pytest.mark.timeout(180)
async def test_the_desktop_app_dying_does_not_unlock_the_desk(
    xsession: XSession, tmp_path: Path, no_leftover_overlays: None
) -> None:
    """The app's server stops when the app dies (crash, kill): its lock screen stays up for the next server."""
    home = tmp_path / "home"
    env = {**os.environ, **xsession.env}
    app = subprocess.Popen([sys.executable, "-c", _APP, str(home)], stdout=subprocess.PIPE, env=env, text=True)
    second: ServerProcess | None = None
    try:
        assert app.stdout is not None
        server_pid, port = map(int, app.stdout.readline().split())
        headers = {"Authorization": f"Bearer {(home / 'admin.token').read_text().strip()}"}
        base = f"http://127.0.0.1:{port}/api/away-mode"
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            (await http.post(f"{base}/pin", json={"pin": PIN})).raise_for_status()
            (await http.post(f"{base}/engage")).raise_for_status()
        [overlay] = overlay_processes()
        watch = LockWatch(xsession)
        try:
            app.kill()  # SIGKILL: no chance to clean up; the server gets SIGTERM and its pipe's EOF
            app.wait(10)
            await asyncio.to_thread(wait_for, lambda: not alive(server_pid), 15)
            await asyncio.sleep(0.5)
        finally:
            watch.close()
        assert alive(overlay) and watch.bare == 0, (watch.samples, watch.bare)
        assert json.loads((home / RECORD_FILE).read_text())["pid"] == overlay
        log = (home / "logs" / "server.log").read_text()
        assert "Away Mode stays engaged" in log and "Away Mode disengaged" not in log

        second = await asyncio.to_thread(ServerProcess(home, env=dict(xsession.env)).start, 60)
        status = second.request("GET", "/api/away-mode/status").json()
        assert status["away_mode"] is True and status["overlay_active"] is True, status
        second.request("POST", "/api/away-mode/disengage").raise_for_status()
        await asyncio.to_thread(wait_for, lambda: not overlay_processes())
    finally:
        app.kill()
        app.wait(10)
        if app.stdout is not None:
            app.stdout.close()
        if second is not None:
            second.stop()
