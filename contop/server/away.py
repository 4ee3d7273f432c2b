"""Away Mode on the server: engages and disengages the lock overlay process, watches it, and auto-engages on idle.

The overlay (``contop.desktop.overlay``) runs as its own process group. One task follows it for the whole engaged
period: it reads the overlay's status lines, and if the overlay dies without a clean unlock it raises a
``security_alert`` (reason ``overlay_killed``) and puts a new overlay up. A failure never unlocks the desk: the
overlay is put back for as long as Away Mode is engaged, at once the first few times, then after a pause that grows
to 30 s (``overlay_restart_failed`` when one does not come up); meanwhile the status says no overlay is up. Only a
PIN at the desk, or a disengage from the phone or the admin API, ends Away Mode.

The overlay keeps the wrong-PIN count and the end of a lockout in a file of its own (``away-attempts.json``, see
``contop.desktop.away_attempts``), so that PINs typed while no server listened are not forgotten.

The overlay outlives a server that crashes, so the desk stays locked. While it is up, the state directory holds an
``OverlayRecord`` naming its process; the next server checks that process against ``/proc`` and takes the lock
over: it reports Away Mode engaged and puts its own overlay up over the old one, which it then ends, so that the
phone can unlock the desk again. An unlock removes the record, at the desk too (the overlay does it), so a record
whose overlay is gone (the server and its lock screen both killed, or the machine restarted while locked) makes the
next server lock the desk again. A server that stops cleanly takes its overlay down.

Engaging needs ``away_mode.enabled`` and a PIN hash: the phone must never lock a desk that nobody can unlock at
the desk. The phone can always disengage.

While Away Mode is engaged the server's own keyboard input (the agent's typing, the phone's keys) is refused: the
lock screen holds the keyboard, so keys would be PIN attempts, and a text ending in the PIN would unlock the desk.
Engaging stops the typing in progress and waits for it to have stopped before the lock screen comes up
(``contop.tools.desktop.take_keyboard``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import bcrypt

from contop.core.clock import utcnow
from contop.core.errors import ContopError, NotAvailableError
from contop.core.settings import AwayModeSettings
from contop.desktop.away_attempts import ATTEMPTS_FILE, read_attempts
from contop.server.settings_store import SettingsStore
from contop.server.statedir import atomic_write
from contop.tools.desktop import adapter_connected, keyboard, take_keyboard

if TYPE_CHECKING:
    from contop.transport.manager import SessionManager

log = logging.getLogger(__name__)

EngageSource = Literal["phone", "idle", "api"]
DisengageSource = Literal["phone", "api", "shutdown"]
AlertCallback = Callable[[str, str], Awaitable[None] | None]
StatusCallback = Callable[[dict[str, Any]], Awaitable[None] | None]
IdleSource = Callable[[], float]

BCRYPT_COST = 10
PIN_RE = re.compile(r"[0-9]{4,12}")
EMERGENCY_PIN_RE = re.compile(r"[0-9]{6,12}")
OVERLAY_MODULE = "contop.desktop.overlay"
RECORD_FILE = "away-overlay.json"  # in the state directory, next to settings.json

_leave_locked: Callable[[], bool] = bool  # bool() is False: by default a stop takes the lock screen down


def leave_locked_on_exit(condition: Callable[[], bool]) -> None:
    """Leave a lock screen up when the server stops while ``condition()`` holds (the desktop app that started it
    is gone: crashed or killed). It then stays up as under a server killed outright, for the next server to take
    over: whoever can make the app die must not unlock the desk that way. The lock screen checks the PIN itself."""
    global _leave_locked
    _leave_locked = condition


class AwayModeError(ContopError):
    """Away Mode cannot do what was asked; the message says why and what to do."""


class PinPolicyError(AwayModeError):
    """A PIN does not meet the rules (4 to 12 digits; emergency 6 to 12 digits, different from the PIN)."""


class AwayState(StrEnum):
    OFF = "off"
    ENGAGED = "engaged"


@dataclass(frozen=True)
class AwayTiming:
    poll_interval: float = 30.0  # idle checks
    ready_timeout: float = 15.0  # overlay start (Python + Pillow + first picture)
    stop_timeout: float = 3.0  # SIGTERM, then SIGKILL
    relock_delay: float = 0.5  # pause before replacing a lock screen that went, the first quick_relocks times
    quick_relocks: int = 3
    relock_backoff: float = 1.0  # then this pause, doubling each time ...
    max_relock_backoff: float = 30.0  # ... up to this
    relock_window: float = 60.0  # a lock screen that stayed up this long starts the count of replacements afresh
    orphan_poll: float = 0.5  # checks on a previous server's overlay that could not be replaced
    tamper_quiet: float = 10.0  # after an overlay_tampered alert, more of them are summed up in one per period


# -- PINs (pure apart from bcrypt) ------------------------------------------------------------------------------


def check_new_pins(pin: str, emergency_pin: str | None) -> None:
    """Raise ``PinPolicyError`` unless the PINs meet the rules. The message never contains a PIN."""
    if not PIN_RE.fullmatch(pin):
        raise PinPolicyError("the PIN must be 4 to 12 digits")
    if emergency_pin:
        if not EMERGENCY_PIN_RE.fullmatch(emergency_pin):
            raise PinPolicyError("the emergency PIN must be 6 to 12 digits")
        if emergency_pin == pin:
            raise PinPolicyError("the emergency PIN must differ from the PIN")


def hash_pin(pin: str) -> str:
    return bcrypt.hashpw(pin.encode("ascii"), bcrypt.gensalt(BCRYPT_COST)).decode("ascii")


def pin_matches(pin: str, hashed: str) -> bool:
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(pin.encode("ascii"), hashed.encode("ascii"))
    except ValueError:
        return False


def new_pin_settings(current: AwayModeSettings, pin: str, emergency_pin: str | None) -> dict[str, Any]:
    """The ``away_mode`` section after setting ``pin`` (and ``emergency_pin``: None keeps it, "" clears it).

    Slow (bcrypt): run it in a thread.
    """
    check_new_pins(pin, emergency_pin)
    section = current.model_dump()
    if emergency_pin is None and pin_matches(pin, current.emergency_pin_hash):
        raise PinPolicyError("the PIN must differ from the emergency PIN")
    section["pin_hash"] = hash_pin(pin)
    if emergency_pin is not None:
        section["emergency_pin_hash"] = hash_pin(emergency_pin) if emergency_pin else ""
    section["enabled"] = True
    return section


def relock_pause(streak: int, timing: AwayTiming) -> float:
    """Seconds to wait before putting up a lock screen when ``streak`` were already put back in a row: soon the first
    few times, then a growing pause, so that an overlay that cannot stay up does not spin the machine."""
    if streak < timing.quick_relocks:
        return timing.relock_delay
    return min(timing.max_relock_backoff, timing.relock_backoff * 2 ** min(streak - timing.quick_relocks, 32))


def _in(seconds: float) -> str:
    return "at once" if seconds < 1 else f"in {seconds:.0f} s"


def engage_refusal(settings: AwayModeSettings) -> str | None:
    """Why Away Mode may not be engaged now, or None when it may."""
    if not settings.pin_hash:
        return "no Away Mode PIN is set: set one in the desktop app (Settings → Away Mode) before locking the desk"
    if not settings.enabled:
        return "Away Mode is turned off in the settings (away_mode.enabled)"
    return None


def should_auto_engage(
    settings: AwayModeSettings, idle: float, *, engaged: bool, since_disengage: float | None
) -> bool:
    """Idle auto-engage decision. After a disengage, the desk must have seen input again before it re-locks."""
    if engaged or not settings.idle_timeout_enabled or engage_refusal(settings) is not None:
        return False
    if idle < settings.auto_engage_minutes * 60:
        return False
    return since_disengage is None or idle < since_disengage


# -- the overlay left up by a server that died ------------------------------------------------------------------


@dataclass(frozen=True)
class OverlayRecord:
    """Which process is the lock screen, and since when the desk is locked: written while an overlay is up."""

    pid: int
    started: int  # the process's start time (clock ticks after boot, /proc/PID/stat): a reused pid does not match
    argv: tuple[str, ...]
    display: str
    engaged_at: str
    engaged_by: str
    failed_attempts: int = 0

    def dumps(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def loads(cls, data: bytes) -> OverlayRecord | None:
        """The record in ``data``, or None when it is not one: damaged (``atomic_write`` never leaves a torn one),
        of wrong types, or nested too deeply to read."""
        try:
            raw = json.loads(data)
            return cls(
                pid=int(raw["pid"]),
                started=int(raw["started"]),
                argv=tuple(str(a) for a in raw["argv"]),
                display=str(raw["display"]),
                engaged_at=str(raw["engaged_at"]),
                engaged_by=str(raw["engaged_by"]),
                failed_attempts=int(raw.get("failed_attempts", 0)),
            )
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
            return None


def start_time(stat: str) -> int | None:
    """The start time in a ``/proc/PID/stat`` line, or None when the process is a zombie (it is gone)."""
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces and parentheses
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])  # field 22 of the line; these start at field 3


def is_recorded_overlay(record: OverlayRecord, stat: str | None, cmdline: bytes | None) -> bool:
    """Whether the live process with ``stat`` and ``cmdline`` (read from /proc) is the one ``record`` names."""
    if stat is None or cmdline is None:
        return False
    return start_time(stat) == record.started and cmdline.split(b"\0")[:-1] == [a.encode() for a in record.argv]


def _proc(pid: int) -> tuple[str | None, bytes | None]:
    try:
        return Path(f"/proc/{pid}/stat").read_text(), Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone, or no /proc (not Linux: the X11 overlay does not run there)
        return None, None


def overlay_alive(record: OverlayRecord) -> bool:
    return is_recorded_overlay(record, *_proc(record.pid))


# -- the controller ----------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One overlay process and what it has told us."""

    proc: asyncio.subprocess.Process
    ready: asyncio.Future[None]
    argv: tuple[str, ...] = ()
    replaces: OverlayRecord | None = None  # a previous server's overlay, ended once this one covers the screen
    unlocked_by: str | None = None
    is_ready: bool = False
    was_ready: bool = False
    ready_at: float | None = None  # time.monotonic() of "ready"
    error: str = ""  # why it ended, as far as it said


