"""The lock overlay follows the screen: a screen that grows (a monitor plugged in, a laptop docked) and monitors added
later are covered at once, on a real Xvfb resized with xrandr."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from contop.desktop.overlay import distinct_monitors
from contop.testing.xsession import XSession, start_xsession
from tests.desktop.test_overlay import Overlay
from tests.platform.conftest import launch_recorder

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]

WINDOW_BGR = (0x20, 0x30, 0xD0)  # the "private" window's canvas, #d03020, as the root image stores it (B, G, R)
# A 1280x1024 mode for Xvfb, whose screen can then grow back to the 1920x1080 it started with.
SMALL_MODE = ("1280x1024_t", "108.00", "1280", "1328", "1440", "1688", "1024", "1025", "1028", "1066")


@pytest.fixture
def session() -> Iterator[XSession]:
    if shutil.which("xrandr") is None:
        pytest.skip("needs xrandr (apt-get install x11-xserver-utils)")
    xsession = start_xsession("1920x1080x24", dbus=False)  # its own display: the resolution changes here
    try:
        yield xsession
    finally:
        xsession.close()


@pytest.fixture
def hash_file(tmp_path: Path) -> Path:
    path = tmp_path / "hashes.json"
    path.write_text(json.dumps({"pin_hash": bcrypt.hashpw(b"2468", bcrypt.gensalt(4)).decode()}))
    return path


def xrandr(session: XSession, *args: str) -> None:
    subprocess.run(["xrandr", *args], env=session.child_env(), check=True, timeout=10, capture_output=True)


def overlay_boxes(d: Any) -> list[tuple[int, int, int, int]]:
    from Xlib.error import BadDrawable, BadWindow

    boxes = []
    for window in d.screen().root.query_tree().children:
        try:
            if window.get_wm_class() == ("contop-away-mode", "ContopAwayMode") and window.get_attributes().map_state:
                g = window.get_geometry()
                boxes.append((g.x, g.y, g.width, g.height))
        except (BadWindow, BadDrawable):  # destroyed since the listing (the overlay is rebuilt on a screen change)
            continue
    return sorted(boxes)


def on_glass(d: Any, x: int, y: int) -> tuple[int, int, int]:
    """The pixel the desk sees at (x, y): the root window's contents, the overlay included."""
    from Xlib import X

    data = d.screen().root.get_image(x, y, 1, 1, X.ZPixmap, 0xFFFFFFFF).data
    return data[0], data[1], data[2]


def test_an_aggregate_monitor_is_left_out_only_when_its_parts_cover_it() -> None:
    screen, left, right = (0, 0, 1920, 1080), (0, 0, 1280, 1080), (1280, 0, 640, 1080)
    assert distinct_monitors([screen, left, right]) == [left, right]
    assert distinct_monitors([left, screen]) == [left, screen]  # the right 640 pixels are on no other monitor
    assert distinct_monitors([screen, left, (1280, 0, 640, 540)]) == [screen, left, (1280, 0, 640, 540)]
    top, bottom = (0, 0, 1920, 600), (0, 500, 1920, 580)  # overlapping parts that cover it all
    assert distinct_monitors([screen, top, bottom]) == [top, bottom]


def test_the_overlay_grows_with_the_screen_and_covers_monitors_added_later(
    session: XSession, hash_file: Path, tmp_path: Path
) -> None:
    from Xlib import display as xdisplay

    xrandr(session, "--newmode", *SMALL_MODE)
    xrandr(session, "--addmode", "screen", SMALL_MODE[0])
    xrandr(session, "--output", "screen", "--mode", SMALL_MODE[0])
    # A window beyond the small screen's right edge: off the glass now, on it once the screen grows.
    private = launch_recorder(session, tmp_path, title="Private", geometry="400x300+1450+300", color="#d03020")
    d = xdisplay.Display(session.display)
    overlay = Overlay(session, hash_file)
    try:
        px, py = 1650, 500
        assert overlay.expect("ready", timeout=20)["monitors"] == 1
        assert overlay_boxes(d) == [(0, 0, 1280, 1024)]

        xrandr(session, "--output", "screen", "--mode", "1920x1080")
        grown = time.monotonic()
        # The window is now on the glass, and must be hidden by the lock screen at once (it showed for good).
        while on_glass(d, px, py) == WINDOW_BGR or overlay_boxes(d) != [(0, 0, 1920, 1080)]:
            assert time.monotonic() - grown < 3, f"not covered: {overlay_boxes(d)}, pixel {on_glass(d, px, py)}"
            time.sleep(0.02)
        covered_in = time.monotonic() - grown
        assert overlay.expect("monitors") == {"event": "monitors", "monitors": 1}
        # Followed on RandR's report, not the once-a-second check (which would take up to a second).
        assert covered_in < 0.6, covered_in
        # The private window is still there under the lock screen: the pixel is the lock picture, not a gap.
        time.sleep(0.5)
        assert on_glass(d, px, py) != WINDOW_BGR and on_glass(d, px, py) != (0, 0, 0)

        # Two monitors defined on the grown screen, one at a time: the whole screen stays covered while only the
        # left one is (its window alone would leave the right part bare), then one window each.
        xrandr(session, "--setmonitor", "LEFT", "1280/338x1080/286+0+0", "none")
        overlay.expect("monitors", timeout=5)
        assert overlay_boxes(d) == [(0, 0, 1280, 1080), (0, 0, 1920, 1080)]
        assert on_glass(d, px, py) != WINDOW_BGR
        xrandr(session, "--setmonitor", "RIGHT", "640/169x1080/286+1280+0", "none")
        assert overlay.expect("monitors", timeout=5) == {"event": "monitors", "monitors": 2}
        assert overlay_boxes(d) == [(0, 0, 1280, 1080), (1280, 0, 640, 1080)]
        assert on_glass(d, px, py) != WINDOW_BGR

        # Back to the small screen: the windows shrink with it, and the lock still holds the keyboard.
        for name in ("LEFT", "RIGHT"):
            xrandr(session, "--delmonitor", name)
        xrandr(session, "--output", "screen", "--mode", SMALL_MODE[0])
        deadline = time.monotonic() + 5
        while overlay_boxes(d) != [(0, 0, 1280, 1024)]:
            assert time.monotonic() < deadline, overlay_boxes(d)
            time.sleep(0.05)
        assert overlay.proc.poll() is None
        assert not [e for e in overlay.seen if e["event"] in ("tampered", "error")], overlay.seen
    finally:
        overlay.close()
        d.close()
        private.stop()
