"""The desktop the display tools drive: one adapter and screen capturer per display, the geometry of each session's
last screenshot (so the model's coordinates map back exactly), the Away Mode checks, and who may use the keyboard.

Connections are cached per display: opening an X connection and an mss instance per tool call would cost more than
most actions. A cached desktop whose X server went away (it restarted, or the session ended) is dropped at the next
call and opened anew: each of its X connections is checked itself (the adapter's, and the one for the Away Mode
checks when open), and one a call found closed marks the whole desktop lost. A connection opened after the restart
answers, so it says nothing about the others. Per-session state is only the last geometry, keyed by session id.

Keyboard calls (typing, keys) go through ``keyboard``, the process's one gate: a typing whose caller is cancelled
stops within a keystroke, and Away Mode closes the gate before its lock screen takes the keyboard, which stops the
typing in progress and refuses new typing, so that none of it lands in the lock screen's PIN field.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from contop.core.errors import ContopError, NoDesktopError, NotAvailableError, ToolError
from contop.platform.base import PlatformAdapter, current_os, get_adapter
from contop.platform.capture import BGRA, ScreenCapturer, downscale
from contop.platform.geometry import ScreenGeometry

log = logging.getLogger(__name__)

MAX_SESSIONS = 64  # geometries kept; the oldest session's is forgotten first
KEYBOARD_CALLS = frozenset({"type_text", "press_key", "hotkey"})  # adapter methods that send keystrokes
# How long a cancelled keyboard call is waited for: typing stops within a keystroke, so this is only reached when
# the X server itself does not answer.
STOP_WAIT_S = 1.0


@dataclass
class Desktop:
    """One display's adapter and capturer, shared by every session of the process."""

    display: str | None
    adapter: PlatformAdapter
    capturer: ScreenCapturer
    _geometries: dict[str, ScreenGeometry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _xdisplay: Any = None
    _lost: bool = False  # one of its X connections was found closed: the desktop is opened anew at the next call

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

    # -- the X connections ----------------------------------------------------------------------------------
    def connected(self) -> bool:
        """Whether the display's X server still answers on every connection this desktop holds (always True
        elsewhere than X11). A restarted X server is another server: every connection to the old one is dead for
        good, so each is checked itself, and the one for the Away Mode checks only when it is already open."""
        if current_os() != "linux":
            return True
        alive = not self._lost and adapter_connected(self.adapter)
        if alive:
            try:
                with self._lock:
                    if self._xdisplay is not None:
                        self._xdisplay.get_input_focus()  # a round trip: a dead connection shows here
            except Exception:
                alive = False
        if not alive:
            log.info("the X display %s went away: its desktop is opened anew", self.display or "(default)")
        return alive

    def _x(self) -> Any:
        if self._xdisplay is None:
            from contop.platform.linux.xconnect import open_display

            self._xdisplay = open_display(self.display, "desktop")
            if self._xdisplay is None:
                self._lost = True  # its X server is down: what this desktop holds was opened on the one before
                raise NotAvailableError(f"cannot open the X display {self.display or '(default)'}")
        return self._xdisplay

    def _lost_on(self, exc: BaseException) -> bool:
        """Mark the desktop lost when ``exc`` says its X connection for the Away Mode checks is closed."""
        if _connection_closed(exc):
            self._lost = True
            log.info("the X display %s went away: %s", self.display or "(default)", exc)
        return self._lost

    @contextmanager
    def _away_x(self) -> Iterator[Any]:
        """The connection for the Away Mode checks, under the lock; closed, it marks the desktop lost."""
        with self._lock:
            try:
                yield self._x()
            except NotAvailableError:
                raise
            except Exception as exc:
                if self._lost_on(exc):
                    raise NotAvailableError(f"the X display {self.display or '(default)'} went away: {exc}") from exc
                raise

    # -- Away Mode ----------------------------------------------------------------------------------------
    def away_overlay_active(self) -> bool:
        """True while the Away Mode lock overlay covers this display (X11 only; elsewhere always False)."""
        if current_os() != "linux":
            return False
        try:
            from contop.desktop import away_capture

            with self._away_x() as x:
                return bool(away_capture.overlay_active(x))
        except Exception as exc:  # no overlay support here must not break the tools
            # A closed connection marks the desktop lost: its X server, and any overlay on it, is gone; the
            # adapter's connection went with it, so the action itself fails and the next call opens a new one.
            self._lost_on(exc)
            log.debug("cannot check for the Away Mode overlay", exc_info=True)
            return False

    def capture_bgra(self, max_width: int | None = None) -> tuple[BGRA, ScreenGeometry, bool]:
        """Downscaled pixels of the primary monitor, the overlay left out when Away Mode is up (third value)."""
        if self.away_overlay_active():
            from contop.desktop import away_capture

            geo = self.capturer.geometry(max_width=max_width)
            m = geo.monitor
            with self._away_x() as x:
                image = away_capture.capture_without_overlay(x, (m.left, m.top, m.width, m.height))
            return downscale(image, geo.shot_width, geo.shot_height), geo, True
        image, geo = self.capturer.capture_bgra(max_width=max_width)
        return image, geo, False

    def native_region(self, left: int, top: int, width: int, height: int) -> BGRA:
        """Native-resolution pixels of a screen region (for OCR), the Away Mode overlay left out when it is up."""
        if self.away_overlay_active():
            from contop.desktop import away_capture

            with self._away_x() as x:
                return away_capture.capture_without_overlay(x, (left, top, width, height))
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


def adapter_connected(adapter: PlatformAdapter) -> bool:
    """Whether the adapter's own connection to its desktop still works (one X round trip on X11); only the X11
    adapter holds a connection that can go away while the process runs."""
    check = getattr(adapter, "connected", None)
    return check is None or bool(check())


def _connection_closed(exc: BaseException) -> bool:
    """Whether ``exc`` says an X connection is closed for good (its server went away)."""
    if isinstance(exc, OSError):  # a broken pipe, a reset: python-xlib passes some on as they are
        return True
    try:
        from Xlib import error as xerror
    except ImportError:
        return False
    return isinstance(exc, xerror.ConnectionClosedError)


_desktops: dict[str | None, Desktop] = {}
_open_lock = threading.Lock()


def open_desktop(display: str | None = None) -> Desktop:
    """The cached desktop of ``display`` (default: the environment's), opened anew when its X server went away;
    ToolError with the reason when there is none."""
    with _open_lock:
        existing = _desktops.get(display)
        if existing is not None:
            if existing.connected():
                return existing
            del _desktops[display]
            _close_quietly(existing)
        failure = None
        with warnings.catch_warnings():
            # python-xlib leaves the sockets of a connection it could not make to the garbage collector; they go
            # with the exception, here (the X server is down: it is tried again at each call until it is back).
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                adapter = get_adapter(display)
            except ContopError as exc:
                failure = str(exc)
        if failure is not None:
            raise NoDesktopError(f"No desktop available: {failure}")
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


def _close_quietly(desk: Desktop) -> None:
    try:
        desk.close()
    except Exception:  # its X server is gone: nothing on it is left to put back
        log.debug("closing the desktop of display %s failed", desk.display or "(default)", exc_info=True)


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
    """An adapter call in a worker thread, its platform errors translated into ToolError for the model. Keystrokes
    (``KEYBOARD_CALLS`` of an adapter) go through the keyboard gate (``run_keys``)."""
    keys = getattr(fn, "__name__", "") in KEYBOARD_CALLS and isinstance(getattr(fn, "__self__", None), PlatformAdapter)
    try:
        if keys:
            return await run_keys(fn, *args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ToolError:
        raise
    except NotAvailableError as exc:
        raise ToolError(str(exc)) from exc


# -- the keyboard ---------------------------------------------------------------------------------------------

KEYBOARD_LOCKED = (
    "Away Mode locks the desk: its lock screen holds the keyboard, so keys and text would go into its PIN field. "
    "Nothing was typed; keys and text are refused until the desk is unlocked."
)
STOPPED_BY_AWAY = "Away Mode locked the desk, and the rest would have gone into the lock screen's PIN field"
STOPPED_BY_CANCEL = "the action was cancelled"


class KeyboardTaken(ToolError):
    """Keys or text were refused or cut short because the keyboard is not ours to use (Away Mode, a cancel)."""


class KeyboardLocked(KeyboardTaken):
    """Away Mode holds the keyboard: nothing was typed."""


class TypingStopped(KeyboardTaken):
    """Typing was stopped part way: ``typed`` of ``total`` characters went out (``typed`` None: unknown)."""

    def __init__(self, reason: str, typed: int | None, total: int | None, *, exact: bool = True, key: bool = False):
        self.typed, self.total, self.reason = typed, total, reason
        if key:
            message = f"The key was not pressed: {reason}."
        elif typed is None or total is None:
            message = f"Typing was stopped part way: {reason}."
        else:
            count = str(typed) if exact else f"at least {typed}"
            message = f"Typing was stopped after {count} of {total} characters: {reason}."
        super().__init__(message)


class _KeyJob:
    """One keyboard call: the event its thread watches, and why it was set."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reason: str | None = None

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.stop.set()


class KeyboardGate:
    """Who may send keystrokes now: every keyboard call holds the gate while its thread runs; ``lock`` (Away Mode)
    stops those in progress and refuses new ones until ``unlock``.

    Entering and locking take the same lock, so a call either entered before the lock (and is stopped, and waited
    for by ``wait_idle``) or is refused: none can slip in between.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jobs: set[_KeyJob] = set()
        self._holders: set[object] = set()  # who locked it (Away Mode controllers)

    @property
    def locked(self) -> bool:
        with self._cond:
            return bool(self._holders)

    def enter(self, job: _KeyJob) -> None:
        with self._cond:
            if self._holders:
                raise KeyboardLocked(KEYBOARD_LOCKED)
            self._jobs.add(job)

    def leave(self, job: _KeyJob) -> None:
        with self._cond:
            self._jobs.discard(job)
            self._cond.notify_all()

    def lock(self, holder: object, reason: str = STOPPED_BY_AWAY) -> None:
        with self._cond:
            self._holders.add(holder)
            for job in self._jobs:
                job.cancel(reason)

    def unlock(self, holder: object) -> None:
        with self._cond:
            self._holders.discard(holder)

    def wait_idle(self, timeout: float) -> bool:
        """Whether every keyboard call has ended (within ``timeout`` seconds)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs, timeout)


keyboard = KeyboardGate()


def _typing_stop_var() -> ContextVar[threading.Event | None] | None:
    """Where the X11 typing looks for its stop; elsewhere typing is one burst of events with nothing to stop."""
    if current_os() != "linux":
        return None
    from contop.platform.linux.xinput import typing_stop

    return typing_stop


async def run_keys(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A keyboard call in a worker thread, through the gate: refused while Away Mode holds the keyboard, stopped
    when Away Mode takes it, and stopped (and waited for, briefly) when the caller is cancelled."""
    job = _KeyJob()
    stop_var = _typing_stop_var()
    key = getattr(fn, "__name__", "") != "type_text"
    total = None if key or not args or not isinstance(args[0], str) else len(args[0])

    def call() -> Any:
        keyboard.enter(job)
        try:
            if stop_var is not None:
                stop_var.set(job.stop)  # this thread's copy of the caller's context: nobody else sees it
            if job.stop.is_set():
                raise TypingStopped(job.reason or STOPPED_BY_CANCEL, 0, total, key=key)
            try:
                return fn(*args, **kwargs)
            except ToolError as exc:
                if job.reason is None:
                    raise
                typed = getattr(exc, "typed", None)  # the X11 typing's TypingInterrupted says how far it got
                raise TypingStopped(job.reason, typed, total, exact=getattr(exc, "exact", True), key=key) from exc
        finally:
            keyboard.leave(job)

    task = asyncio.ensure_future(asyncio.to_thread(call))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # seen by nobody once its caller is gone
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        job.cancel(STOPPED_BY_CANCEL)
        await asyncio.wait([task], timeout=STOP_WAIT_S)  # the keys already sent reach the server before we go
        raise


async def take_keyboard(holder: object) -> bool:
    """Lock the keyboard gate for ``holder`` (Away Mode): typing in progress stops and new typing is refused.
    Returns once every keyboard call has ended, or after ``STOP_WAIT_S`` (False: one did not stop in time)."""
    keyboard.lock(holder)
    return await asyncio.to_thread(keyboard.wait_idle, STOP_WAIT_S)
