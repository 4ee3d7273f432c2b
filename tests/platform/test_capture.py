"""Screen capture on Xvfb: size, JPEG validity, pixels, threads and the async wrapper."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simplejpeg

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.capture import ScreenCapturer, bgra_to_rgb, downscale, encode_jpeg
from contop.testing.xsession import XSession

from .conftest import launch_recorder

pytestmark = pytest.mark.x11


@pytest.fixture
def capturer(xsession: XSession) -> Any:
    cap = ScreenCapturer(xsession.display)
    yield cap
    cap.close()


def test_full_hd_capture_is_1280_wide_jpeg(capturer: ScreenCapturer) -> None:
    frame = capturer.capture()
    assert (frame.width, frame.height) == (1280, 720)
    assert frame.jpeg[:2] == b"\xff\xd8" and frame.jpeg[-2:] == b"\xff\xd9"
    image = simplejpeg.decode_jpeg(frame.jpeg)
    assert image.shape == (720, 1280, 3)
    assert frame.geometry.to_native(640, 360) == (960, 540)


def test_pixels_reflect_a_known_window(xsession: XSession, capturer: ScreenCapturer, tmp_path: Path) -> None:
    app = launch_recorder(xsession, tmp_path, geometry="800x600+300+200", color="#20c040")
    try:
        cx, cy, cw, ch = app.ready["canvas"]
        frame = capturer.capture(quality=90)
        rgb = simplejpeg.decode_jpeg(frame.jpeg)
        sx, sy = frame.geometry.to_shot(cx + cw // 2, cy + ch // 2)
        patch = rgb[sy - 5 : sy + 5, sx - 5 : sx + 5].reshape(-1, 3).mean(axis=0)
        assert np.allclose(patch, (0x20, 0xC0, 0x40), atol=8), patch
        # Outside the window the root is black.
        assert rgb[5, 5].max() < 10
        # Native grab: exact colour.
        bgra, rect = capturer.grab()
        assert (rect.width, rect.height) == (1920, 1080)
        assert tuple(bgra[cy + 10, cx + 10][:3]) == (0x40, 0xC0, 0x20)
    finally:
        app.proc.terminate()
        app.proc.wait(5)


def test_monitors_and_errors(capturer: ScreenCapturer) -> None:
    mons = capturer.monitors()
    assert mons[0].rect.width == 1920 and len(mons) >= 2
    with pytest.raises(ToolError, match="monitor 7 does not exist"):
        capturer.capture(7)
    with pytest.raises(ToolError, match="quality"):
        capturer.capture(quality=0)


def test_capture_from_many_threads(capturer: ScreenCapturer) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                assert capturer.capture().width == 1280
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(capturer._all) >= 4  # one mss instance per thread


async def test_async_capture(capturer: ScreenCapturer) -> None:
    frames = await asyncio.gather(capturer.acapture(), capturer.acapture(max_width=640))
    assert frames[0].width == 1280 and frames[1].width == 640 and frames[1].height == 360


def test_no_display_is_a_clear_error() -> None:
    cap = ScreenCapturer(":4242")
    with pytest.raises(NotAvailableError, match="no usable display"):
        cap.capture()
    cap.close()


def test_pure_pipeline_parts() -> None:
    img = np.zeros((1080, 1920, 4), np.uint8)
    img[..., 0] = 255  # blue in BGRA
    small = downscale(img, 1280, 720)
    assert small.shape == (720, 1280, 4)
    rgb = bgra_to_rgb(small)
    assert rgb.shape == (720, 1280, 3) and tuple(rgb[0, 0]) == (0, 0, 255)
    decoded = simplejpeg.decode_jpeg(encode_jpeg(small, 85))
    assert decoded[360, 640, 2] > 240 and decoded[360, 640, 0] < 15


def test_second_monitor_offsets_round_trip_through_a_click(tmp_path: Path) -> None:
    """Two RandR monitors side by side: capture the right one scaled down, click back through its geometry."""
    import subprocess

    from contop.platform.linux.adapter import LinuxAdapter
    from contop.testing.xsession import start_xsession

    session = start_xsession("1920x1080x24", dbus=False)
    try:
        env = session.child_env()
        for name, geometry in (("LEFT", "960/254x1080/286+0+0"), ("RIGHT", "960/254x1080/286+960+0")):
            subprocess.run(["xrandr", "--setmonitor", name, geometry, "none"], env=env, check=True)
        app = launch_recorder(session, tmp_path, geometry="600x500+1200+200", color="#c02040")
        cap = ScreenCapturer(session.display)
        adapter = LinuxAdapter(session.display, session_bus="")
        try:
            right = next(m for m in cap.monitors() if (m.rect.left, m.rect.width) == (960, 960))
            frame = cap.capture(right.index, max_width=480)
            assert (frame.width, frame.height) == (480, 540)
            cx, cy, cw, ch = app.ready["canvas"]
            sx, sy = frame.geometry.to_shot(cx + cw // 2, cy + ch // 2)
            rgb = simplejpeg.decode_jpeg(frame.jpeg)
            assert np.allclose(rgb[sy, sx], (0xC0, 0x20, 0x40), atol=12), rgb[sy, sx]
            nx, ny = frame.geometry.to_native(sx, sy)
            assert abs(nx - (cx + cw // 2)) <= 1 and abs(ny - (cy + ch // 2)) <= 1
            adapter.click(nx, ny)
            events = app.wait_for(lambda ev: any(e["event"] == "button" for e in ev))
            hit = next(e for e in events if e["event"] == "button")
            assert (hit["x"], hit["y"], hit["widget"]) == (nx, ny, "canvas")
        finally:
            adapter.close()
            cap.close()
    finally:
        session.close()
