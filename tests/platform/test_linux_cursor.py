"""The mouse pointer for the live video: its image and position from a real X server, drawn into a grab."""

from __future__ import annotations

import time

import numpy as np
import pytest

from contop.platform.linux.cursor import CursorWatch, PointerShot, draw_pointer
from contop.testing.xsession import XSession


def _sprite() -> np.ndarray:
    """2x2 BGRA, premultiplied: opaque white, half-transparent black, fully transparent, opaque red."""
    return np.array([[[255, 255, 255, 255], [0, 0, 0, 128]], [[0, 0, 0, 0], [0, 0, 255, 255]]], dtype=np.uint8)


def test_the_pointer_is_blended_over_the_screen_with_premultiplied_alpha() -> None:
    image = np.full((4, 6, 4), 100, dtype=np.uint8)
    draw_pointer(image, PointerShot(2, 1, _sprite()))
    assert image[1, 2, :3].tolist() == [255, 255, 255]
    assert image[1, 3, :3].tolist() == [50, 50, 50]  # 100 * 127 / 255, rounded
    assert image[2, 2, :3].tolist() == [100, 100, 100]  # transparent: the screen shows through
    assert image[2, 3, :3].tolist() == [0, 0, 255]
    assert (image[..., 3] == 100).all()  # the fourth byte is left alone
    untouched = np.ones((4, 6), dtype=bool)
    untouched[1:3, 2:4] = False
    assert (image[untouched][:, :3] == 100).all()


@pytest.mark.parametrize(
    ("left", "top", "origin", "expect"),
    [
        (-1, -1, (0, 0), {(0, 0): [0, 0, 255]}),  # only the sprite's bottom-right pixel is on the image
        (5, 3, (0, 0), {(3, 5): [255, 255, 255]}),  # only its top-left one
        (
            1012,
            1001,
            (1010, 1000),
            {(1, 2): [255, 255, 255], (1, 3): [50, 50, 50], (2, 3): [0, 0, 255]},
        ),  # a monitor not at (0, 0)
        (50, 50, (0, 0), {}),  # off the image entirely
    ],
)
def test_the_part_outside_the_image_is_left_out(
    left: int, top: int, origin: tuple[int, int], expect: dict[tuple[int, int], list[int]]
) -> None:
    image = np.full((4, 6, 4), 100, dtype=np.uint8)
    draw_pointer(image, PointerShot(left, top, _sprite()), origin)
    for (y, x), bgr in expect.items():
        assert image[y, x, :3].tolist() == bgr
    changed = {(int(y), int(x)) for y, x in zip(*np.nonzero((image[..., :3] != 100).any(axis=2)), strict=True)}
    assert changed == set(expect)


def _move(session: XSession, x: int, y: int) -> None:
    from Xlib import X, display
    from Xlib.ext import xtest

    connection = display.Display(session.display)
    try:
        xtest.fake_input(connection, X.MotionNotify, x=x, y=y)  # as manual control moves it
        connection.sync()
    finally:
        connection.close()


def _moved_within(watch: CursorWatch, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if watch.moved():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.x11
def test_the_watch_follows_the_pointer_and_its_shape(xsession: XSession) -> None:
    watch = CursorWatch.open(xsession.display)
    assert watch is not None and watch.motion_events
    term = None
    try:
        _move(xsession, 1500, 900)
        assert _moved_within(watch)
        assert not watch.moved()  # told once
        arrow = watch.look()
        h, w = arrow.image.shape[:2]
        assert 8 <= w <= 64 and 8 <= h <= 64 and arrow.image[..., 3].max() == 255  # a visible sprite
        # the hot spot is at the pointer's position: the sprite starts up to its size above and left of it
        assert 1500 - w < arrow.left <= 1500 and 900 - h < arrow.top <= 900
        _move(xsession, 1600, 950)
        assert _moved_within(watch)
        moved = watch.look()
        assert (moved.left - arrow.left, moved.top - arrow.top) == (100, 50)

        # Over a terminal the pointer is an I-beam: the server reports the new shape and the image follows.
        term = xsession.spawn("xterm", ["xterm", "-geometry", "40x10+0+0"])
        deadline = time.monotonic() + 10
        beam = moved
        while beam.image.shape == arrow.image.shape and time.monotonic() < deadline:
            _move(xsession, 40, 40)
            time.sleep(0.2)
            beam = watch.look()
        assert beam.image.shape != arrow.image.shape, "the pointer's shape over the terminal was not seen"
    finally:
        watch.close()
        if term is not None:
            term.kill()
            term.wait(5)


def test_no_display_gives_no_watch() -> None:
    assert CursorWatch.open(":9876") is None
