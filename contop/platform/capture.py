"""Screen capture: mss grab -> OpenCV INTER_AREA downscale -> simplejpeg, with the geometry needed to click back.

mss instances are not thread safe, so each thread gets its own (``threading.local``); ``acapture`` runs a capture
in a worker thread with ``asyncio.to_thread``. Pixels stay in mss's BGRA layout all the way to the JPEG encoder
(simplejpeg reads BGRX directly), so the hot path copies the image once, in the resize.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.geometry import DEFAULT_MAX_WIDTH, Rect, ScreenGeometry

logger = logging.getLogger(__name__)

DEFAULT_QUALITY = 80
PRIMARY = -1
"""Monitor selector for the primary monitor (mss index 0 = all monitors, 1.. = each monitor)."""
# How often a thread's monitor layout is read again (a resolution change, a monitor plugged in or out).
MONITORS_TTL_S = 1.0

BGRA = npt.NDArray[np.uint8]


class NoActiveMonitor(ToolError):
    """The display is there but every output is off (a closed lid, an unplugged monitor): it may come back."""


@dataclass(frozen=True, slots=True)
class Monitor:
    index: int
    rect: Rect
    primary: bool
    name: str = ""


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded screenshot and how to map its coordinates back to the screen."""

    jpeg: bytes
    geometry: ScreenGeometry
    grab_ms: float
    total_ms: float

    @property
    def width(self) -> int:
        return self.geometry.shot_width

    @property
    def height(self) -> int:
        return self.geometry.shot_height


def bgra_to_rgb(image: BGRA) -> BGRA:
    """BGRA (H, W, 4) -> contiguous RGB (H, W, 3), for consumers that want RGB (video frames, PIL)."""
    import cv2

    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGRA2RGB))


_cv_configured = False


def _configure_cv() -> None:
    """Run OpenCV single-threaded: on a busy desktop its thread pool fights the user's apps and the server's own
    threads, and measured 2x slower under load (bench/bench_capture.py) than one thread. Process-wide, once."""
    global _cv_configured
    if not _cv_configured:
        import cv2

        cv2.setNumThreads(1)
        _cv_configured = True


def downscale(image: BGRA, width: int, height: int) -> BGRA:
    """Resize with INTER_AREA (the right filter for shrinking text-heavy screens); no-op at the same size."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    import cv2

    _configure_cv()
    return cast(BGRA, cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


def encode_jpeg(image: BGRA, quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode a BGRA image as JPEG (4:2:0, fast DCT: screenshots for a model, not for print)."""
    import simplejpeg

    if not 1 <= quality <= 100:
        raise ToolError("JPEG quality must be between 1 and 100")
    data: bytes = simplejpeg.encode_jpeg(
        np.ascontiguousarray(image), quality=quality, colorspace="BGRX", colorsubsampling="420", fastdct=True
    )
    return data


