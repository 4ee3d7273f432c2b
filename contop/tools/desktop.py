"""The desktop the display tools drive: one adapter and screen capturer per display, the geometry of each session's
last screenshot (so the model's coordinates map back exactly), and the Away Mode checks.

Connections are cached per display for the life of the process: opening an X connection and an mss instance per
tool call would cost more than most actions. Per-session state is only the last geometry, keyed by session id.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from contop.core.errors import ContopError, NoDesktopError, NotAvailableError, ToolError
from contop.platform.base import PlatformAdapter, current_os, get_adapter
from contop.platform.capture import BGRA, ScreenCapturer, downscale
from contop.platform.geometry import ScreenGeometry

log = logging.getLogger(__name__)

MAX_SESSIONS = 64  # geometries kept; the oldest session's is forgotten first


@dataclass
class Desktop:
    """One display's adapter and capturer, shared by every session of the process."""

    display: str | None
    adapter: PlatformAdapter
    capturer: ScreenCapturer
    _geometries: dict[str, ScreenGeometry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _xdisplay: Any = None

    # -- coordinates --------------------------------------------------------------------------------------
    def remember(self, session_id: str, geometry: ScreenGeometry) -> None:
        with self._lock:
            self._geometries.pop(session_id, None)
            self._geometries[session_id] = geometry
            while len(self._geometries) > MAX_SESSIONS:
                self._geometries.pop(next(iter(self._geometries)))

    def geometry_for(self, session_id: str) -> ScreenGeometry:
        """The geometry of the session's last screenshot, or of a screenshot taken now (same monitor, 1280 wide)."""
        with self._lock:
            geo = self._geometries.get(session_id)
        if geo is not None:
            return geo
        return self.capturer.geometry()

    # -- Away Mode ----------------------------------------------------------------------------------------
    def _x(self) -> Any:
        if self._xdisplay is None:
            from Xlib import display as xdisplay

            self._xdisplay = xdisplay.Display(self.display)
        return self._xdisplay

    def away_overlay_active(self) -> bool:
        """True while the Away Mode lock overlay covers this display (X11 only; elsewhere always False)."""
        if current_os() != "linux":
            return False
        try:
            from contop.desktop import away_capture

            with self._lock:
                return bool(away_capture.overlay_active(self._x()))
        except Exception:  # no overlay support here must not break the tools
            log.debug("cannot check for the Away Mode overlay", exc_info=True)
            return False

    def capture_bgra(self, max_width: int | None = None) -> tuple[BGRA, ScreenGeometry, bool]:
        """Downscaled pixels of the primary monitor, the overlay left out when Away Mode is up (third value)."""
        if self.away_overlay_active():
            from contop.desktop import away_capture

            geo = self.capturer.geometry(max_width=max_width)
            m = geo.monitor
            with self._lock:
                image = away_capture.capture_without_overlay(self._x(), (m.left, m.top, m.width, m.height))
            return downscale(image, geo.shot_width, geo.shot_height), geo, True
        image, geo = self.capturer.capture_bgra(max_width=max_width)
        return image, geo, False

    def native_region(self, left: int, top: int, width: int, height: int) -> BGRA:
        """Native-resolution pixels of a screen region (for OCR), the Away Mode overlay left out when it is up."""
        if self.away_overlay_active():
            from contop.desktop import away_capture

            with self._lock:
                return away_capture.capture_without_overlay(self._x(), (left, top, width, height))
        image, rect = self.capturer.grab(0)
        x0, y0 = left - rect.left, top - rect.top
        return image[y0 : y0 + height, x0 : x0 + width]

    def close(self) -> None:
        try:
            self.capturer.close()
        finally:  # the adapter puts the keymap back: a capturer failing to close must not prevent it
            self.adapter.close()
        if self._xdisplay is not None:
            try:
                self._xdisplay.close()
            except Exception:
                log.debug("closing the X connection failed", exc_info=True)
            self._xdisplay = None


_desktops: dict[str | None, Desktop] = {}
_open_lock = threading.Lock()


def open_desktop(display: str | None = None) -> Desktop:
    """The cached desktop of ``display`` (default: the environment's); ToolError with the reason when there is none."""
    with _open_lock:
        existing = _desktops.get(display)
        if existing is not None:
            return existing
        try:
            adapter = get_adapter(display)
        except ContopError as exc:
            raise NoDesktopError(f"No desktop available: {exc}") from exc
        desk = Desktop(display, adapter, ScreenCapturer(getattr(adapter, "display_name", None) or display))
        _desktops[display] = desk
        return desk


async def desktop(display: str | None = None) -> Desktop:
    return await asyncio.to_thread(open_desktop, display)


def forget_desktop(display: str | None = None) -> None:
    """Close and drop a cached desktop (tests; a display that went away)."""
    with _open_lock:
        desk = _desktops.pop(display, None)
    if desk is not None:
        desk.close()


def close_desktops() -> None:
    """Close every cached desktop: the server is stopping. Closing an adapter puts back the keys it bound to type
    characters the keymap lacks, which would otherwise stay bound after the process is gone."""
    with _open_lock:
        desks = list(_desktops.values())
        _desktops.clear()
    for desk in desks:
        try:
            desk.close()
        except Exception:  # one display that went away must not keep the others' keymaps changed
            log.warning("closing the desktop of display %s failed", desk.display or "(default)", exc_info=True)


async def aclose_desktops() -> None:
    """``close_desktops`` off the event loop: an adapter waits for the action in progress (its lock) to finish."""
    await asyncio.to_thread(close_desktops)


async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """An adapter call in a worker thread, its platform errors translated into ToolError for the model."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ToolError:
        raise
    except NotAvailableError as exc:
        raise ToolError(str(exc)) from exc
