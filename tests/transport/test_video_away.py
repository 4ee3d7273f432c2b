"""The phone's live video while Away Mode's lock screen is up: it shows the desktop under the lock, as the agent's
screenshots do, and follows what is drawn there. A real overlay on a real Xvfb; the track in-process, then a real
server streaming to a real aiortc phone."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import numpy as np
import pytest

from contop.platform.capture import ScreenCapturer
from contop.testing.xsession import XSession, start_xsession
from contop.transport.video import ScreenTrack

pytestmark = [pytest.mark.x11, pytest.mark.slow, pytest.mark.timeout(120)]

PIN = "8642"
GREEN, ORANGE = (0x22, 0xAA, 0x44), (0xE0, 0x80, 0x10)
BOX = (200, 150, 400, 300)  # x, y, width, height of the test's window, in screen pixels (= video pixels here)


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    missing = [p for p in ("Xvfb", "openbox", "dbus-daemon") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    session = start_xsession("1280x720x24")  # the 1280-wide video is the screen itself
    try:
        yield session
    finally:
        session.close()


class Window:
    """A plain window of one colour, which the test repaints: drawing under the lock screen."""

    def __init__(self, xsession: XSession, colour: tuple[int, int, int]) -> None:
        from Xlib import X
        from Xlib import display as xdisplay

        self.d = xdisplay.Display(xsession.display)
        x, y, w, h = BOX
        root = self.d.screen().root
        self.window = root.create_window(
            x, y, w, h, 0, self.d.screen().root_depth, X.InputOutput, X.CopyFromParent,
            override_redirect=True, background_pixel=self._pixel(colour),
        )  # fmt: skip
        self.window.map()
        self.d.sync()

    @staticmethod
    def _pixel(colour: tuple[int, int, int]) -> int:
        r, g, b = colour
        return (r << 16) | (g << 8) | b

    def paint(self, colour: tuple[int, int, int]) -> None:
        self.window.change_attributes(background_pixel=self._pixel(colour))
        self.window.clear_area()
        self.d.sync()

    def close(self) -> None:
        self.window.destroy()
        self.d.close()


@pytest.fixture
def window(xsession: XSession) -> Iterator[Window]:
    w = Window(xsession, GREEN)
    try:
        yield w
    finally:
        w.close()


def start_overlay(xsession: XSession, tmp_path: Path) -> subprocess.Popen[bytes]:
    hashes = tmp_path / "hashes.json"
    hashes.write_text(json.dumps({"pin_hash": bcrypt.hashpw(PIN.encode(), bcrypt.gensalt(4)).decode()}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "contop.desktop.overlay", "--settings", str(hashes)],
        env=xsession.child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "ready":
            return proc
    raise AssertionError("the overlay did not come up")


@pytest.fixture
def overlay(xsession: XSession, tmp_path: Path, window: Window) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_overlay(xsession, tmp_path)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def box_rgb(frame: Any) -> np.ndarray:
    """The mean colour in the middle of the test's window, in a decoded (or raw) frame."""
    rgb = frame.to_ndarray(format="rgb24")
    x, y, w, h = BOX
    cx, cy = x + w // 2, y + h // 2
    return rgb[cy - 10 : cy + 10, cx - 10 : cx + 10].reshape(-1, 3).mean(axis=0)


def close_to(rgb: np.ndarray, target: tuple[int, int, int], tol: float = 24) -> bool:
    return bool(np.all(np.abs(rgb - np.array(target)) <= tol))


async def frames_until(recv: Any, predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        frame = await asyncio.wait_for(recv(), max(0.1, deadline - time.monotonic()))
        if predicate(frame):
            return frame
        assert time.monotonic() < deadline, f"no matching frame in {timeout} s; last {box_rgb(frame)}"


@pytest.fixture
async def track(xsession: XSession) -> AsyncIterator[ScreenTrack]:
    # A forced look once a minute: what the video shows of the desktop under the lock must come from drawing
    # reports, not from looking again by the clock.
    screen = ScreenTrack(ScreenCapturer(xsession.display), owns_capturer=True, forced_look=60.0)
    try:
        yield screen
    finally:
        screen.stop()


async def test_the_track_shows_and_follows_the_desktop_under_the_lock_screen(
    track: ScreenTrack, window: Window, overlay: subprocess.Popen[bytes]
) -> None:
    await frames_until(track.recv, lambda f: close_to(box_rgb(f), GREEN), 10)  # the desktop, not the lock
    assert track.stats.under_overlay > 0
    # Frames are pulled all the time, as the encoder does: the track ticks only when asked for a frame.
    seen: list[tuple[float, np.ndarray]] = []

    async def pull() -> None:
        while True:
            frame = await track.recv()
            seen.append((time.monotonic(), box_rgb(frame)))

    puller = asyncio.create_task(pull())
    try:
        for colour in (ORANGE, GREEN, ORANGE):
            await asyncio.sleep(1.5)  # still: the track settles and waits for drawing reports
            grabs = track.stats.grabs
            changed_at = time.monotonic()
            await asyncio.to_thread(window.paint, colour)
            deadline = changed_at + 10
            while not any(t > changed_at and close_to(rgb, colour) for t, rgb in seen):
                assert time.monotonic() < deadline, f"the video never showed {colour}"
                await asyncio.sleep(0.01)
            shown_at = next(t for t, rgb in seen if t > changed_at and close_to(rgb, colour))
            # On the drawing report, not on a forced look (a minute away): a still desktop costs few grabs.
            assert shown_at - changed_at < 1.0, shown_at - changed_at
            assert track.stats.grabs - grabs < 40
    finally:
        puller.cancel()
        await asyncio.gather(puller, return_exceptions=True)

    # Unlocked: the plain capture again.
    overlay.terminate()
    overlay.wait(10)
    under = track.stats.under_overlay
    await asyncio.to_thread(window.paint, GREEN)
    await frames_until(track.recv, lambda f: close_to(box_rgb(f), GREEN), 10)
    await asyncio.sleep(0.5)
    assert track.stats.under_overlay == under


async def test_the_phone_watches_the_desktop_under_the_lock_screen(
    xsession: XSession, tmp_path: Path, window: Window
) -> None:
    """A real server streams to a real aiortc phone; Away Mode is engaged over the admin API."""
    from contop.client import ContopClient
    from contop.testing.server import ServerProcess
    from tests.transport.conftest import pair

    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=dict(xsession.env)).start)
    try:
        pin = await asyncio.to_thread(server.request, "POST", "/api/away-mode/pin", json={"pin": PIN})
        pin.raise_for_status()
        async with ContopClient(pair(server)["url"], device_id="watcher") as phone:
            await frames_until(phone.frames.get, lambda f: close_to(box_rgb(f), GREEN), 20)
            engaged = await asyncio.to_thread(server.request, "POST", "/api/away-mode/engage")
            assert engaged.status_code == 200, engaged.text
            await asyncio.sleep(1.5)
            while not phone.frames.empty():  # what came before the lock screen was up
                phone.frames.get_nowait()
            frame = await asyncio.wait_for(phone.frames.get(), 10)
            assert close_to(box_rgb(frame), GREEN), box_rgb(frame)  # the desktop, not the lock screen
            await asyncio.to_thread(window.paint, ORANGE)
            await frames_until(phone.frames.get, lambda f: close_to(box_rgb(f), ORANGE), 10)
    finally:
        await asyncio.to_thread(server.request, "POST", "/api/away-mode/disengage")
        await asyncio.to_thread(server.stop)
