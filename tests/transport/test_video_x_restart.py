"""The live video through an X server that dies and comes back on the same display number, and with no X server
at all: a real Xvfb killed and restarted inside the test, the track in-process or a real server streaming to a real
aiortc phone. Also the wording of the video's status messages and the lowest frame rate the settings accept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contop.core.errors import NotAvailableError
from contop.core.settings import Settings, validate_settings
from contop.platform.capture import ScreenCapturer
from contop.platform.geometry import Rect
from contop.transport import video
from contop.transport.video import ScreenTrack, create_screen_track

pytestmark = pytest.mark.timeout(120)

BACKGROUND = (0x20, 0x80, 0xC0)


class RestartableXvfb:
    """An Xvfb that the test kills and starts again on the same display number, as a desktop's X server restarts.

    It quacks like ``XSession`` where the Away Mode helpers need one (``display``, ``child_env()``).
    """

    def __init__(self, screen: str = "1280x720x24") -> None:
        self.screen = screen
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="contop-xrestart-"))
        self.runtime_dir.chmod(0o700)
        self.proc: subprocess.Popen[bytes] | None = None
        # A number far above the ones other test runs take with -displayfd (the lowest free): while this server is
        # down between kill() and start_again(), another run on this machine must not take its number.
        for number in random.sample(range(600, 1000), 40):
            if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
                continue
            self.display = f":{number}"
            self.proc = self._spawn([self.display])
            with contextlib.suppress(AssertionError):
                self._wait_up()
                return
            self.kill()
        raise AssertionError("no free X display number for the test's Xvfb")

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["Xvfb", *args, "-screen", "0", self.screen, "-nolisten", "tcp", "-noreset", "+extension", "XTEST"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def _wait_up(self, timeout: float = 15.0) -> None:
        from contop.platform.linux.xconnect import close_display, open_display  # frees a failed try's sockets

        deadline = time.monotonic() + timeout
        while (connection := open_display(self.display, "test probe")) is None:
            assert self.proc is not None and self.proc.poll() is None, "Xvfb exited"
            assert time.monotonic() < deadline, f"Xvfb {self.display} did not come up"
            time.sleep(0.05)
        close_display(connection, "test probe")
        assert self.proc is not None and self.proc.poll() is None, f"another X server holds {self.display}"

    def kill(self) -> None:
        """SIGTERM, as a session ending does: Xvfb removes its lock file and socket, so the number is free again."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def start_again(self) -> None:
        assert self.proc is None
        self.proc = self._spawn([self.display])
        self._wait_up()

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DISPLAY": self.display,
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "XDG_SESSION_TYPE": "x11",
            "QT_QPA_PLATFORM": "xcb",
            "WAYLAND_DISPLAY": "",
        }

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


@pytest.fixture
def xvfb() -> Iterator[RestartableXvfb]:
    if shutil.which("Xvfb") is None or shutil.which("xsetroot") is None:
        pytest.skip("needs Xvfb and xsetroot (apt-get install xvfb x11-xserver-utils)")
    server = RestartableXvfb()
    try:
        yield server
    finally:
        server.close()


def _root(xvfb: RestartableXvfb, colour: str) -> None:
    subprocess.run(["xsetroot", "-solid", colour], env=xvfb.child_env(), check=True, timeout=10)


def _move_pointer(xvfb: RestartableXvfb, x: int, y: int) -> None:
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    connection = xdisplay.Display(xvfb.display)
    try:
        xtest.fake_input(connection, X.MotionNotify, x=x, y=y)
        connection.sync()
    finally:
        connection.close()


def _pointer_drawn_at(frame: Any, x: int, y: int, background: tuple[int, int, int] = BACKGROUND) -> bool:
    """Whether the pixels just below and right of (x, y) are not the background: the pointer's sprite, whose hot
    spot is at its top-left (frames at the screen's size here)."""
    rgb = frame.to_ndarray(format="rgb24").astype(int)
    patch = rgb[y + 2 : y + 10, x + 2 : x + 10].reshape(-1, 3)
    return bool((np.abs(patch - np.array(background)).max(axis=1) > 60).sum() >= 8)


