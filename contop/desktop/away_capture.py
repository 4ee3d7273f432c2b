"""Capture the X11 desktop as it is under the Away Mode overlay, so the phone and the agent see the desktop.

A plain root-window grab (mss, ``import -window root``) returns what is on the glass, i.e. the lock screen. While
it is up, the overlay asks the X server to keep every top-level window in an offscreen pixmap (Composite,
automatic redirection: the screen looks the same) and names its own windows in the root property
``_CONTOP_AWAY_OVERLAY``. ``capture_without_overlay`` then paints each viewable top-level window's pixmap in
stacking order, skipping the overlay. Only python-xlib and numpy; the result has mss's BGRA layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from Xlib import X, Xatom
from Xlib import error as xerror

OVERLAY_PROPERTY = "_CONTOP_AWAY_OVERLAY"
OVERLAY_WM_CLASS = ("contop-away-mode", "ContopAwayMode")
STRIP_BYTES = 128 * 1024

BGRA = npt.NDArray[np.uint8]


def overlay_windows(d: Any) -> set[int]:
    """Ids of the overlay's windows, as the overlay published them on the root window (empty when unlocked)."""
    prop = d.screen().root.get_full_property(d.intern_atom(OVERLAY_PROPERTY), Xatom.WINDOW)
    if prop is None:
        return set()
    alive = set()
    for wid in prop.value:  # a killed overlay leaves the property behind: keep only windows still on screen
        try:
            if d.create_resource_object("window", int(wid)).get_attributes().map_state == X.IsViewable:
                alive.add(int(wid))
        except xerror.XError:
            pass
    return alive


def overlay_active(d: Any) -> bool:
    return bool(overlay_windows(d))


def _is_overlay(window: Any, skip: set[int]) -> bool:
    if window.id in skip:
        return True
    try:
        return bool(window.get_wm_class() == OVERLAY_WM_CLASS)
    except xerror.XError:
        return False


def capture_without_overlay(d: Any, region: tuple[int, int, int, int] | None = None) -> BGRA:
    """The desktop in ``region`` (x, y, width, height; default the whole screen) without the overlay's windows.

    Needs the Composite extension; raises ``RuntimeError`` without it. The root background (behind every
    window) comes out black.
    """
    if not d.has_extension("Composite"):
        raise RuntimeError("the X server has no Composite extension; the overlay cannot be left out of captures")
    screen = d.screen()
    rx, ry, rw, rh = region or (0, 0, screen.width_in_pixels, screen.height_in_pixels)
    out = np.zeros((rh, rw, 4), dtype=np.uint8)
    skip = overlay_windows(d)
    for window in screen.root.query_tree().children:  # bottom to top
        if _is_overlay(window, skip):
            continue
        try:
            attrs = window.get_attributes()
            if attrs.map_state != X.IsViewable or attrs.win_class == X.InputOnly:
                continue
            geom = window.get_geometry()
            w, h = geom.width + 2 * geom.border_width, geom.height + 2 * geom.border_width
            # Only the part inside the region is read from the server.
            x0, y0 = max(rx, geom.x), max(ry, geom.y)
            x1, y1 = min(rx + rw, geom.x + w), min(ry + rh, geom.y + h)
            if x0 >= x1 or y0 >= y1:
                continue
            pixmap = window.composite_name_window_pixmap()
            try:
                _read_into(pixmap, out, x0 - geom.x, y0 - geom.y, x1 - x0, y1 - y0, x0 - rx, y0 - ry)
            finally:
                pixmap.free()
        except xerror.XError:
            continue  # the window went away (or is not redirected) between the listing and the read
    out[:, :, 3] = 255  # X leaves the padding byte undefined; mss gives opaque pixels
    return out


def _read_into(pixmap: Any, out: BGRA, sx: int, sy: int, w: int, h: int, dx: int, dy: int) -> None:
    # In strips: python-xlib grows its receive buffer by concatenation, so one big reply costs quadratic time.
    rows = max(1, STRIP_BYTES // (w * 4))
    for top in range(0, h, rows):
        n = min(rows, h - top)
        image = pixmap.get_image(sx, sy + top, w, n, X.ZPixmap, 0xFFFFFFFF)
        if image.depth not in (24, 32) or len(image.data) != w * n * 4:
            return  # not a 32-bit-per-pixel picture: leave this window out rather than paint garbage
        strip = np.frombuffer(image.data, dtype=np.uint8).reshape(n, w, 4)
        out[dy + top : dy + top + n, dx : dx + w] = strip
