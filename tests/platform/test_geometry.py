"""Coordinate scaling between screenshot space and native space: pure, exhaustive where cheap."""

from __future__ import annotations

import pytest

from contop.platform.geometry import CoordinateError, Rect, ScreenGeometry, scaled_size


def test_full_hd_to_1280() -> None:
    geo = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))
    assert (geo.shot_width, geo.shot_height) == (1280, 720)
    assert geo.to_native(640, 360) == (960, 540)
    assert geo.to_native(0, 0) == (0, 0)
    assert geo.to_native(1279, 719) == (1919, 1079)  # the span 1918.5..1920 is centred on 1919


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), (1280, 720)),
        ((2560, 1440), (1280, 720)),
        ((1366, 768), (1280, 720)),
        ((1280, 800), (1280, 800)),
        ((1024, 768), (1024, 768)),
        ((3840, 1600), (1280, 533)),
        ((1921, 1081), (1280, 720)),
        ((5000, 3), (1280, 1)),
    ],
)
def test_scaled_size_keeps_aspect(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert scaled_size(*size) == expected


@pytest.mark.parametrize(
    "monitor",
    [
        Rect(0, 0, 1920, 1080),
        Rect(1920, 0, 2560, 1440),
        Rect(-1366, 200, 1366, 768),
        Rect(0, 0, 1281, 721),
        Rect(7, 13, 1999, 1111),
        Rect(0, 0, 800, 600),
    ],
)
def test_round_trip_every_screenshot_pixel(monitor: Rect) -> None:
    geo = ScreenGeometry.for_monitor(monitor)
    for x in range(geo.shot_width):
        nx, _ = geo.to_native(x, 0)
        assert monitor.left <= nx < monitor.right
        assert geo.to_shot(nx, monitor.top)[0] == x
    for y in range(geo.shot_height):
        _, ny = geo.to_native(0, y)
        assert monitor.top <= ny < monitor.bottom
        assert geo.to_shot(monitor.left, ny)[1] == y


@pytest.mark.parametrize("monitor", [Rect(0, 0, 1920, 1080), Rect(-1366, 200, 1366, 768), Rect(7, 13, 1999, 1111)])
def test_native_round_trip_within_one_screenshot_pixel(monitor: Rect) -> None:
    geo = ScreenGeometry.for_monitor(monitor)
    step_x = -(-monitor.width // geo.shot_width)
    for nx in range(monitor.left, monitor.right):
        back = geo.to_native(*geo.to_shot(nx, monitor.top))[0]
        assert abs(back - nx) <= step_x


def test_offsets_are_applied() -> None:
    geo = ScreenGeometry.for_monitor(Rect(1920, 100, 1920, 1080))
    assert geo.to_native(640, 360) == (1920 + 960, 100 + 540)
    assert geo.to_shot(1920 + 960, 100 + 540) == (640, 360)


@pytest.mark.parametrize("point", [(-1, 0), (0, -1), (1280, 0), (0, 720), (5000, 5000)])
def test_off_screen_screenshot_point_is_an_error(point: tuple[int, int]) -> None:
    geo = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))
    with pytest.raises(CoordinateError, match="outside the screenshot"):
        geo.to_native(*point)


def test_off_screen_clamps_when_asked() -> None:
    geo = ScreenGeometry.for_monitor(Rect(100, 0, 1920, 1080))
    assert geo.to_native(-5, 9999, clamp=True) == geo.to_native(0, 719)
    assert geo.to_shot(0, 0, clamp=True) == (0, 0)
    with pytest.raises(CoordinateError, match="outside the monitor"):
        geo.to_shot(99, 0)


def test_box_to_shot_clips() -> None:
    geo = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))
    assert geo.box_to_shot(960, 540, 300, 150) == (640, 360, 200, 100)
    assert geo.box_to_shot(-50, -50, 100, 100) == (0, 0, 34, 34)  # native 0..49 -> shot 0..33
    with pytest.raises(CoordinateError):
        geo.box_to_shot(5000, 0, 10, 10)


def test_bad_sizes_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        scaled_size(0, 10)