class Puller:
    """Pulls frames from the track all the time, as aiortc's encoder does (the track only ticks when asked)."""

    def __init__(self, track: ScreenTrack) -> None:
        self.track = track
        self.frames: list[tuple[float, Any]] = []
        self.task = asyncio.get_running_loop().create_task(self._pull())

    async def _pull(self) -> None:
        while True:
            frame = await self.track.recv()
            self.frames.append((time.monotonic(), frame))

    async def frame_where(self, check: Any, timeout: float, since: float = 0.0) -> Any:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for t, frame in self.frames[seen:]:
                if t >= since and check(frame):
                    return frame
            seen = len(self.frames)
            assert not self.task.done(), self.task
            assert time.monotonic() < deadline, "no matching frame in time"
            await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _status_seen(statuses: list[tuple[str, str]], kind: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        for seen, text in statuses:
            if seen == kind:
                return text
        assert time.monotonic() < deadline, f"no {kind} in {statuses}"
        await asyncio.sleep(0.02)


@pytest.mark.x11
@pytest.mark.slow
async def test_an_open_stream_keeps_its_pointer_and_damage_reports_through_an_x_server_restart(
    xvfb: RestartableXvfb,
) -> None:
    """The X server dies under an open stream and comes back on the same display number. Before, the stream came
    back without the pointer and without DAMAGE (comparing the whole screen 15 times a second): the watches' X
    connections were opened once and never again. The forced look and the keep-alive are pushed out of the way,
    so a still screen is grabbed only when DAMAGE is back off."""
    _root(xvfb, "#2080c0")
    _move_pointer(xvfb, 400, 300)
    track = ScreenTrack(
        ScreenCapturer(xvfb.display), owns_capturer=True, width=1280, forced_look=60.0, keepalive_fps=0.05
    )
    statuses: list[tuple[str, str]] = []
    track.on_status = lambda kind, text: statuses.append((kind, text))
    puller = Puller(track)
    try:
        await puller.frame_where(lambda f: _pointer_drawn_at(f, 400, 300), 10)
        assert track._damage is not None and track._pointer is not None

        await asyncio.to_thread(xvfb.kill)
        await _status_seen(statuses, "video_unavailable", 10)
        await asyncio.to_thread(xvfb.start_again)
        restarted = time.monotonic()
        _root(xvfb, "#2080c0")
        await _status_seen(statuses, "video_resumed", 10)

        # The pointer is drawn again, where it is on the new server (the test moves it after the reopening).
        deadline = time.monotonic() + 10
        moved_at = 0.0
        while True:
            _move_pointer(xvfb, 800, 500)
            moved_at = time.monotonic()
            with contextlib.suppress(AssertionError):
                await puller.frame_where(lambda f: _pointer_drawn_at(f, 800, 500), 1.0, since=moved_at)
                break
            assert time.monotonic() < deadline, "the pointer never came back into the video after the restart"
        assert moved_at > restarted

        # DAMAGE is back: a settled, still screen is not grabbed at all (without it: 15 grabs a second).
        await asyncio.sleep(2.5)
        assert track._damage is not None
        grabs = track.stats.grabs
        await asyncio.sleep(2.0)
        assert track.stats.grabs - grabs <= 3, track.stats.grabs - grabs
        assert [kind for kind, _ in statuses] == ["video_unavailable", "video_resumed"]
    finally:
        await puller.aclose()
        track.stop()


@pytest.mark.x11
@pytest.mark.slow
async def test_the_desktop_under_the_lock_screen_is_shown_again_after_an_x_server_restart(
    xvfb: RestartableXvfb, tmp_path: Path
) -> None:
    """Away Mode's lock screen is put back on the restarted X server; the open stream must show the desktop under
    it again, not the lock screen (before, the view under the overlay was dropped for good). This runs at the
    track level, with the real lock-screen overlay process: the server's own re-engaging is not what is tested."""
    if shutil.which("openbox") is None:
        pytest.skip("needs openbox")
    from tests.transport.test_video_away import GREEN, ORANGE, Window, box_rgb, close_to, start_overlay

    def up() -> tuple[Window, subprocess.Popen[bytes]]:
        window = Window(xvfb, GREEN)  # type: ignore[arg-type]
        return window, start_overlay(xvfb, tmp_path)  # type: ignore[arg-type]

    window, overlay = await asyncio.to_thread(up)
    track = ScreenTrack(ScreenCapturer(xvfb.display), owns_capturer=True, width=1280)
    statuses: list[tuple[str, str]] = []
    track.on_status = lambda kind, text: statuses.append((kind, text))
    puller = Puller(track)
    try:
        await puller.frame_where(lambda f: close_to(box_rgb(f), GREEN), 15)  # the desktop, not the lock
        assert track.stats.under_overlay > 0

        await asyncio.to_thread(xvfb.kill)
        overlay.wait(10)  # the lock screen's process ends with its X server
        assert overlay.stdout is not None
        overlay.stdout.close()
        with contextlib.suppress(Exception):
            window.close()
        await _status_seen(statuses, "video_unavailable", 10)
        await asyncio.to_thread(xvfb.start_again)
        window, overlay = await asyncio.to_thread(up)  # the desktop and its lock screen, back on the new server
        await _status_seen(statuses, "video_resumed", 10)
        back = time.monotonic()
        await asyncio.to_thread(window.paint, ORANGE)
        await puller.frame_where(lambda f: close_to(box_rgb(f), ORANGE), 10, since=back)
        await asyncio.sleep(1.0)
        latest = puller.frames[-1][1]
        assert close_to(box_rgb(latest), ORANGE), box_rgb(latest)  # and it stays so: not the lock screen
    finally:
        await puller.aclose()
        track.stop()
        if overlay.poll() is None:
            overlay.terminate()
        overlay.wait(10)
        if overlay.stdout is not None:
            overlay.stdout.close()
        with contextlib.suppress(Exception):
            window.close()


@pytest.mark.x11
@pytest.mark.slow
async def test_a_phone_connecting_while_the_x_server_is_down_is_told_and_gets_the_screen_when_it_is_back(
    xvfb: RestartableXvfb, tmp_path: Path
) -> None:
    """The server has a display but its X server is down when the phone connects. Before, the phone got a video
    section with no frames, ever, and was never told why; now it is told, and gets the picture once X is back."""
    from contop.client import ContopClient
    from contop.testing.server import ServerProcess
    from tests.transport.conftest import pair

    await asyncio.to_thread(xvfb.kill)
    server = ServerProcess(tmp_path / "home", env=xvfb.child_env())
    try:
        await asyncio.to_thread(server.start)
        async with ContopClient(pair(server)["url"], device_id="early-bird") as client:
            status = (await client.next_message("agent_status", timeout=20)).to_dict()["payload"]
            assert status["status_type"] == "video_unavailable", status
            assert "live screen stopped" in status["message"] and ".." not in status["message"], status
            assert client.frame_count == 0
            await asyncio.to_thread(xvfb.start_again)
            await asyncio.to_thread(_root, xvfb, "#2080c0")
            frame = await asyncio.wait_for(client.frames.get(), 20)
            assert (frame.width, frame.height) == (1280, 720)
            resumed = (await client.next_message("agent_status", timeout=10)).to_dict()["payload"]
            assert resumed["status_type"] == "video_resumed", resumed
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_headless_server_offers_no_screen_track(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No display at all (no DISPLAY, none named): nothing will ever be captured, so no track is offered and the
    log says why; a named display that is down gets a track that retries (above)."""
    monkeypatch.delenv("DISPLAY", raising=False)
    with caplog.at_level(logging.WARNING, logger="contop.transport.video"):
        track = await create_screen_track(None)
    assert track is None
    assert any("no screen video" in r.getMessage() for r in caplog.records)


class _GoneCapturer(ScreenCapturer):
    """Fails its first grab as mss does without an X server (the message ends with a full stop), then works."""

    def __init__(self) -> None:
        super().__init__(":4242")
        self.failed = False

    def grab(self, monitor: int = -1) -> Any:
        if not self.failed:
            self.failed = True
            raise NotAvailableError("cannot capture the screen: no usable display. Start Xvfb and set DISPLAY.")
        return np.full((720, 1280, 4), 0x80, np.uint8), Rect(0, 0, 1280, 720)


async def test_the_unavailable_message_has_one_full_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "CAPTURE_RETRY_SECONDS", 0.05)
    track = ScreenTrack(_GoneCapturer(), owns_capturer=True, watch_damage=False, show_pointer=False)
    statuses: list[tuple[str, str]] = []
    track.on_status = lambda kind, text: statuses.append((kind, text))
    try:
        await asyncio.wait_for(track.recv(), 5)
    finally:
        track.stop()
    unavailable = statuses[0][1]
    assert "set DISPLAY. Trying again every few seconds." in unavailable and ".." not in unavailable, unavailable


class _ChangingCapturer(ScreenCapturer):
    """A screen that changes at every grab."""

    def __init__(self) -> None:
        super().__init__(":4242")
        self.grabs = 0

    def grab(self, monitor: int = -1) -> Any:
        self.grabs += 1
        return np.full((720, 1280, 4), self.grabs % 256, np.uint8), Rect(0, 0, 1280, 720)


async def test_a_frame_rate_below_one_is_sent_as_one_frame_a_second() -> None:
    """0.001 fps left the phone without a frame for 13 s. Settings holding it stay valid (an upgrade must not set
    a user's settings file aside), and the screen is sent at one frame a second."""
    assert validate_settings({**Settings().to_json_dict(), "video_fps": 0.001}).video_fps == 0.001
    track = ScreenTrack(_ChangingCapturer(), fps=0.001, owns_capturer=True, watch_damage=False, show_pointer=False)
    try:
        await asyncio.wait_for(track.recv(), 5)
        began = time.monotonic()
        await asyncio.wait_for(track.recv(), 5)
        assert time.monotonic() - began < 2.0
    finally:
        track.stop()
