"""The X server tells the video what was drawn (DAMAGE): drawing anywhere is reported, a still screen is quiet."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from contop.platform.linux.damage import DamageWatch
from contop.testing.xsession import XSession, start_xsession

pytestmark = pytest.mark.x11


def settle(watch: DamageWatch, seconds: float = 0.3) -> None:
    """Let the window manager finish drawing, then forget what it drew."""
    time.sleep(seconds)
    watch.rearm()


def reported_within(watch: DamageWatch, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if watch.drawn():
            return True
        time.sleep(0.02)
    return False


def test_drawing_in_any_window_is_reported_once_per_rearm(xsession: XSession) -> None:
    from Xlib import X, display

    watch = DamageWatch.open(xsession.display)
    assert watch is not None
    other = display.Display(xsession.display)

    def draw(window: object, gc: object, x: int) -> None:
        window.fill_rectangle(gc, x, 10, 40, 40)  # type: ignore[attr-defined]
        other.sync()

    try:
        assert reported_within(watch)  # a new watch starts with the whole screen damaged
        settle(watch)
        assert not watch.drawn()  # a still screen is quiet
        screen = other.screen()
        window = screen.root.create_window(
            50, 50, 200, 120, 0, screen.root_depth, X.InputOutput, background_pixel=screen.white_pixel
        )
        window.map()
        other.sync()
        assert reported_within(watch)
        settle(watch)
        gc = window.create_gc(foreground=screen.black_pixel)
        draw(window, gc, 10)
        assert reported_within(watch)  # drawing inside a child window counts, not only the root
        draw(window, gc, 60)
        assert not reported_within(watch, 0.3)  # once per rearm: the caller grabs anyway until it re-arms
        watch.rearm()
        assert not watch.drawn()
        draw(window, gc, 110)
        assert reported_within(watch)
        watch.rearm()
        subprocess.run(["xsetroot", "-solid", "#336699"], env=xsession.child_env(), check=True, timeout=10)
        assert reported_within(watch)  # the desktop background too
        window.destroy()
        other.sync()
    finally:
        other.close()
        watch.close()


def test_no_display_gives_no_watch() -> None:
    assert DamageWatch.open(":4242") is None


@pytest.fixture(scope="module")
def no_damage_server() -> Iterator[XSession]:
    session = start_xsession("640x480x24", window_manager=False, dbus=False, xvfb_args=["-extension", "DAMAGE"])
    try:
        yield session
    finally:
        session.close()


def test_a_server_without_damage_gives_no_watch(no_damage_server: XSession) -> None:
    from Xlib import display

    probe = display.Display(no_damage_server.display)
    try:
        assert not probe.has_extension("DAMAGE")  # the server really lacks it
    finally:
        probe.close()
    assert DamageWatch.open(no_damage_server.display) is None


def test_a_server_that_goes_away_raises_from_drawn() -> None:
    session = start_xsession("640x480x24", window_manager=False, dbus=False)
    watch = DamageWatch.open(session.display)
    assert watch is not None
    try:
        watch.rearm()
        session.close()
        with pytest.raises(Exception):  # noqa: B017 - python-xlib's connection errors have no common base
            for _ in range(100):
                watch.drawn()
                time.sleep(0.02)
        with pytest.raises(Exception):  # noqa: B017
            watch.rearm()
    finally:
        watch.close()
        session.close()
