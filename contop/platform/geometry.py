"""Exact coordinate scaling between screenshot space (what the model sees) and native screen space (what input uses).

Pure integer arithmetic, no I/O. A screenshot pixel ``x`` covers the native span ``[x*W/w, (x+1)*W/w)``; it maps to
the native pixel under the span's centre, and a native pixel maps to the screenshot pixel whose span holds its
centre. So ``to_shot(to_native(p)) == p`` for every screenshot pixel ``p`` whenever the screenshot is not larger than
the monitor (the only case capture produces).

Off-screen coordinates raise :class:`CoordinateError` by default; ``clamp=True`` pulls them onto the nearest edge
pixel instead. The model gets a clear error for a coordinate outside the image it was shown, rather than a click
somewhere it did not intend.
"""

from __future__ import annotations

from dataclasses import dataclass

from contop.core.errors import ToolError

DEFAULT_MAX_WIDTH = 1280


class CoordinateError(ToolError):
    """A coordinate lies outside the screenshot or the monitor it refers to."""


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in native virtual-screen pixels (monitors may have non-zero or negative offsets)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def contains(self, x: int, y: int) -> bool:
        return self.left <= x < self.right and self.top <= y < self.bottom


def scaled_size(width: int, height: int, max_width: int = DEFAULT_MAX_WIDTH) -> tuple[int, int]:
    """Size of a screenshot of a ``width`` x ``height`` monitor, at most ``max_width`` wide, aspect kept."""
    if width <= 0 or height <= 0:
        raise ValueError(f"monitor size must be positive, got {width}x{height}")
    if max_width <= 0:
        raise ValueError("max_width must be positive")
    if width <= max_width:
        return width, height
    # Round half up, never below one pixel.
    h = max(1, (2 * height * max_width + width) // (2 * width))
    return max_width, h


def _clamp(v: int, hi: int) -> int:
    return 0 if v < 0 else hi - 1 if v >= hi else v


@dataclass(frozen=True, slots=True)
class ScreenGeometry:
    """How one screenshot relates to the native monitor it was taken of."""

    monitor: Rect
    shot_width: int
    shot_height: int

    @classmethod
    def for_monitor(cls, monitor: Rect, max_width: int = DEFAULT_MAX_WIDTH) -> ScreenGeometry:
        w, h = scaled_size(monitor.width, monitor.height, max_width)
        return cls(monitor, w, h)

    @property
    def scale_x(self) -> float:
        """Native pixels per screenshot pixel, horizontally (informational; the mapping itself is exact)."""
        return self.monitor.width / self.shot_width

    @property
    def scale_y(self) -> float:
        return self.monitor.height / self.shot_height

    def to_native(self, x: int, y: int, *, clamp: bool = False) -> tuple[int, int]:
        """Screenshot pixel -> absolute native pixel (monitor offset included)."""
        x, y = int(x), int(y)
        if not (0 <= x < self.shot_width and 0 <= y < self.shot_height):
            if not clamp:
                raise CoordinateError(
                    f"({x}, {y}) is outside the screenshot, which is {self.shot_width}x{self.shot_height} "
                    f"(valid x 0..{self.shot_width - 1}, y 0..{self.shot_height - 1})"
                )
            x, y = _clamp(x, self.shot_width), _clamp(y, self.shot_height)
        m = self.monitor
        nx = ((2 * x + 1) * m.width) // (2 * self.shot_width)
        ny = ((2 * y + 1) * m.height) // (2 * self.shot_height)
        return m.left + nx, m.top + ny

    def to_shot(self, x: int, y: int, *, clamp: bool = False) -> tuple[int, int]:
        """Absolute native pixel -> screenshot pixel."""
        m = self.monitor
        x, y = int(x), int(y)
        if not m.contains(x, y):
            if not clamp:
                raise CoordinateError(
                    f"({x}, {y}) is outside the monitor at ({m.left}, {m.top}) of size {m.width}x{m.height}"
                )
            x = m.left + _clamp(x - m.left, m.width)
            y = m.top + _clamp(y - m.top, m.height)
        sx = ((2 * (x - m.left) + 1) * self.shot_width) // (2 * m.width)
        sy = ((2 * (y - m.top) + 1) * self.shot_height) // (2 * m.height)
        return sx, sy

    def box_to_shot(self, left: int, top: int, width: int, height: int) -> tuple[int, int, int, int]:
        """A native box -> the screenshot box covering it, clipped to the screenshot (for annotating elements)."""
        m = self.monitor
        x0 = max(left, m.left)
        y0 = max(top, m.top)
        x1 = min(left + width, m.right) - 1
        y1 = min(top + height, m.bottom) - 1
        if x1 < x0 or y1 < y0:
            raise CoordinateError("the box does not intersect the monitor")
        sx0, sy0 = self.to_shot(x0, y0)
        sx1, sy1 = self.to_shot(x1, y1)
        return sx0, sy0, sx1 - sx0 + 1, sy1 - sy0 + 1