class ScreenCapturer:
    """Grabs and encodes screenshots of one display. Safe to call from any thread; ``close()`` when done."""

    def __init__(
        self, display: str | None = None, *, max_width: int = DEFAULT_MAX_WIDTH, quality: int = DEFAULT_QUALITY
    ) -> None:
        self.display = display
        self.max_width = max_width
        self.quality = quality
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def _mss(self) -> Any:
        sct = getattr(self._local, "sct", None)
        if sct is not None:
            return sct
        if self._closed:
            raise ToolError("the screen capturer is closed")
        try:
            import mss
        except ImportError as exc:
            raise NotAvailableError("screen capture needs the 'mss' package (pip install mss)") from exc
        kwargs: dict[str, Any] = {}
        if self.display is not None:
            kwargs["display"] = self.display
        try:
            sct = mss.MSS(**kwargs)
            sct.monitors  # noqa: B018 - connect now so a missing display fails here, clearly
        except Exception as exc:
            raise NotAvailableError(
                f"cannot capture the screen: no usable display ({self._unreachable(exc)}). On Linux start an X "
                "session (or Xvfb) and set DISPLAY."
            ) from exc
        self._local.sct = sct
        self._local.checked = time.monotonic()
        with self._lock:
            self._all.append(sct)
        return sct

    def _reopen(self) -> Any:
        """A new mss instance for this thread: mss sizes its buffers to the screen it first saw."""
        sct = getattr(self._local, "sct", None)
        if sct is not None:
            self._drop(sct)
        return self._mss()

    def _layout(self) -> list[dict[str, Any]]:
        """This thread's monitor list, read again from the display once ``MONITORS_TTL_S`` has passed; when it
        changed, the thread's mss instance is replaced."""
        sct = self._mss()
        now = time.monotonic()
        if now - getattr(self._local, "checked", now) >= MONITORS_TTL_S:
            self._local.checked = now
            before = [dict(m) for m in self._read_monitors(sct)]
            with sct._lock:  # mss caches the list for the instance's life; forget it to read it again
                sct._monitors = None
            after = self._read_monitors(sct)
            if after != before:
                logger.info("the screen's monitors changed: %s", _sizes(after))
                sct = self._reopen()
        return list(self._read_monitors(sct))

    def _read_monitors(self, sct: Any) -> list[dict[str, Any]]:
        """``sct.monitors``, or NotAvailableError when the display is gone.

        mss reports a lost X connection as a bare ``AssertionError`` and leaves its cache empty, so every later
        read on the instance would fail the same way: the instance is dropped, and the next call connects anew
        (and works again once the display is back).
        """
        try:
            return list(sct.monitors)
        except Exception as exc:
            self._drop(sct)
            raise NotAvailableError(self._unreachable(exc)) from exc

    def _unreachable(self, exc: BaseException) -> str:
        """The message for a display that cannot be reached; mss's own errors may have no text at all."""
        detail = str(exc).strip() or "the connection to it was lost"
        return f"the X display {self.display or os.environ.get('DISPLAY', '')!r} cannot be reached: {detail}"

    def _drop(self, sct: Any) -> None:
        """Forget this thread's mss instance (outdated or broken) and close it."""
        if getattr(self._local, "sct", None) is sct:
            self._local.sct = None
        with self._lock:
            if sct in self._all:
                self._all.remove(sct)
        try:
            sct.close()
        except Exception:
            logger.debug("closing an mss instance failed", exc_info=True)

    def monitors(self) -> list[Monitor]:
        """Index 0 is the whole virtual screen; 1.. are the physical monitors."""
        out = []
        for i, m in enumerate(self._layout()):
            rect = Rect(int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))
            out.append(Monitor(i, rect, bool(m.get("is_primary", False)), str(m.get("name", "") or "")))
        return out

    def monitor_rect(self, monitor: int = PRIMARY) -> Rect:
        mons = self._layout()
        if monitor == PRIMARY:
            if len(mons) < 2:
                raise NoActiveMonitor("the display has no active monitor (all outputs are off)")
            m = next((m for m in mons[1:] if m.get("is_primary")), mons[1])
        else:
            if not 0 <= monitor < len(mons):
                raise ToolError(f"monitor {monitor} does not exist; this display has monitors 0..{len(mons) - 1}")
            m = mons[monitor]
        return Rect(int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))

    def grab(self, monitor: int = PRIMARY) -> tuple[BGRA, Rect]:
        """Native-resolution BGRA pixels of a monitor (a zero-copy view over mss's buffer).

        A grab that fails is tried once more with a new mss instance and a fresh monitor list: the screen may
        have just changed size (a smaller screen makes the old region invalid, a larger one overflows mss's
        shared-memory buffer).
        """
        for attempt in (1, 2):
            rect = self.monitor_rect(monitor)
            region = {"left": rect.left, "top": rect.top, "width": rect.width, "height": rect.height}
            try:
                shot = self._mss().grab(region)
                break
            except Exception as exc:
                if attempt == 2:
                    raise ToolError(f"screen grab failed: {exc}") from exc
                logger.info("screen grab failed (%s); reading the screen's layout again", exc)
                self._reopen()
        h, w = shot.height, shot.width
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(h, w, 4), rect

    def capture_bgra(self, monitor: int = PRIMARY, max_width: int | None = None) -> tuple[BGRA, ScreenGeometry]:
        """Downscaled BGRA pixels and their geometry."""
        image, rect = self.grab(monitor)
        geo = ScreenGeometry.for_monitor(rect, self.max_width if max_width is None else max_width)
        return downscale(image, geo.shot_width, geo.shot_height), geo

    def capture(self, monitor: int = PRIMARY, *, max_width: int | None = None, quality: int | None = None) -> Frame:
        """Grab, downscale and JPEG-encode one monitor."""
        t0 = time.perf_counter()
        image, rect = self.grab(monitor)
        t1 = time.perf_counter()
        geo = ScreenGeometry.for_monitor(rect, self.max_width if max_width is None else max_width)
        small = downscale(image, geo.shot_width, geo.shot_height)
        jpeg = encode_jpeg(small, self.quality if quality is None else quality)
        t2 = time.perf_counter()
        return Frame(jpeg, geo, (t1 - t0) * 1000, (t2 - t0) * 1000)

    async def acapture(
        self, monitor: int = PRIMARY, *, max_width: int | None = None, quality: int | None = None
    ) -> Frame:
        """``capture`` in a worker thread, so the event loop keeps serving while pixels are encoded."""
        return await asyncio.to_thread(self.capture, monitor, max_width=max_width, quality=quality)

    def geometry(self, monitor: int = PRIMARY, max_width: int | None = None) -> ScreenGeometry:
        """The geometry a capture of ``monitor`` would have, without grabbing pixels."""
        return ScreenGeometry.for_monitor(
            self.monitor_rect(monitor), self.max_width if max_width is None else max_width
        )

    def close(self) -> None:
        """Release every thread's mss instance; idempotent."""
        with self._lock:
            self._closed = True
            instances, self._all = self._all, []
        for sct in instances:
            try:
                sct.close()
            except Exception:  # a broken display connection must not stop the others from closing
                logger.debug("closing an mss instance failed", exc_info=True)
        self._local = threading.local()


def _sizes(monitors: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m['width']}x{m['height']}+{m['left']}+{m['top']}" for m in monitors[1:]) or "none"
