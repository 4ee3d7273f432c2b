"""The lock overlay as a real process on a real X server: keys blocked, clicks through, PIN unlocks, rate limit."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from contop.testing.xsession import XSession, linux_adapter_for_tests, start_xsession, xsession_for_tests
from tests.platform.conftest import RecorderApp, launch_recorder

pytestmark = [pytest.mark.x11, pytest.mark.timeout(90)]

PIN = "2468"
EMERGENCY = "97531864"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "away"


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    yield from xsession_for_tests("1920x1080x24")


@pytest.fixture(scope="module")
def adapter(xsession: XSession) -> Iterator[Any]:
    yield from linux_adapter_for_tests(xsession)


@pytest.fixture(scope="module")
def hash_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("away") / "hashes.json"
    path.write_text(
        json.dumps(
            {
                "pin_hash": bcrypt.hashpw(PIN.encode(), bcrypt.gensalt(10)).decode(),
                "emergency_pin_hash": bcrypt.hashpw(EMERGENCY.encode(), bcrypt.gensalt(10)).decode(),
            }
        )
    )
    return path


@pytest.fixture
def recorder(xsession: XSession, tmp_path: Path) -> Iterator[RecorderApp]:
    app = launch_recorder(xsession, tmp_path)
    try:
        yield app
    finally:
        app.stop()


class Overlay:
    """The overlay process and its status lines."""

    def __init__(self, xsession: XSession, settings: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "contop.desktop.overlay", "--settings", str(settings), *extra],
            env=xsession.child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(json.loads(raw))

    def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        event = self.lines.get(timeout=timeout)
        self.seen.append(event)
        return event

    def expect(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.next_event(max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind!r} event in {timeout}s; saw {self.seen}") from None
            if event["event"] == kind:
                return event

    def no_event(self, within: float) -> None:
        try:
            event = self.next_event(within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected event {event}")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start_overlay(xsession: XSession, hash_file: Path) -> Iterator[Any]:
    started: list[Overlay] = []

    def start(*extra: str, settings: Path | None = None) -> Overlay:
        overlay = Overlay(xsession, settings or hash_file, *extra)
        started.append(overlay)
        return overlay

    yield start
    for overlay in started:
        overlay.close()


def type_pin(adapter: Any, digits: str) -> None:
    adapter.type_text(digits)
    adapter.press_key("enter")


def screenshot(xsession: XSession, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    subprocess.run(["import", "-window", "root", str(path)], env=xsession.child_env(), check=True, timeout=30)
    return path


def test_keys_are_swallowed_clicks_pass_through_and_the_pin_unlocks(
    xsession: XSession, adapter: Any, recorder: RecorderApp, start_overlay: Any
) -> None:
    # Control: without the overlay, typed letters do reach the recorder.
    adapter.type_text("ok")
    recorder.wait_for(lambda ev: recorder.last_text() == "ok")

    overlay = start_overlay()
    ready = overlay.expect("ready", timeout=20)
    assert ready["monitors"] == 1
    assert ready["local_pointers_blocked"] == 1  # "Xvfb mouse"; the XTest pointer stays free
    assert _attachment(xsession, "Xvfb mouse") != _attachment(xsession, "Virtual core XTEST pointer")

    before = len(recorder.events())
    adapter.type_text("secret")
    adapter.hotkey("alt", "f4")
    adapter.press_key("escape")
    x, y = recorder.center("Alpha")
    adapter.click(x, y)
    # The click arrives at the button under the overlay, where it was aimed ...
    events = recorder.wait_for(lambda ev: any(e["event"] == "pressed" and e["name"] == "Alpha" for e in ev[before:]))
    press = next(e for e in events[before:] if e["event"] == "button")
    assert (press["x"], press["y"]) == (x, y)
    assert press["widget"] == "Alpha"
    time.sleep(0.5)
    # ... but no key did: no key event, the text is unchanged, and the window is still open (no Alt+F4).
    after = recorder.events()[before:]
    assert [e for e in after if e["event"] in ("key", "text")] == []
    assert recorder.proc.poll() is None
    overlay.no_event(0.2)
    screenshot(xsession, "overlay-locked.png")

    type_pin(adapter, PIN)
    assert overlay.expect("unlocked") == {"event": "unlocked", "by": "pin"}
    assert overlay.proc.wait(10) == 0
    # The mouse at the desk is back on the core pointer, and the keyboard is released: typing reaches the recorder.
    assert _attachment(xsession, "Xvfb mouse") == _attachment(xsession, "Virtual core XTEST pointer")
    adapter.type_text("z")
    recorder.wait_for(lambda ev: recorder.last_text() == "okz")


def _attachment(xsession: XSession, name: str) -> int:
    """The master a pointer device is attached to (a grabbed slave is detached while the grab lasts)."""
    from Xlib import display as xdisplay
    from Xlib.ext import xinput

    d = xdisplay.Display(xsession.display)
    try:
        d.xinput_query_version()
        for device in d.xinput_query_device(xinput.AllDevices).devices:
            label = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
            if label == name:
                return int(device.attachment) if device.use == xinput.SlavePointer else -1
    finally:
        d.close()
    raise AssertionError(f"no input device {name!r}")


def test_digits_only_count_and_backspace_edits(adapter: Any, start_overlay: Any) -> None:
    overlay = start_overlay()
    overlay.expect("ready", timeout=20)
    # Letters between the digits are swallowed; backspace removes the stray 9.
    adapter.type_text("2a4b69")
    adapter.press_key("backspace")
    adapter.type_text("8")
    adapter.press_key("enter")
    assert overlay.expect("unlocked")["by"] == "pin"
    assert overlay.proc.wait(10) == 0


def test_emergency_pin_unlocks(adapter: Any, start_overlay: Any) -> None:
    overlay = start_overlay()
    overlay.expect("ready", timeout=20)
    type_pin(adapter, EMERGENCY)
    assert overlay.expect("unlocked") == {"event": "unlocked", "by": "emergency_pin"}
    assert overlay.proc.wait(10) == 0


def test_wrong_pins_are_rate_limited(xsession: XSession, adapter: Any, start_overlay: Any) -> None:
    overlay = start_overlay("--free-attempts", "2", "--delay", "3")
    overlay.expect("ready", timeout=20)
    type_pin(adapter, "1111")
    assert overlay.expect("wrong_pin") == {"event": "wrong_pin", "attempts": 1, "locked_for": 0}
    type_pin(adapter, "2222")
    assert overlay.expect("wrong_pin") == {"event": "wrong_pin", "attempts": 2, "locked_for": 3}
    locked_at = time.monotonic()
    time.sleep(0.5)
    screenshot(xsession, "overlay-rate-limited.png")
    # While locked out even the right PIN does nothing.
    type_pin(adapter, PIN)
    overlay.no_event(0.5)
    assert overlay.proc.poll() is None
    time.sleep(max(0.0, 3.2 - (time.monotonic() - locked_at)))
    type_pin(adapter, PIN)
    assert overlay.expect("unlocked")["by"] == "pin"


def test_sigterm_closes_cleanly(start_overlay: Any) -> None:
    overlay = start_overlay()
    overlay.expect("ready", timeout=20)
    overlay.proc.send_signal(signal.SIGTERM)
    assert overlay.expect("closed") == {"event": "closed", "by": "signal"}
    assert overlay.proc.wait(10) == 0


def test_no_pin_no_lock(start_overlay: Any, tmp_path: Path) -> None:
    empty = tmp_path / "settings.json"
    empty.write_text(json.dumps({"away_mode": {"pin_hash": "", "emergency_pin_hash": ""}}))
    overlay = start_overlay(settings=empty)
    assert overlay.expect("error")["message"].startswith("no Away Mode PIN")
    assert overlay.proc.wait(10) == 2


def test_stays_on_top_of_a_window_raised_later(
    xsession: XSession, adapter: Any, start_overlay: Any, tmp_path: Path
) -> None:
    overlay = start_overlay()
    overlay.expect("ready", timeout=20)
    late = launch_recorder(xsession, tmp_path, title="Late window", geometry="400x300+300+300")
    try:
        adapter.focus_window("Late window")
        from Xlib import display as xdisplay

        d = xdisplay.Display(xsession.display)
        try:
            deadline = time.monotonic() + 5
            while True:
                top = d.screen().root.query_tree().children[-1]
                if top.get_wm_class() == ("contop-away-mode", "ContopAwayMode"):
                    break
                assert time.monotonic() < deadline, f"top window is {top.get_wm_class()}"
                time.sleep(0.1)
        finally:
            d.close()
    finally:
        late.proc.kill()
        late.proc.wait(5)
    type_pin(adapter, PIN)
    overlay.expect("unlocked")


def _save(pixels: Any, name: str) -> None:
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    h, w = pixels.shape[:2]
    Image.frombuffer("RGB", (w, h), pixels.tobytes(), "raw", "BGRX", 0, 1).save(ARTIFACTS / name)


def test_capture_leaves_the_overlay_out(
    xsession: XSession, recorder: RecorderApp, start_overlay: Any, adapter: Any, tmp_path: Path
) -> None:
    from Xlib import display as xdisplay

    from contop.desktop.away_capture import capture_without_overlay, overlay_active
    from contop.platform.capture import ScreenCapturer

    blue = [0xCC, 0x66, 0x33]  # the recorder canvas (#3366cc) in BGRA order
    cx, cy = recorder.center("canvas")
    overlay = start_overlay()
    overlay.expect("ready", timeout=20)
    d = xdisplay.Display(xsession.display)
    capturer = ScreenCapturer(display=xsession.display)
    late: RecorderApp | None = None
    try:
        assert overlay_active(d)
        # What the phone's video and the agent's screenshots grab today (mss, root window): the lock screen.
        on_glass, _ = capturer.grab()
        _save(on_glass, "capture-root-while-locked.png")
        assert list(on_glass[cy, cx, :3]) != blue

        started = time.perf_counter()
        under = capture_without_overlay(d)
        elapsed = time.perf_counter() - started
        _save(under, "capture-without-overlay.png")
        assert under.shape == on_glass.shape
        assert list(under[cy, cx, :3]) == blue
        assert list(under[1000, 1800, :3]) == [0, 0, 0]  # bare root, not the overlay's background
        assert elapsed < 2.0, elapsed

        # A window opened while locked is captured too, and the overlay stays above it on the glass.
        late = launch_recorder(
            xsession, tmp_path, title="Opened while locked", geometry="500x300+900+500", color="#22aa44"
        )
        lx, ly = late.center("canvas")
        deadline = time.monotonic() + 5
        while list(capture_without_overlay(d)[ly, lx, :3]) != [0x44, 0xAA, 0x22]:
            assert time.monotonic() < deadline, "the new window never showed in the capture"
            time.sleep(0.1)
        time.sleep(0.3)
        assert list(capturer.grab()[0][ly, lx, :3]) != [0x44, 0xAA, 0x22]
        _save(capture_without_overlay(d), "capture-without-overlay-new-window.png")

        type_pin(adapter, PIN)
        overlay.expect("unlocked")
        overlay.proc.wait(10)
        assert not overlay_active(d)
    finally:
        if late is not None:
            late.proc.kill()
            late.proc.wait(5)
        capturer.close()
        d.close()


def test_one_window_per_monitor(hash_file: Path) -> None:
    from Xlib import display as xdisplay

    session = start_xsession("1920x1080x24", dbus=False)
    try:
        env = session.child_env()
        for name, geometry in (("LEFT", "1280/338x1080/286+0+0"), ("RIGHT", "640/169x1080/286+1280+0")):
            subprocess.run(["xrandr", "--setmonitor", name, geometry, "none"], env=env, check=True, timeout=10)
        overlay = Overlay(session, hash_file)
        try:
            assert overlay.expect("ready", timeout=20)["monitors"] == 2
            d = xdisplay.Display(session.display)
            try:
                boxes = []
                for window in d.screen().root.query_tree().children:
                    if window.get_wm_class() == ("contop-away-mode", "ContopAwayMode"):
                        g = window.get_geometry()
                        assert window.get_attributes().override_redirect
                        boxes.append((g.x, g.y, g.width, g.height))
                assert sorted(boxes) == [(0, 0, 1280, 1080), (1280, 0, 640, 1080)]
            finally:
                d.close()
        finally:
            overlay.close()
    finally:
        session.close()


# -- another X client moving the lock screen off the glass --------------------------------------------------------

OVERLAY_CLASS = ("contop-away-mode", "ContopAwayMode")
CANVAS_BGR = [0xCC, 0x66, 0x33]  # the recorder's canvas (#3366cc) as the root image stores it


def _lock_window(d: Any) -> Any:
    [window] = [w for w in d.screen().root.query_tree().children if w.get_wm_class() == OVERLAY_CLASS]
    return window


def _on_glass(d: Any, x: int, y: int) -> list[int]:
    """The pixel the desk sees at (x, y), the lock screen included."""
    from Xlib import X

    return list(d.screen().root.get_image(x, y, 1, 1, X.ZPixmap, 0xFFFFFFFF).data[:3])


def _covers_the_screen(d: Any, window: Any) -> bool:
    g = window.get_geometry()
    parent = window.query_tree().parent
    shaped = window.shape_query_extents().bounding_shaped
    return parent.id == d.screen().root.id and (g.x, g.y, g.width, g.height) == (0, 0, 1920, 1080) and not shaped


def _expect_tampered(overlay: Overlay, what: str) -> None:
    """A report of ``what``; a reparent unmaps the window, both ways, so "unmapped" reports may come around it."""
    seen = []
    while (event := overlay.expect("tampered", timeout=2))["what"] != what:
        seen.append(event["what"])
    assert set(seen) <= {"unmapped"}, seen


def test_a_lock_screen_resized_and_moved_by_another_client_puts_itself_back(
    xsession: XSession, adapter: Any, recorder: RecorderApp, start_overlay: Any
) -> None:
    from Xlib import display as xdisplay

    cx, cy = recorder.center("canvas")  # a window the lock screen must hide
    overlay = start_overlay()
    overlay.expect("ready", timeout=20)
    d = xdisplay.Display(xsession.display)
    try:
        window = _lock_window(d)
        assert _on_glass(d, cx, cy) != CANVAS_BGR
        wid = str(window.id)
        subprocess.run(
            ["xdotool", "windowsize", wid, "200", "150", "windowmove", wid, "1700", "900"],
            env=xsession.child_env(),
            check=True,
            timeout=10,
        )
        attacked = time.monotonic()
        while not _covers_the_screen(d, window) or _on_glass(d, cx, cy) == CANVAS_BGR:
            assert time.monotonic() - attacked < 1.0, f"not put back: {window.get_geometry()._data}"
            time.sleep(0.02)
        assert overlay.expect("tampered", timeout=2)["what"] in ("resized", "moved")
        time.sleep(1.5)  # and it stays so (nothing undoes the repair)
        assert _covers_the_screen(d, window) and _on_glass(d, cx, cy) != CANVAS_BGR
    finally:
        d.close()
    type_pin(adapter, PIN)  # it still holds the keyboard
    assert overlay.expect("unlocked")["by"] == "pin"


def test_a_lock_screen_reparented_or_reshaped_by_another_client_puts_itself_back(
    xsession: XSession, adapter: Any, recorder: RecorderApp, start_overlay: Any
) -> None:
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.ext import shape

    cx, cy = recorder.center("canvas")
    overlay = start_overlay()
    overlay.expect("ready", timeout=20)
    d = xdisplay.Display(xsession.display)
    try:
        window = _lock_window(d)
        root = d.screen().root
        # Into a small window of ours: the lock screen would show only through that.
        box = root.create_window(1700, 900, 200, 150, 0, X.CopyFromParent, override_redirect=True)
        box.map()
        window.reparent(box, 0, 0)
        d.sync()
        attacked = time.monotonic()
        while not _covers_the_screen(d, window) or _on_glass(d, cx, cy) == CANVAS_BGR:
            assert time.monotonic() - attacked < 1.0, "not put back after a reparent"
            time.sleep(0.02)
        _expect_tampered(overlay, "reparented")

        # A bounding shape of 10x10 pixels: everything else on the glass would be the desktop.
        window.shape_rectangles(shape.SO.Set, shape.SK.Bounding, X.Unsorted, 0, 0, [(0, 0, 10, 10)])
        d.sync()
        attacked = time.monotonic()
        while not _covers_the_screen(d, window) or _on_glass(d, cx, cy) == CANVAS_BGR:
            assert time.monotonic() - attacked < 1.0, "not put back after a reshape"
            time.sleep(0.02)
        _expect_tampered(overlay, "reshaped")
        box.destroy()
        d.sync()
    finally:
        d.close()
    type_pin(adapter, PIN)  # the keyboard grab, lost while the window was off the screen, is back
    assert overlay.expect("unlocked")["by"] == "pin"


# -- wrong PINs outlive the lock screen ---------------------------------------------------------------------------


def test_wrong_pins_and_their_lockout_outlive_the_lock_screen(adapter: Any, start_overlay: Any, tmp_path: Path) -> None:
    """Killed with nobody to hear of its wrong PINs (its server down), a lock screen's successor starts locked out
    until the lockout's own end, not with fresh attempts."""
    attempts = tmp_path / "away-attempts.json"
    args = ("--free-attempts", "2", "--delay", "8", "--attempts-file", str(attempts))
    first = start_overlay(*args)
    first.expect("ready", timeout=20)
    type_pin(adapter, "1111")
    first.expect("wrong_pin")
    type_pin(adapter, "2222")
    assert first.expect("wrong_pin")["locked_for"] == 8
    locked_at = time.monotonic()
    assert attempts.stat().st_mode & 0o777 == 0o600
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(5)

    second = start_overlay(*args)  # no --failed-attempts: nobody told the server
    assert second.expect("ready", timeout=20)["failed_attempts"] == 2
    assert time.monotonic() - locked_at < 6, "the overlay took too long to start for this test"
    type_pin(adapter, PIN)  # inside the lockout: the right PIN does nothing
    second.no_event(0.5)
    assert second.proc.poll() is None
    # The lockout ends when the first one's did (8 s after the wrong PIN), not 8 s after the restart.
    time.sleep(max(0.0, 8.3 - (time.monotonic() - locked_at)))
    type_pin(adapter, PIN)
    assert second.expect("unlocked", timeout=5)["by"] == "pin"
    assert time.monotonic() - locked_at < 8 + 3
    assert not attempts.exists()  # unlocked: the next lock starts with every attempt free
