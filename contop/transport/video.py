"""The live screen as a WebRTC video track: mss capture -> resize -> I420 in a worker thread, paced at a fixed rate.

When the screen does not change, frames are not sent (so nothing is encoded) except a short run of repeats that
lets the encoder sharpen the still picture, then a slow keep-alive so the decoder and RTCP stay alive. On X11 the
server's DAMAGE reports say whether anything was drawn, so a still screen is not even grabbed (but looked at once a
second all the same), and between those looks the track sleeps until the server reports drawing. While Away Mode's
lock screen is up, the track shows the desktop under it, as the agent sees it (``video_away``). The next capture
overlaps the encoding of the current frame. ``bench/bench_video.py`` measures all of it.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from contop.core.errors import ContopError, NotAvailableError, ToolError
from contop.core.settings import DEFAULT_VIDEO_FPS, DEFAULT_VIDEO_WIDTH
from contop.platform.capture import PRIMARY, NoActiveMonitor, ScreenCapturer
from contop.platform.geometry import scaled_size
from contop.platform.linux.cursor import draw_pointer  # numpy only: the X parts are imported when a watch opens
from contop.transport.video_codecs import (
    SDP_MAX_KBPS,
    SDP_START_KBPS,
    BitrateCaps,
    add_bitrate_hints,
    apply_bitrate_caps,
    prefer_codecs,
    screen_vp8_encoder,
    use_screen_encoder,
    video_codecs_in_sdp,
)

__all__ = [
    "SDP_MAX_KBPS",
    "SDP_START_KBPS",
    "BitrateCaps",
    "EmitPolicy",
    "ScreenTrack",
    "TrackStats",
    "add_bitrate_hints",
    "apply_bitrate_caps",
    "bgra_to_i420",
    "create_screen_track",
    "follow_keyframe_requests",
    "prefer_codecs",
    "screen_vp8_encoder",
    "use_screen_encoder",
    "video_codecs_in_sdp",
    "video_size",
]

logger = logging.getLogger(__name__)

DEFAULT_WIDTH = DEFAULT_VIDEO_WIDTH
DEFAULT_FPS = DEFAULT_VIDEO_FPS
MIN_FPS = 1.0
KEEPALIVE_FPS = 1.0
# After the last change, repeat the still picture for a while: a realtime CBR encoder sends a coarse first version
# of a change and sharpens it over the following frames; stopping at once would leave blurry text on the phone.
# The repeats go at a reduced rate (each repeat costs a full encode), so typing does not keep the encoder at 30 fps.
SETTLE_SECONDS = 1.0
SETTLE_FPS = 10.0
# Once the picture has settled, look for changes less often: halves the cost of watching a still screen, for at
# most one extra poll interval (67 ms) before the first frame of the next change. Not needed where the X server
# reports drawing (DAMAGE): looking then costs next to nothing, so the full rate is kept.
IDLE_POLL_FPS = 15.0
# With DAMAGE, the screen is still grabbed and compared at least this often, in case something draws without the
# server reporting it.
FORCED_LOOK_SECONDS = 1.0
# While the screen cannot be captured (the display went away, say), the track tries again this often instead of
# ending: aiortc's sender stops for good once a track ends, so the phone would never get its picture back.
CAPTURE_RETRY_SECONDS = 2.0
# A watch (drawing reports, the pointer, the view under the lock screen) whose X connection broke is opened again
# once a grab works, but no sooner than this after it broke: the X server restarted under the track, as a rule, and
# a watch that keeps breaking on a working display must not cost a reconnection on every tick.
WATCH_REOPEN_SECONDS = 1.0
CLOCK_RATE = 90_000
# aiortc announces and encodes H264 at level 3.1: at most 3600 macroblocks a frame (1280x720, but not 1280x800).
# Hardware decoders may refuse larger frames, so an H264 stream is scaled to fit.
H264_MAX_MACROBLOCKS = 3600
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)

BGRA = npt.NDArray[np.uint8]


def video_size(
    screen_width: int, screen_height: int, max_width: int = DEFAULT_WIDTH, max_macroblocks: int | None = None
) -> tuple[int, int]:
    """Encoded size of a screen: at most ``max_width`` wide, aspect kept, both sides even (I420 needs it), and
    with ``max_macroblocks`` at most that many 16x16 blocks (the size limit of an H264 level)."""
    w, h = scaled_size(screen_width, screen_height, max_width)
    w, h = max(2, w & ~1), max(2, h & ~1)
    blocks = -(-w // 16) * -(-h // 16)
    if max_macroblocks and blocks > max_macroblocks:
        narrower = int(w * (max_macroblocks / blocks) ** 0.5) + 2  # about right; the loop settles the rounding
        while True:
            w, h = scaled_size(screen_width, screen_height, max(2, narrower))
            w, h = max(2, w & ~1), max(2, h & ~1)
            if w <= 2 or -(-w // 16) * -(-h // 16) <= max_macroblocks:
                break
            narrower = w - 2
    return w, h


def macroblock_limit(answer_sdp: str) -> int | None:
    """The frame-size limit of the codec our answer sends with, in macroblocks (None: no limit)."""
    codecs = video_codecs_in_sdp(answer_sdp)
    return H264_MAX_MACROBLOCKS if codecs and codecs[0] == "H264" else None


class EmitPolicy:
    """Decides, for each captured tick, whether a frame goes to the encoder. Pure: time is passed in.

    A change is always sent at once. An unchanged screen is repeated at ``settle_fps`` for ``settle`` seconds after
    the last change, then only every ``1 / keepalive_fps`` seconds.
    """

    def __init__(
        self, keepalive_fps: float = KEEPALIVE_FPS, settle: float = SETTLE_SECONDS, settle_fps: float = SETTLE_FPS
    ) -> None:
        if keepalive_fps <= 0 or settle_fps <= 0:
            raise ValueError("keepalive_fps and settle_fps must be positive")
        self.keepalive_interval = 1.0 / keepalive_fps
        self.settle_interval = 1.0 / settle_fps
        self.settle = settle
        self._last_change: float | None = None
        self._last_emit: float | None = None

    def settled(self, now: float) -> bool:
        """True once ``settle`` seconds have passed since the last change."""
        return self._last_change is not None and now - self._last_change >= self.settle

    def decide(self, now: float, changed: bool) -> bool:
        if changed or self._last_change is None or self._last_emit is None:
            self._last_change = self._last_emit = now
            return True
        if now >= self.next_repeat(now):
            self._last_emit = now
            return True
        return False

    def next_repeat(self, now: float) -> float:
        """When an unchanged screen is next sent (``now`` before the first frame)."""
        if self._last_change is None or self._last_emit is None:
            return now
        interval = self.settle_interval if now - self._last_change < self.settle else self.keepalive_interval
        # A little slack, so that ticks jittering around the interval do not halve the rate.
        return self._last_emit + interval * 0.9


class DamageLooks:
    """When to grab the screen, from the X server's reports of drawing (``contop.platform.linux.damage``).

    While the screen changes, every tick grabs and the server is not asked: reading a report costs python-xlib a
    few hundred microseconds, and the grab has to happen anyway. The first grab that finds nothing new re-arms the
    reports, and the next tick grabs once more, for what was drawn between that grab and the re-arm. From then on
    (WATCHING) a tick grabs only when something was drawn, or when the last grab is ``forced_look`` seconds old;
    and the track does not tick at all until the server sends a report or a frame or a look is due.
    """

    CHANGING, CONFIRMING, WATCHING = range(3)

    def __init__(self, watch: Any, forced_look: float = FORCED_LOOK_SECONDS) -> None:
        self.watch = watch
        self.forced_look = forced_look
        self.state = self.CHANGING

    def should_grab(self, now: float, last_grab: float, pointer_moved: bool = False) -> bool:
        if self.state != self.WATCHING or now - last_grab >= self.forced_look:
            return True
        if self.watch.drawn() or pointer_moved:
            self.state = self.CHANGING
            return True
        return False

    def grabbed(self, changed: bool) -> None:
        if changed:
            self.state = self.CHANGING
        elif self.state == self.CHANGING:
            self.watch.rearm()
            self.state = self.CONFIRMING
        elif self.state == self.CONFIRMING:
            self.state = self.WATCHING


@dataclass(slots=True)
class TrackStats:
    """Counters of a track since it started (written by the capture thread; approximate while running).

    The ``*_cpu`` figures are CPU time of the capture thread (``time.thread_time``), so they stay meaningful on a
    busy machine where wall-clock durations stretch.
    """

    ticks: int = 0
    grabs: int = 0  # ticks that grabbed the screen (the others knew from DAMAGE that nothing was drawn)
    frames_sent: int = 0
    frames_converted: int = 0
    capture_cpu: float = 0.0
    convert_cpu: float = 0.0
    capture_failures: int = 0  # ticks whose capture failed (then retried every CAPTURE_RETRY_SECONDS)
    under_overlay: int = 0  # grabs of the desktop under the Away Mode lock screen
    width: int = 0
    height: int = 0


_COMPARE_BANDS = 8


def _same_pixels(a: BGRA, b: BGRA | None) -> bool:
    if b is None or a.shape != b.shape:
        return False
    if not (a.flags.c_contiguous and b.flags.c_contiguous and a.nbytes % 8 == 0):
        return bool(np.array_equal(a, b))
    # A uint64 view compares 8 bytes per step: ~0.8 ms for a whole 1080p screen, cheaper than any hash of it.
    # array_equal never stops early, so the screen is compared in bands: a still screen costs the same, a
    # changed one (scrolling, video) usually shows it in the first band, for an eighth of the cost.
    x, y = a.reshape(-1).view(np.uint64), b.reshape(-1).view(np.uint64)
    step = -(-len(x) // _COMPARE_BANDS)
    return all(np.array_equal(x[i : i + step], y[i : i + step]) for i in range(0, len(x), step))


def bgra_to_i420(image: BGRA, width: int, height: int) -> npt.NDArray[np.uint8]:
    """BGRA screen pixels -> I420 planes (H*3/2, W) at ``width`` x ``height``.

    CPU per 1080p -> 720p frame on the loaded 2-core test machine (``bench/bench_video.py``): OpenCV INTER_LINEAR
    resize + cvtColor to I420 ~3-5 ms, the same with INTER_AREA ~18 ms (its non-integer path is slow), PyAV/swscale
    bgra -> yuv420p ~9 ms. Up to a 2x shrink, bilinear still reads every source pixel, so text keeps its strokes;
    beyond that INTER_AREA is needed.
    """
    import cv2

    h, w = image.shape[:2]
    if (w, h) != (width, height):
        shrink = max(w / width, h / height)
        interpolation = cv2.INTER_LINEAR if shrink <= 2.0 else cv2.INTER_AREA
        image = np.asarray(cv2.resize(image, (width, height), interpolation=interpolation), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2YUV_I420), dtype=np.uint8)


class ScreenTrack(VideoStreamTrack):
    """A video track of one monitor. Capture and conversion run in one private worker thread (one mss instance).

    ``stop()`` ends the track and releases the capture thread (and the capturer when the track owns it); the
    session that created the track calls it on close. ``recv()`` replaces VideoStreamTrack's test pattern and
    pacing entirely (pts come from the grab time, on the same 90 kHz clock).
    """

    kind = "video"

    def __init__(
        self,
        capturer: ScreenCapturer,
        *,
        width: int = DEFAULT_WIDTH,
        fps: float = DEFAULT_FPS,
        keepalive_fps: float = KEEPALIVE_FPS,
        settle: float = SETTLE_SECONDS,
        settle_fps: float = SETTLE_FPS,
        idle_poll_fps: float = IDLE_POLL_FPS,
        monitor: int = PRIMARY,
        owns_capturer: bool = False,
        skip_unchanged: bool = True,
        watch_damage: bool = True,
        forced_look: float = FORCED_LOOK_SECONDS,
        show_pointer: bool = True,
    ) -> None:
        super().__init__()
        if width < 2:
            raise ValueError("video width must be at least 2")
        if not 0 < fps <= 120:
            raise ValueError("video fps must be in (0, 120]")
        self.max_width = width
        self.max_macroblocks: int | None = None  # set by answered() for the codec chosen
        # The keep-alive frame and the looks for changes follow the frame rate: below one a second, a phone waited
        # many seconds for its first picture (13 s at 0.001). Settings may hold less; it is sent as one.
        self.fps = max(MIN_FPS, fps)
        # Told (on the event loop) when capture fails and when it works again: ("video_unavailable", text) and
        # ("video_resumed", text). The server turns these into agent_status messages for the phone.
        self.on_status: Callable[[str, str], None] | None = None
        self._failing = False
        self._frame_wanted = False  # request_frame(): the next tick sends, changed or not
        self._wakeup: asyncio.Future[None] | None = None  # what the tick waits on; request_frame() settles it
        self.idle_poll_fps = min(idle_poll_fps, fps)
        self.monitor = monitor
        self.stats = TrackStats()
        self._capturer = capturer
        self._owns_capturer = owns_capturer
        self._policy = EmitPolicy(keepalive_fps, settle, min(settle_fps, fps))
        self.skip_unchanged = skip_unchanged  # False: every tick is sent (for measuring what skipping saves)
        # Each watch has its own X connection. ``_use_*`` says whether the track wants it at all, ``_want_*``
        # whether it is still to be opened: once at the start, and again after its connection broke (the X server
        # restarted, say), else the stream would carry on without it until the phone reconnects.
        # Ask the X server what was drawn instead of grabbing to find out (real X captures only; False to measure).
        self._use_damage = watch_damage and skip_unchanged and isinstance(capturer, ScreenCapturer)
        self._want_damage = self._use_damage
        self._damage: DamageLooks | None = None  # once the worker thread opened a damage watch
        # Draw the mouse pointer into the frames (a grab never contains it; real X captures only).
        self._use_pointer = show_pointer and isinstance(capturer, ScreenCapturer)
        self._want_pointer = self._use_pointer
        self._pointer: Any = None  # the worker thread's CursorWatch, once opened
        # Show the desktop under the Away Mode lock screen, not the lock screen (real X captures only).
        self._use_under = isinstance(capturer, ScreenCapturer)
        self._want_under = self._use_under
        self._under: Any = None  # the worker thread's UnderOverlay, once opened
        self._grab_works = False  # the last grab worked: the display is there, watches can be opened on it
        self._reopen_at = 0.0  # monotonic time before which a broken watch is not opened again
        self._under_news = False  # drawn under the lock screen during the last grab: the next tick grabs again
        self._forced_look = forced_look
        self._last_grab = 0.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="contop-screen")
        self._lock = threading.Lock()
        self._last_raw: BGRA | None = None
        self._last_i420: npt.NDArray[np.uint8] | None = None
        self._epoch: float | None = None
        self._next_tick = 0.0
        self._last_pts = -1
        self._pending: asyncio.Task[tuple[av.VideoFrame | None, float]] | None = None
        self._closed = False

    # -- worker thread ---------------------------------------------------------------------------------------

    def _may_reopen(self) -> bool:
        return time.monotonic() >= self._reopen_at

    def _looks(self) -> DamageLooks | None:
        """The damage-driven grab policy, opened after a grab worked (the display is known to be there then)."""
        if self._want_damage and self._grab_works and self._may_reopen():
            self._want_damage = False
            watch = _open_damage_watch(self._capturer)
            self._damage = DamageLooks(watch, self._forced_look) if watch is not None else None
        return self._damage

    def _pointer_watch(self) -> Any:
        """The pointer watch, opened after a grab worked (the display is known to be there then)."""
        if self._want_pointer and self._grab_works and self._may_reopen():
            self._want_pointer = False
            self._pointer = _open_pointer_watch(self._capturer)
        return self._pointer

    def _under_overlay(self) -> Any:
        """The view under the Away Mode overlay, opened before the grab that needs it: the first frame must not
        show the lock screen. Opened while the display is away, it is None; the failing grab then asks for it
        again (``_display_lost``), and only a grab that works proves the server has no Composite."""
        if self._want_under and self._may_reopen():
            self._want_under = False
            self._under = _open_under_overlay(self._capturer)
        return self._under

    def _display_lost(self) -> None:
        """A grab failed, so the watches' connections are to a server that is gone, as a rule: they are closed,
        and opened again on the display that works at the next good grab (an X server restarted on the same
        display number, say). Worker thread."""
        self._grab_works = False
        damage, self._damage = self._damage, None
        pointer, self._pointer = self._pointer, None
        under, self._under = self._under, None
        for watch in (damage.watch if damage is not None else None, pointer, under):
            if watch is not None:
                watch.close()
        self._want_damage, self._want_pointer, self._want_under = self._use_damage, self._use_pointer, self._use_under

    def _under_drawn(self) -> bool:
        """Whether something was drawn under the lock screen (the root's reports miss it while it is up)."""
        under = self._under
        try:
            return under is not None and under.watching and bool(under.drawn())
        except Exception as exc:
            self._drop_under(exc)
            return False

    def _grab(self) -> tuple[BGRA, Any]:
        """The monitor as the phone should see it: the desktop, under the lock screen if Away Mode is on."""
        under = self._under_overlay()
        if under is not None:
            try:
                if under.active():
                    rect = self._capturer.monitor_rect(self.monitor)
                    image = under.grab(rect)
                    self.stats.under_overlay += 1
                    return image, rect
            except ContopError:
                raise  # no monitor: the capture failure path handles it
            except Exception as exc:
                self._drop_under(exc)
        return self._capturer.grab(self.monitor)

    def _drop_under(self, exc: Exception) -> None:
        logger.warning("the desktop under the Away Mode lock screen can no longer be read (%s); reopening it", exc)
        under, self._under = self._under, None
        if under is not None:
            under.close()
        self._want_under = self._use_under
        self._reopen_at = time.monotonic() + WATCH_REOPEN_SECONDS

    def _pointer_moved(self) -> bool:
        pointer = self._pointer_watch()
        try:
            return pointer is not None and bool(pointer.moved())
        except Exception as exc:
            self._drop_pointer(exc)
            return False

    def _with_pointer(self, image: BGRA, rect: Any) -> BGRA:
        """The grab with the pointer drawn in (into mss's fresh buffer, which is ours until the next grab)."""
        pointer = self._pointer
        if pointer is None:
            return image
        try:
            shot = pointer.look()
        except Exception as exc:
            self._drop_pointer(exc)
            return image
        if not image.flags.writeable:
            image = image.copy()
        draw_pointer(image, shot, (rect.left, rect.top))
        return image

    def _drop_pointer(self, exc: Exception) -> None:
        logger.warning("the pointer can no longer be read (%s); the video shows none until it is reopened", exc)
        pointer, self._pointer = self._pointer, None
        if pointer is not None:
            pointer.close()
        self._want_pointer = self._use_pointer
        self._reopen_at = time.monotonic() + WATCH_REOPEN_SECONDS

    def _capture(self) -> tuple[av.VideoFrame | None, float]:
        """Grab once; return the frame to send (or None to skip this tick) and the grab time."""
        t0 = time.thread_time()
        now = time.monotonic()
        self.stats.ticks += 1
        looks = self._looks()
        moved = self._pointer_moved()
        drawn_under = self._under_drawn() or self._under_news  # the root's reports miss it under the lock screen
        try:
            grab = looks is None or looks.should_grab(now, self._last_grab, moved or drawn_under)
        except Exception as exc:  # the X connection broke: grab on every tick from now on
            grab, looks = True, None
            self._drop_damage(exc)
        changed = False
        if grab:
            try:
                image, rect = self._grab()
            except NoActiveMonitor:
                raise  # the display is there, and so are the watches' connections to it
            except Exception:
                self._display_lost()
                raise
            self._grab_works = True
            # Reports that came in during the grab were read with its replies: the socket will not wake the next
            # wait for them, so they are taken now.
            self._under_news = self._under_drawn()
            now = self._last_grab = time.monotonic()
            self.stats.grabs += 1
            image = self._with_pointer(image, rect)
            changed = not _same_pixels(image, self._last_raw)
            if changed:
                self._last_raw = image  # a view over mss's fresh buffer: no copy needed
            if looks is not None:
                try:
                    looks.grabbed(changed)
                except Exception as exc:
                    self._drop_damage(exc)
        t1 = time.thread_time()
        self.stats.capture_cpu += t1 - t0
        wanted, self._frame_wanted = self._frame_wanted, False
        if not self._policy.decide(now, changed) and self.skip_unchanged and not wanted:
            return None, now
        if changed or self._last_i420 is None:
            shot = self._last_raw
            assert shot is not None  # the first tick grabs, and a changed one has just been grabbed
            width, height = video_size(shot.shape[1], shot.shape[0], self.max_width, self.max_macroblocks)
            self._last_i420 = bgra_to_i420(shot, width, height)
            self.stats.frames_converted += 1
            self.stats.convert_cpu += time.thread_time() - t1
            self.stats.width, self.stats.height = width, height
        # A new frame object each time (the encoder may hold the previous one); the copy here is ~0.5 ms.
        return av.VideoFrame.from_ndarray(self._last_i420, format="yuv420p"), now

    def _drop_damage(self, exc: Exception) -> None:
        logger.warning("the screen's damage reports stopped (%s); comparing the screen on every tick until they "
                       "are reopened", exc)  # fmt: skip
        looks, self._damage = self._damage, None
        if looks is not None:
            looks.watch.close()
        self._want_damage = self._use_damage
        self._reopen_at = time.monotonic() + WATCH_REOPEN_SECONDS

    def _release(self) -> None:
        if self._damage is not None:
            self._damage.watch.close()
            self._damage = None
        if self._pointer is not None:
            self._pointer.close()
            self._pointer = None
        if self._under is not None:
            self._under.close()
            self._under = None
        self._last_raw = None
        self._last_i420 = None
        if self._owns_capturer:
            self._capturer.close()

    # -- event loop -----------------------------------------------------------------------------------------

    async def _tick(self) -> tuple[av.VideoFrame | None, float]:
        """Wait for the next tick, then capture in the worker thread."""
        now = time.monotonic()
        if self._epoch is None:
            self._epoch = self._next_tick = now
        elif self._next_tick > now and not self._frame_wanted:
            await self._nap(self._next_tick - now)
        looks = self._damage  # set and changed by the worker, which is idle between two ticks
        if looks is not None and looks.state == DamageLooks.WATCHING and not (self._frame_wanted or self._under_news):
            due = min(self._last_grab + looks.forced_look, self._policy.next_repeat(now))
            watches = [looks.watch] if self._pointer is None else [looks.watch, self._pointer]
            under = self._under
            if under is not None and under.watching:
                watches.append(under)  # the root's reports miss what is drawn under the lock screen
            await _until_drawn(watches, due, self._new_wakeup())
        # Ticks missed while capture or the encoder ran late are dropped, not caught up in a burst.
        idle = self.skip_unchanged and self._policy.settled(now) and self._damage is None
        self._next_tick = max(self._next_tick + 1.0 / (self.idle_poll_fps if idle else self.fps), time.monotonic())
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._capture)

    def _prefetch(self) -> asyncio.Task[tuple[av.VideoFrame | None, float]]:
        task = asyncio.get_running_loop().create_task(self._tick())
        # Retrieved in recv(); when stop() cancels it instead, mark any exception as seen.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._pending = task
        return task

    def request_frame(self) -> None:
        """Send a frame at the next tick even if the screen did not change, and cut the current wait short: the
        phone asked for a keyframe (lost packets), and a still screen would otherwise wait for the keep-alive
        frame, up to a second. Call on the event loop."""
        self._frame_wanted = True
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _new_wakeup(self) -> asyncio.Future[None]:
        self._wakeup = asyncio.get_running_loop().create_future()
        return self._wakeup

    async def _nap(self, delay: float) -> None:
        """``asyncio.sleep(delay)`` that request_frame() cuts short."""
        wakeup = self._new_wakeup()

        def ring() -> None:
            if not wakeup.done():
                wakeup.set_result(None)

        timer = asyncio.get_running_loop().call_later(delay, ring)
        try:
            await wakeup
        finally:
            timer.cancel()

    def answered(self, answer_sdp: str, sender: Any = None) -> None:
        """Called with our answer and the track's sender: frames are sized for the codec the answer chose (H264's
        level limits their size), and the phone's keyframe requests are answered at once."""
        if sender is not None:
            follow_keyframe_requests(sender, self)
        self.max_macroblocks = macroblock_limit(answer_sdp)
        if self.max_macroblocks is not None:
            logger.info("H264: frames of at most %d macroblocks", self.max_macroblocks)

    def _capture_failed(self, exc: Exception) -> None:
        """Keep the track (and aiortc's sender) alive: try again in a while, and tell the phone once."""
        self.stats.capture_failures += 1
        self._next_tick = time.monotonic() + CAPTURE_RETRY_SECONDS
        if self._failing:
            return
        self._failing = True
        logger.warning("screen capture failed, retrying every %g s: %s", CAPTURE_RETRY_SECONDS, exc,
                       exc_info=not isinstance(exc, ContopError))  # fmt: skip
        stopped = _sentence(f"The live screen stopped: {exc}")  # the error may end with its own full stop
        self._status("video_unavailable", f"{stopped} Trying again every few seconds.")

    def _status(self, kind: str, message: str) -> None:
        if self.on_status is None:
            return
        try:
            self.on_status(kind, message)
        except Exception:
            logger.exception("reporting the video's state failed")

    async def recv(self) -> av.VideoFrame:
        """The next frame to encode; waits through ticks where the screen did not change.

        The capture of the following tick starts before this frame is returned, so on a multi-core machine the
        capture thread grabs and converts frame n+1 while aiortc's encoder thread compresses frame n.
        """
        while True:
            if self.readyState != "live" or self._closed:
                raise MediaStreamError
            task = self._pending or self._prefetch()
            try:
                frame, grabbed = await task
            except Exception as exc:
                if self._closed:  # stop() shut the worker down while we waited
                    raise MediaStreamError from exc
                self._capture_failed(exc)
                continue
            finally:
                if self._pending is task:
                    self._pending = None
            if self._closed:
                raise MediaStreamError
            if self._failing:
                self._failing = False
                logger.info("the screen can be captured again; the video resumes")
                self._status("video_resumed", "The live screen is back.")
            self._prefetch()
            if frame is None:
                continue
            assert self._epoch is not None
            pts = max(int((grabbed - self._epoch) * CLOCK_RATE), self._last_pts + 1)
            self._last_pts = pts
            frame.pts = pts
            frame.time_base = TIME_BASE
            self.stats.frames_sent += 1
            return frame

    def stop(self) -> None:
        """End the track; idempotent. The worker releases the capturer after any grab in progress."""
        super().stop()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._executor.submit(self._release)
        self._executor.shutdown(wait=False)


