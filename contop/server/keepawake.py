"""Applies the ``keep_host_awake`` setting through the platform adapter: at startup and whenever it changes.

What keep-awake changes lives in the adapter that turned it on (the saved screen saver settings, the D-Bus
inhibitor connections, the Windows thread, ``caffeinate``), so that adapter is kept until it is turned off again, and
turned off at shutdown: an adapter of its own would find nothing to restore, and leave the desktop sleepless.

A server killed while keep-awake is on (``kill -9``, a power cut of the session's X client) cannot turn it off,
and the X server keeps its screen saver off for good. So while it is on, ``keep-awake.json`` in the state directory
says what to put back, and the next server puts it back before anything else (``recover``), on the display it was
held on whatever this server's own display is. What cannot be put back yet (that display cannot be opened from
here) stays in the record, under ``left``, for a later server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contop.core.errors import NotAvailableError
from contop.core.settings import Settings
from contop.server.statedir import atomic_write

if TYPE_CHECKING:
    from contop.platform.base import PlatformAdapter

log = logging.getLogger(__name__)

WATCH_S = 10.0  # how often keep-awake checks that its desktop connection still works
MAX_LEFT = 8  # earlier servers' records kept for a later one: displays gone for good must not grow the file


def _open_adapter(display: str | None = None) -> PlatformAdapter:
    """The platform adapter on ``display`` (an X display name; None: the environment's)."""
    from contop.platform.base import get_adapter

    return get_adapter(display)


class HostKeepAwake:
    """Holds the adapter that keeps the host awake while the setting is on. Blocking (X/D-Bus I/O); thread-safe."""

    def __init__(
        self,
        open_adapter: Callable[[str | None], PlatformAdapter] = _open_adapter,
        *,
        record_path: Path | None = None,
    ) -> None:
        self._open_adapter = open_adapter
        self._record_path = record_path
        self._lock = threading.Lock()
        self._adapter: PlatformAdapter | None = None
        self._left: list[dict[str, Any]] = []  # earlier servers' undo records ``recover`` could not put back
        self._closed = False  # the server is stopping: refresh turns nothing on any more

    def recover(self) -> str | None:
        """At start, before keep-awake is turned on: put back what a server that died holding it left.

        Returns what it did, or None when there was nothing to do.
        """
        path = self._record_path
        if path is None:
            return None
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            try:
                if path.is_dir():
                    path.rmdir()  # only when empty: what a folder holds is not ours to delete
                else:
                    path.unlink()
            except OSError as err:
                return f"{path} cannot be read ({exc}) nor removed ({err.strerror or err}): remove it by hand"
            return f"an unreadable {path.name} was removed ({exc})"
        # No other server of this state directory runs (``server.lock``), so whoever wrote it is gone.
        undos = _undos(record)
        done = [] if undos else ["nothing to restore"]
        self._left = []
        for undo in undos:
            put_back, what = self._undo(undo)
            done.append(what)
            if not put_back and not any(_same_display(undo, u) for u in self._left):
                self._left.append(undo)  # the oldest record of a display holds the settings the user had
        del self._left[:-MAX_LEFT]  # the newest: a display gone for good does not crowd out one that may return
        if self._left:
            try:
                atomic_write(path, json.dumps({"left": self._left}).encode())
            except OSError as exc:
                done.append(f"and {path.name} could not be rewritten ({exc.strerror or exc})")
            done.append(f"kept in {path.name} for a later server")
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        return f"keep-awake left on by a server that stopped without turning it off: {'; '.join(done)}"

    def _undo(self, undo: dict[str, Any]) -> tuple[bool, str]:
        """Put back one undo record on the display it was held on: whether it was done with, and what was said."""
        display = undo.get("display")
        try:
            adapter = self._open_adapter(display if isinstance(display, str) and display else None)
            try:
                return True, adapter.undo_keep_awake(undo)
            finally:
                adapter.close()
        except Exception as exc:  # that display cannot be opened from here (gone, no access): a later server may
            return False, f"not restored ({type(exc).__name__}: {exc})"

    @property
    def on(self) -> bool:
        return self._adapter is not None

    def apply(self, on: bool) -> str:
        """Turn keep-awake on or off; returns what happened, for logs and ``contop doctor``."""
        try:
            with self._lock:
                if on:
                    self._acquire()
                else:
                    self._release()
        except NotAvailableError as exc:
            return f"keep-awake not applied: {exc}"
        except Exception as exc:  # the desktop may refuse (no X server access, D-Bus errors): never stop the server
            log.debug("keep-awake failed", exc_info=True)
            return f"keep-awake not applied: {type(exc).__name__}: {exc}"
        return "keep-awake on" if on else "keep-awake off"

    def refresh(self, wanted: Callable[[], bool]) -> str | None:
        """Put keep-awake back on while the setting is on and its desktop connection is gone (the X server
        restarted: the new one blanks and sleeps by default) or never opened (no desktop at start). Returns what
        happened when it was put back, None otherwise (a failed retry is only logged at debug: it is tried again)."""
        from contop.tools.desktop import adapter_connected

        with self._lock:  # the setting is read under the lock: a change turning it off is applied before or after
            if self._closed or not wanted():
                return None
            adapter = self._adapter
            if adapter is not None and adapter_connected(adapter):
                return None
            self._adapter = None
            if adapter is not None:
                with contextlib.suppress(Exception):  # its server is gone: nothing on it is left to put back
                    adapter.close()
            with warnings.catch_warnings():
                # python-xlib leaves the sockets of a connection it could not make to the garbage collector
                warnings.simplefilter("ignore", ResourceWarning)
                try:
                    self._acquire()
                except Exception as exc:
                    log.debug("keep-awake not applied yet: %s", exc)
                    del exc  # frees those sockets now, inside this block
                    return None
        return "keep-awake on again: the desktop could not be reached, or its X server restarted"

    async def watch(self, wanted: Callable[[], bool], every_s: float = WATCH_S) -> None:
        """Run ``refresh`` every ``every_s`` for as long as the server runs (a task of its own)."""
        while True:
            await asyncio.sleep(every_s)
            said = await asyncio.to_thread(self.refresh, wanted)
            if said:
                log.info("%s", said)

    def _acquire(self) -> None:
        if self._adapter is not None:
            return
        adapter = self._open_adapter(None)
        try:
            adapter.set_keep_awake(True)
        except BaseException:
            adapter.close()
            raise
        self._adapter = adapter
        undo = adapter.keep_awake_undo()
        if self._record_path is not None and undo is not None:
            record: dict[str, Any] = {"pid": os.getpid(), "undo": undo}
            if self._left:  # what earlier servers left must survive this record too
                record["left"] = self._left
            try:
                atomic_write(self._record_path, json.dumps(record).encode())
            except OSError:  # keep-awake still works; only a crash would leave it on
                log.warning("could not write %s", self._record_path, exc_info=True)

    def _release(self) -> None:
        adapter, self._adapter = self._adapter, None
        if adapter is None:
            return
        try:
            adapter.set_keep_awake(False)
        finally:
            adapter.close()
        if self._record_path is None:
            return
        if self._left:
            try:
                atomic_write(self._record_path, json.dumps({"left": self._left}).encode())
            except OSError:
                log.warning("could not write %s", self._record_path, exc_info=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                self._record_path.unlink()

    def listener(self, old: Settings, new: Settings) -> None:
        """A settings-store listener: applies ``keep_host_awake`` when it changes."""
        if old.keep_host_awake != new.keep_host_awake:
            log.info("%s", self.apply(new.keep_host_awake))

    async def aclose(self) -> None:
        """Shutdown: the desktop may sleep again once the server is gone (idempotent). A ``refresh`` running in
        its thread meanwhile is waited for, and none turns keep-awake on again afterwards."""
        said = await asyncio.to_thread(self._close)
        if said:
            log.info("%s", said)

    def _close(self) -> str | None:
        with self._lock:
            self._closed = True
        return self.apply(False) if self.on else None


def _undos(record: Any) -> list[dict[str, Any]]:
    """The undo records a keep-awake record holds, oldest first: the earlier servers' ``left``, then its own."""
    if not isinstance(record, dict):
        return []
    left = record.get("left")
    undos = [u for u in left if isinstance(u, dict)] if isinstance(left, list) else []
    if isinstance(record.get("undo"), dict):
        undos.append(record["undo"])
    return undos


def _same_display(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("display") == b.get("display")