class AwayModeController:
    def __init__(
        self,
        settings: SettingsStore,
        *,
        overlay_argv: Sequence[str] | None = None,
        idle_source: IdleSource | None = None,
        timing: AwayTiming | None = None,
        env: dict[str, str] | None = None,
        record_path: Path | None = None,
    ) -> None:
        self._settings = settings
        self._record_path = record_path or settings.path.parent / RECORD_FILE
        self._attempts_path = self._record_path.parent / ATTEMPTS_FILE  # written by the overlay
        self._record_lock = asyncio.Lock()
        self._overlay_argv = list(overlay_argv or [sys.executable, "-m", OVERLAY_MODULE])
        self._idle_source = idle_source
        self._idle_reason: str | None = None
        self._adapter: Any = None
        self.timing = timing or AwayTiming()
        self._env = env
        self._state = AwayState.OFF
        self._run: _Run | None = None
        self._orphan: OverlayRecord | None = None  # a previous server's overlay, still up and not yet replaced
        self._task: asyncio.Task[None] | None = None  # follows the overlay for the whole engaged period
        self._idle_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()  # set when the lock screen is to come down (or be let go): no more relocks
        self._engaged_at: datetime | None = None
        self._engaged_by: str | None = None
        self._last_unlock: str | None = None
        self._disengaged_mono: float | None = None
        self._failures = 0
        self._streak = 0  # lock screens put back in a row (see relock_pause)
        self._alert_callbacks: list[AlertCallback] = []
        self._status_callbacks: list[StatusCallback] = []
        self._closed = False
        self._tampering: list[str] = []  # what was tampered with since the last overlay_tampered alert
        self._tamper_task: asyncio.Task[None] | None = None  # the quiet period after one

    # -- hooks ---------------------------------------------------------------------------------------------

    def on_alert(self, callback: AlertCallback) -> None:
        """``callback(reason, message)`` on every security event (the session layer tells the phones)."""
        self._alert_callbacks.append(callback)

    def on_status(self, callback: StatusCallback) -> None:
        """``callback(status)`` after every change of state."""
        self._status_callbacks.append(callback)

    async def _fire(self, callbacks: Sequence[Callable[..., Any]], *args: Any) -> None:
        for callback in list(callbacks):
            try:
                result = callback(*args)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Away Mode callback failed")

    async def _alert(self, reason: str, message: str) -> None:
        log.warning("Away Mode security alert %s: %s", reason, message)
        await self._fire(self._alert_callbacks, reason, message)

    async def _changed(self) -> None:
        await self._fire(self._status_callbacks, self.status())

    # -- state ---------------------------------------------------------------------------------------------

    @property
    def engaged(self) -> bool:
        return self._state is AwayState.ENGAGED

    def status(self) -> dict[str, Any]:
        settings = self._settings.get().away_mode
        run = self._run
        return {
            "away_mode": self.engaged,
            "overlay_active": bool(run and run.is_ready and run.proc.returncode is None) or self._orphan is not None,
            "engaged_at": self._engaged_at.isoformat() if self.engaged and self._engaged_at else None,
            "engaged_by": self._engaged_by if self.engaged else None,
            "last_unlock": self._last_unlock,
            "failed_attempts": self._failures,
            "pin_set": bool(settings.pin_hash),
            "emergency_pin_set": bool(settings.emergency_pin_hash),
            "enabled": settings.enabled,
            "auto_engage": {
                "enabled": settings.enabled and settings.idle_timeout_enabled,
                "minutes": settings.auto_engage_minutes,
                "available": self._idle_reason is None,
                "reason": self._idle_reason,
            },
        }

    # -- engage / disengage --------------------------------------------------------------------------------

    async def engage(self, source: EngageSource) -> dict[str, Any]:
        """Put the lock overlay up; returns the status once it is on screen. Idempotent."""
        async with self._lock:
            if self._closed:
                raise AwayModeError("the server is shutting down")
            if self.engaged:
                return self.status()
            refusal = engage_refusal(self._settings.get().away_mode)
            if refusal:
                raise AwayModeError(refusal)
            try:
                await self._take_keyboard()
                self._failures = 0
                await asyncio.to_thread(self._forget_attempts)  # a new lock: every attempt free again
                self._engaged_at = datetime.now(UTC)  # reported once engaged; recorded from the start
                self._engaged_by = source
                await self._bring_up()
            except BaseException:
                self._forget_record()
                keyboard.unlock(self)
                raise
            self._state = AwayState.ENGAGED
            log.info("Away Mode engaged (%s)", source)
        await self._changed()
        return self.status()

    async def _bring_up(self, replacing: OverlayRecord | None = None) -> None:
        """Start an overlay and the task that follows it; return once it is on screen, else raise AwayModeError."""
        self._streak = 0
        run = await self._spawn(replacing)
        self._start_following(run)
        if replacing is None:
            await self._remember()
        try:
            await asyncio.wait_for(asyncio.shield(run.ready), self.timing.ready_timeout)
        except asyncio.CancelledError:
            await self._stop_task()  # the caller went away: no lock screen nobody asked for
            raise
        except (AwayModeError, TimeoutError) as exc:
            await self._stop_task()
            if isinstance(exc, TimeoutError):
                raise AwayModeError(f"the lock overlay did not come up in {self.timing.ready_timeout:.0f} s") from None
            raise

    async def disengage(self, source: DisengageSource) -> dict[str, Any]:
        """Take the overlay down (the phone's unlock). Idempotent."""
        async with self._lock:
            if not self.engaged and self._task is None:
                return self.status()
            await self._stop_task()
            if self._orphan is not None:
                await self._end_orphan(self._orphan)
                self._orphan = None
            self._set_off(f"{source}")
            log.info("Away Mode disengaged (%s)", source)
        await self._changed()
        return self.status()

    async def _let_go(self) -> None:
        """Stop following the lock screen and leave it up, with its record for the next server."""
        async with self._lock:
            self._stop.set()
            run, task = self._run, self._task
            self._run = None  # the follow task, cancelled, must not end the overlay
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._task = None
            pid = run.proc.pid if run is not None else self._orphan.pid if self._orphan is not None else None
            log.warning(
                "Away Mode stays engaged: the desktop app that started this server is gone. The lock screen "
                "(pid %s) stays up until it is unlocked at the desk or through the next server",
                pid,
            )

    async def _take_keyboard(self) -> None:
        """Stop the server's typing before a lock screen takes the keyboard, and refuse more until the unlock."""
        if not await take_keyboard(self):
            log.warning("typing did not stop within a second; the desk is locked all the same")

    def _set_off(self, how: str) -> None:
        keyboard.unlock(self)
        self._state = AwayState.OFF
        self._engaged_at = None
        self._engaged_by = None
        self._last_unlock = how
        self._disengaged_mono = time.monotonic()
        self._forget_record()

    async def _stop_task(self) -> None:
        """Stop following and end the overlay (SIGTERM to its group, SIGKILL if it lingers)."""
        self._stop.set()
        run, task = self._run, self._task
        if run is not None:
            await self._terminate(run.proc)
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), self.timing.stop_timeout * 2 + self.timing.relock_delay)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None
        self._run = None

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), self.timing.stop_timeout)
                return
            except TimeoutError:
                log.warning("the lock overlay (pid %d) ignored %s", proc.pid, sig.name)

    # -- the overlay process -------------------------------------------------------------------------------

    async def _spawn(self, replacing: OverlayRecord | None = None) -> _Run:
        argv = [
            *self._overlay_argv,
            "--settings",
            str(self._settings.path),
            "--attempts-file",
            str(self._attempts_path),
            "--record-file",
            str(self._record_path),
        ]
        if self._failures:
            argv += ["--failed-attempts", str(self._failures)]
        if replacing is not None:
            argv.append("--replacing")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env=self._env,
            )
        except OSError as exc:
            raise AwayModeError(f"cannot start the lock overlay: {exc}") from exc
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())  # a failure nobody waited for is fine
        run = _Run(proc, ready, tuple(argv), replacing)
        self._run = run
        return run

    def _start_following(self, run: _Run | None, pause: float = 0.0) -> None:
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._follow_engaged(run, pause), name="away-mode-overlay")

    async def _follow_engaged(self, run: _Run | None, pause: float = 0.0) -> None:
        """Own the engaged period: follow each overlay, and put a new one up whenever it goes without an unlock, for
        as long as Away Mode is engaged; end on unlock or stop. ``run`` None: none is up (start one after ``pause``).
        """
        starting = run is not None  # a first overlay that does not come up is reported by _bring_up's caller
        try:
            while True:
                if run is None:
                    run = await self._relock(pause)
                    if run is None:
                        return
                await self._follow(run)
                if self._stop.is_set():
                    return
                if run.unlocked_by is not None:
                    # No lock here: disengage() holds it while it waits for this task.
                    self._task = None
                    self._run = None
                    self._set_off(run.unlocked_by)
                    log.info("Away Mode unlocked at the desk (%s)", run.unlocked_by)
                    await self._changed()
                    return
                if starting and not run.was_ready:
                    return
                starting = False
                pause = self._next_pause(run)
                await self._report_lost(run, pause)
                run = None
        except asyncio.CancelledError:
            if self._run is not None:
                await self._terminate(self._run.proc)
            raise

    def _next_pause(self, gone: _Run | None) -> float:
        """The pause before the next lock screen; one that stayed up for a while ends the streak of replacements."""
        if gone is not None and gone.ready_at is not None:
            if time.monotonic() - gone.ready_at >= self.timing.relock_window:
                self._streak = 0
        pause = relock_pause(self._streak, self.timing)
        self._streak += 1
        return pause

    async def _report_lost(self, gone: _Run, pause: float) -> None:
        """Tell the phones that the desk is not covered, and when it will be again; Away Mode stays engaged."""
        if gone.was_ready:
            await self._alert(
                "overlay_killed",
                f"The Away Mode lock screen was closed without an unlock ({gone.error}); someone may be trying to "
                f"use the desk. Away Mode stays on and puts the lock screen back {_in(pause)}.",
            )
        else:
            await self._alert_not_up(gone.error, pause)
        await self._changed()  # overlay_active: false until a new one is ready

    async def _alert_not_up(self, why: str, pause: float) -> None:
        await self._alert(
            "overlay_restart_failed",
            f"Away Mode could not put the lock screen back up ({why}). It stays on and tries again {_in(pause)}.",
        )

    async def _relock(self, pause: float) -> _Run | None:
        """After ``pause`` (cut short by a stop), start a new overlay; None when stopped meanwhile."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)
            if self._stop.is_set():
                return None
            try:
                run = await self._spawn()
            except AwayModeError as exc:
                pause = self._next_pause(None)
                await self._alert_not_up(str(exc), pause)
                continue
            if self._stop.is_set():  # disengaged while it was starting
                await self._terminate(run.proc)
                return None
            await self._remember()
            log.info("Away Mode: lock overlay restarted (pid %d)", run.proc.pid)
            return run

    async def _follow(self, run: _Run) -> None:
        """Read the overlay's status lines until it exits."""
        assert run.proc.stdout is not None
        last_error = ""
        async for raw in run.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            try:
                event = json.loads(line)
                kind = event["event"]
            except (ValueError, KeyError, TypeError):
                if line:
                    log.warning("lock overlay: %s", line[:500])
                    last_error = line[:300]
                continue
            if kind == "covering" and run.replaces is not None:
                # Our windows are over the old overlay's: end it, and our grab of the keyboard follows.
                await self._end_orphan(run.replaces)
                run.replaces = self._orphan = None
                await self._remember()
            elif kind == "ready":
                run.is_ready = run.was_ready = True
                run.ready_at = time.monotonic()
                with contextlib.suppress(ValueError, TypeError):  # what it knows of PINs typed while we were away
                    self._failures = max(self._failures, int(event.get("failed_attempts", 0)))
                if not run.ready.done():
                    run.ready.set_result(None)
                if self.engaged:
                    await self._changed()
            elif kind == "wrong_pin":
                self._failures = int(event.get("attempts", self._failures + 1))
                log.warning("Away Mode: wrong PIN at the desk (%d in a row)", self._failures)
                await self._remember()  # a restart must not reset the count
            elif kind == "unlocked":
                run.unlocked_by = str(event.get("by", "pin"))
            elif kind == "tampered":
                await self._tampered(str(event.get("what")))
            elif kind == "error":
                last_error = str(event.get("message", ""))
                log.error("lock overlay: %s", last_error)
        await run.proc.wait()
        run.is_ready = False
        run.error = last_error or f"exit status {run.proc.returncode}"
        if not run.ready.done():
            run.ready.set_exception(AwayModeError(f"the lock overlay could not start: {run.error}"))

    async def _tampered(self, what: str) -> None:
        """Alert the phones at once, then at most once per ``tamper_quiet`` seconds: a client that moves the lock
        screen in a loop (each move is undone at once) must not flood them."""
        if self._tamper_task is not None:
            self._tampering.append(what)
            return
        self._tamper_task = asyncio.get_running_loop().create_task(self._tamper_quiet(), name="away-mode-tamper")
        await self._alert("overlay_tampered", f"Someone interfered with the lock screen ({what}).")

    async def _tamper_quiet(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.timing.tamper_quiet)
                held, self._tampering = self._tampering, []
                if not held:
                    return
                kinds = ", ".join(sorted(set(held)))
                await self._alert(
                    "overlay_tampered",
                    f"Someone keeps interfering with the lock screen ({kinds}): {len(held)} more "
                    f"time{'s' if len(held) > 1 else ''} in the last {self.timing.tamper_quiet:.0f} s, each undone "
                    "at once.",
                )
        finally:
            self._tamper_task = None

    # -- the record, and taking over after a crash -----------------------------------------------------------

    def _display(self) -> str:
        return (self._env if self._env is not None else os.environ).get("DISPLAY", "")

    async def _remember(self) -> None:
        """Write the record of the current overlay (atomically, mode 0600); a failure costs only the takeover."""
        async with self._record_lock:
            run = self._run
            if run is None or run.proc.returncode is not None:
                return
            stat, _cmdline = await asyncio.to_thread(_proc, run.proc.pid)
            started = start_time(stat) if stat is not None else None
            if started is None:
                return
            record = OverlayRecord(
                pid=run.proc.pid,
                started=started,
                argv=run.argv,
                display=self._display(),
                engaged_at=(self._engaged_at or datetime.now(UTC)).isoformat(),
                engaged_by=self._engaged_by or "api",
                failed_attempts=self._failures,
            )
            try:
                await asyncio.to_thread(atomic_write, self._record_path, record.dumps(), mode=0o600)
            except OSError as exc:
                log.warning("cannot write %s (a restarted server could not unlock this lock screen): %s",
                            self._record_path, exc)  # fmt: skip

    def _forget_record(self) -> None:
        """The lock is over: its record goes, and so does the overlay's count of wrong PINs."""
        for path in (self._record_path, self._attempts_path):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove %s: %s", path, exc)

    def _forget_attempts(self) -> None:
        try:
            self._attempts_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s (the lock screen counts the wrong PINs of the last lock): %s",
                        self._attempts_path, exc)  # fmt: skip

    def _read_record(self) -> tuple[OverlayRecord | None, bool] | None:
        """The record a previous server left, and whether its lock screen is still up; None when there is none.

        The record exists only while the desk is locked, so one that cannot be read still says the desk was locked
        when the server stopped: it is moved aside, and ``(None, False)`` locks the desk again (fail closed)."""
        try:
            data = self._record_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("cannot read %s (%s): the desk was locked when the previous server stopped, so it is locked "
                      "again", self._record_path, exc)  # fmt: skip
            return None, False
        record = OverlayRecord.loads(data)
        if record is None:
            self._set_record_aside()
            return None, False
        return record, overlay_alive(record)

    def _set_record_aside(self) -> None:
        aside = self._record_path.with_name(f"{RECORD_FILE}.corrupt-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}")
        try:
            os.replace(self._record_path, aside)
        except OSError as exc:
            log.error("Away Mode record %s is damaged and cannot be moved aside (%s); the desk was locked when the "
                      "previous server stopped, so it is locked again", self._record_path, exc)  # fmt: skip
            return
        log.error("Away Mode record %s is damaged; moved it to %s. The desk was locked when the previous server "
                  "stopped, so it is locked again", self._record_path, aside)  # fmt: skip

    async def _take_over(self) -> None:
        """Report a lock screen left up by a previous server, and replace it with ours so that the phone and the
        admin API can unlock the desk again. Where it cannot be replaced, it stays up: a restart never unlocks.

        A record whose lock screen is gone means the desk was never unlocked: an unlock at the desk removes the
        record (the overlay does so itself when no server hears it). The server and its lock screen both died, or
        the machine restarted, while the desk was locked; so the desk is locked again."""
        found = await asyncio.to_thread(self._read_record)
        if found is None:
            return
        record, up = found
        saved = await asyncio.to_thread(read_attempts, self._attempts_path)
        if record is None or not up:
            await self._lock_again(record, saved.failures if saved is not None else 0)
            return
        async with self._lock:
            log.warning("Away Mode: the lock screen of a previous server (pid %d) is still up; taking it over",
                        record.pid)  # fmt: skip
            # The overlay's own count includes PINs typed while no server was there to hear of them.
            self._resume(record, saved.failures if saved is not None else 0)
            self._orphan = record
            if not _same_display(record.display, self._display()):
                log.warning("that lock screen is on display %r, not ours (%r): it stays up as it is",
                            record.display, self._display())  # fmt: skip
                self._follow_orphan(record)
            else:
                await self._replace_orphan(record)
        await self._changed()

    def _resume(self, record: OverlayRecord | None, failures: int) -> None:
        """Away Mode engaged again as the previous server's record says: since when, by whom, and the wrong PINs
        (``failures``: the lock screen's own count, which may be higher). A damaged record (None) says none of it:
        engaged from now, by nobody known."""
        keyboard.lock(self)  # nothing types yet (the server is starting): no typing to wait for
        self._state = AwayState.ENGAGED
        try:
            self._engaged_at = datetime.fromisoformat(record.engaged_at) if record else datetime.now(UTC)
        except ValueError:
            self._engaged_at = datetime.now(UTC)
        self._engaged_by = record.engaged_by if record else None
        self._failures = max(record.failed_attempts if record else 0, failures)

    async def _lock_again(self, record: OverlayRecord | None, failures: int) -> None:
        """Put the lock back that a previous server left engaged with no lock screen up, or with a record too
        damaged (None) to say whether its lock screen is: ours then comes up over any that is."""
        refusal = engage_refusal(self._settings.get().away_mode)
        if refusal:
            log.warning("Away Mode was engaged when the previous server stopped, but it cannot lock again: %s", refusal)
            await asyncio.to_thread(self._forget_record)
            return
        async with self._lock:
            log.warning("Away Mode was engaged when the previous server stopped and its lock screen is gone: "
                        "locking the desk again")  # fmt: skip
            self._resume(record, failures)
            try:
                await self._bring_up()
                covered = True
            except AwayModeError as exc:
                covered = False
                pause = self._next_pause(None)
                await self._alert_not_up(str(exc), pause)
                self._start_following(None, pause)
        if covered:
            why = (
                "its record of the lock was damaged"
                if record is None
                else "its lock screen had closed without an unlock"
            )
            await self._alert(
                "overlay_killed",
                f"The desk was locked when the previous Contop server stopped, and {why}; Away Mode has locked the "
                "desk again.",
            )
        await self._changed()

    async def _replace_orphan(self, record: OverlayRecord) -> None:
        try:
            await self._bring_up(replacing=record)
        except AwayModeError as exc:
            if overlay_alive(record):  # ours never covered the screen, so the old one was left alone
                log.error("Away Mode: cannot replace the previous lock screen (%s); it stays up as it is", exc)
                self._follow_orphan(record)
                return
            # The previous one is gone and ours did not come up: Away Mode stays on, and tries again.
            self._orphan = None
            pause = self._next_pause(None)
            await self._alert_not_up(str(exc), pause)
            self._start_following(None, pause)
            return
        log.info("Away Mode: took over the lock screen")

    def _follow_orphan(self, record: OverlayRecord) -> None:
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._watch_orphan(record), name="away-mode-orphan")

    async def _watch_orphan(self, record: OverlayRecord) -> None:
        """Follow a previous server's overlay we could not replace, until it goes (an unlock at the desk, as a
        rule: its status lines went with its server, so how it ended is unknown) or disengage() ends it."""
        while not self._stop.is_set():
            if not overlay_alive(record):
                self._task = None
                self._orphan = None
                self._set_off("desk")
                log.info("Away Mode: the previous server's lock screen (pid %d) has closed", record.pid)
                await self._changed()
                return
            await asyncio.sleep(self.timing.orphan_poll)

    async def _end_orphan(self, record: OverlayRecord) -> None:
        """End a previous server's overlay (SIGTERM to its group, SIGKILL if it lingers), checking first each time
        that the pid is still that process."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not overlay_alive(record):
                return
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to end: our grab then fails
                os.killpg(record.pid, sig)
            deadline = time.monotonic() + self.timing.stop_timeout
            while time.monotonic() < deadline:
                if not overlay_alive(record):
                    return
                await asyncio.sleep(0.02)
            log.warning("the previous lock overlay (pid %d) ignored %s", record.pid, sig.name)

    # -- idle auto-engage ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take over a lock screen a crashed server left up, then start the idle watch (when this desktop can
        report idle time)."""
        if self._idle_task is not None or self._closed:
            return
        await self._take_over()
        if self._idle_source is None:
            try:
                self._idle_source = await asyncio.to_thread(self._platform_idle_source)
            except NotAvailableError as exc:
                self._idle_reason = str(exc)
                log.info("Away Mode idle auto-engage is disabled: %s", exc)
                return
        self._idle_task = asyncio.get_running_loop().create_task(self._idle_loop(), name="away-mode-idle")

    def _platform_idle_source(self) -> IdleSource:
        from contop.platform.base import get_adapter

        adapter = get_adapter()
        try:
            adapter.idle_seconds()
        except NotAvailableError:
            adapter.close()
            raise
        self._adapter = adapter
        return self._read_idle

    def _read_idle(self) -> float:
        """The desk's idle time, through a connection opened anew when the X server went away (it restarted): a
        connection to the old server stays dead, so the idle watch would otherwise fail until the server restarts.
        While the X server is down, each read tries to open one and fails."""
        from contop.platform.base import get_adapter

        adapter = self._adapter
        if adapter is None or not adapter_connected(adapter):
            self._adapter = None
            if adapter is not None:
                log.info("the X server went away: the idle time is read on a new connection")
                try:
                    adapter.close()
                except Exception:  # its server is gone: nothing on it is left to put back
                    log.debug("closing the idle time's adapter failed", exc_info=True)
            adapter = get_adapter()
            if self._closed:  # shut down meanwhile: nobody would close it
                adapter.close()
                raise NotAvailableError("Away Mode is shut down")
            self._adapter = adapter
        return float(adapter.idle_seconds())

    async def _idle_loop(self) -> None:
        assert self._idle_source is not None
        idle_source = self._idle_source
        failing = False
        while True:
            await asyncio.sleep(self.timing.poll_interval)
            settings = self._settings.get().away_mode
            if self.engaged or not (settings.enabled and settings.idle_timeout_enabled):
                continue
            try:
                idle = await asyncio.to_thread(idle_source)
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("cannot read the idle time: %s", exc)
                failing = True
                continue
            since = None if self._disengaged_mono is None else time.monotonic() - self._disengaged_mono
            if should_auto_engage(settings, idle, engaged=self.engaged, since_disengage=since):
                log.info("desk idle for %.0f s: engaging Away Mode", idle)
                try:
                    await self.engage("idle")
                except AwayModeError as exc:
                    log.warning("idle auto-engage failed: %s", exc)

    # -- shutdown ------------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the idle watch and take the overlay down, unless ``leave_locked_on_exit`` says not to. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
            self._idle_task = None
        if self.engaged and _leave_locked():
            await self._let_go()
        elif self.engaged or self._task is not None:
            await self.disengage("shutdown")
        if self._tamper_task is not None:
            self._tamper_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tamper_task
        if self._adapter is not None:
            await asyncio.to_thread(self._adapter.close)
            self._adapter = None