def _sentence(text: str) -> str:
    """``text`` ending with one full stop: error messages may or may not end with their own."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def display_expected(display: str | None) -> bool:
    """Whether this server is meant to have a screen, so that one that cannot be opened now may come back (an X
    server restarting). Windows and macOS always have one; Linux when an X display is named, here or in
    ``$DISPLAY`` (which the capture reads too): without either it is headless for good."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(display or os.environ.get("DISPLAY"))


async def _until_drawn(watches: list[Any], due: float, wakeup: asyncio.Future[None] | None = None) -> None:
    """Wait until the X server sends one of the watches' connections something (a drawing report or pointer
    motion, as a rule) or until ``due`` (monotonic time): a still screen then costs no tick at all between the
    ones that have work to do.

    The event loop watches duplicates of the connections' sockets, which it alone closes: the worker thread may
    close a connection itself meanwhile (the track stopping), and the descriptor number could then be reused.
    Reading stays with the worker thread (python-xlib connections are not thread safe).
    """
    delay = due - time.monotonic()
    if delay <= 0:
        return
    fds: list[int] = []
    try:
        for watch in watches:
            fds.append(os.dup(watch.fileno()))
    except (OSError, ValueError):  # already closed: the next tick finds out and grabs as before
        for fd in fds:
            os.close(fd)
        return
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def woken() -> None:
        if not readable.done():
            readable.set_result(None)

    waiting: list[asyncio.Future[None]] = [readable]
    if wakeup is not None:  # request_frame() cuts the wait short
        waiting.append(wakeup)
    try:
        for fd in fds:
            loop.add_reader(fd, woken)
        try:
            await asyncio.wait(waiting, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fd in fds:
                loop.remove_reader(fd)
    finally:
        for fd in fds:
            os.close(fd)


def follow_keyframe_requests(sender: Any, track: ScreenTrack) -> None:
    """Make the phone's keyframe requests (PLI/FIR, after lost packets) produce a frame at once: aiortc only
    flags the next frame to encode, which a still screen sends up to a second later."""
    original = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        track.request_frame()

    sender._send_keyframe = send_keyframe


def _open_damage_watch(capturer: ScreenCapturer) -> Any:
    """A DamageWatch on the capturer's X display, or None (not Linux, no X, no DAMAGE)."""
    if not sys.platform.startswith("linux"):
        return None
    from contop.platform.linux.damage import DamageWatch

    return DamageWatch.open(capturer.display)


def _open_under_overlay(capturer: ScreenCapturer) -> Any:
    """An UnderOverlay on the capturer's X display, or None (not Linux, no X, no Composite)."""
    if not sys.platform.startswith("linux"):
        return None
    from contop.transport.video_away import open_under_overlay

    return open_under_overlay(capturer.display)


def _open_pointer_watch(capturer: ScreenCapturer) -> Any:
    """A CursorWatch on the capturer's X display, or None (not Linux, no X, no XFixes)."""
    if not sys.platform.startswith("linux"):
        return None
    from contop.platform.linux.cursor import CursorWatch

    return CursorWatch.open(capturer.display)


def _setting(settings: object | None, name: str, default: Any) -> Any:
    value = getattr(settings, name, None) if settings is not None else None
    return default if value is None else value


async def create_screen_track(
    settings: object | None = None,
    *,
    display: str | None = None,
    capturer: ScreenCapturer | None = None,
    monitor: int = PRIMARY,
) -> ScreenTrack | None:
    """A screen track sized and paced by ``settings`` (``video_width``, ``video_fps``), or None on a server
    with no display at all.

    ``display`` is an X display name (``None``: the environment's). With ``capturer`` the track shares it and
    does not close it. The display is probed in a worker thread, so a slow X server never blocks the event loop.
    A display that cannot be captured now, where one is expected (``display_expected``), still gives a track: it
    tells the phone why and tries again every CAPTURE_RETRY_SECONDS.
    """
    width = int(_setting(settings, "video_width", DEFAULT_WIDTH))
    fps = float(_setting(settings, "video_fps", DEFAULT_FPS))
    owns = capturer is None
    cap = capturer or ScreenCapturer(display)
    track = ScreenTrack(cap, width=width, fps=fps, monitor=monitor, owns_capturer=owns)
    loop = asyncio.get_running_loop()
    try:
        # Opens the worker thread's mss connection now, so "no display" is known before the answer is written.
        rect = await loop.run_in_executor(track._executor, cap.monitor_rect, monitor)
    except NoActiveMonitor as exc:
        # The phone gets the stream all the same: told the screen cannot be shown, and the picture when a monitor
        # is on again (the track tries every CAPTURE_RETRY_SECONDS), without having to reconnect.
        logger.warning("screen video: %s; it starts when a monitor is on again", exc)
        return track
    except (NotAvailableError, ToolError) as exc:
        if display_expected(display):
            # The X server is down (restarting, say): the phone gets the stream and is told, and gets the picture
            # once the display can be opened, as with no monitor.
            logger.warning("screen video starts when the display can be opened: %s", exc)
            return track
        logger.warning("no screen video: %s", exc)
        track.stop()
        return None
    except BaseException:
        track.stop()  # its worker thread holds an X connection
        raise
    w, h = video_size(rect.width, rect.height, width)
    logger.info("screen video %dx%d at %g fps from a %dx%d monitor", w, h, fps, rect.width, rect.height)
    return track