# -- the phone's side: data-channel handlers and broadcasts -------------------------------------------------------


def wire_sessions(controller: AwayModeController, sessions: SessionManager) -> None:
    """Register the phone's Away Mode messages and tell every connected phone about alerts and changes."""
    from contop.core.messages import (
        AwayModeStatus,
        AwayModeStatusPayload,
        Envelope,
        Error,
        SecurityAlert,
        SecurityAlertPayload,
    )
    from contop.transport.session import Session

    def status_message(status: dict[str, Any], ref_id: str | None = None) -> AwayModeStatus:
        return AwayModeStatus(payload=AwayModeStatusPayload(**status, ref_id=ref_id))

    def handler(action: Callable[[], Awaitable[dict[str, Any]]]) -> Callable[[Session, Envelope], Awaitable[None]]:
        async def handle(session: Session, message: Envelope) -> None:
            try:
                status = await action()
            except AwayModeError as exc:
                session.send(Error.reply("not_available", str(exc), message.id))
                return
            session.send(status_message(status, message.id))

        return handle

    async def current() -> dict[str, Any]:
        return controller.status()

    sessions.router.register("away_mode_engage", handler(lambda: controller.engage("phone")))
    sessions.router.register("away_mode_disengage", handler(lambda: controller.disengage("phone")))
    sessions.router.register("away_mode_status", handler(current))

    def broadcast(message: Envelope) -> None:
        for session in sessions.sessions():
            session.send(message)

    controller.on_alert(
        lambda reason, text: broadcast(SecurityAlert(payload=SecurityAlertPayload(reason=reason, message=text)))
    )
    controller.on_status(lambda status: broadcast(status_message(status)))


def _same_display(a: str, b: str) -> bool:
    """Whether two DISPLAY values name the same X display: ``:68`` and ``:68.0`` (its first screen) do, and so
    do ``localhost:10`` and ``localhost:10.0``."""

    def canonical(name: str) -> str:
        host, sep, rest = name.strip().rpartition(":")
        number, _dot, screen = rest.partition(".")
        return f"{host}{sep}{number}" if screen in ("", "0") else name.strip()

    return canonical(a) == canonical(b)
