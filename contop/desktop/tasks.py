"""Run blocking work (HTTP, process waits) on a thread pool and deliver the outcome on the GUI thread; collect
Python's garbage cycles on the GUI thread only."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

log = logging.getLogger(__name__)

OnResult = Callable[[Any], None]
OnError = Callable[[BaseException], None]


class _Job(QRunnable):
    """One call of ``fn`` on a worker. Its references (``fn``, the callbacks, the outcome) travel to the GUI thread
    in one list that the GUI thread empties: whichever thread lets go last, the objects themselves (closures holding
    pages and dialogs) are released on the GUI thread, never freed by a worker."""

    def __init__(self, runner: TaskRunner, fn: Callable[[], Any], on_ok: OnResult | None, on_err: OnError | None):
        super().__init__()
        self._runner = runner
        self._parts: list[Any] = [fn, on_ok, on_err]

    def run(self) -> None:
        parts, self._parts = self._parts, []
        try:
            value = parts[0]()
        except Exception as exc:  # delivered to the caller's error handler on the GUI thread
            parts[1:] = [parts[2], exc, True]
            del exc
        else:
            parts[1:] = [parts[1], value, False]
            del value
        self._runner._done.emit(parts)


class TaskRunner(QObject):
    """``run(fn, on_ok, on_err)``: ``fn`` runs on a worker; the callbacks run on the GUI thread.

    The signal is emitted from the worker and received by this object, which lives on the GUI thread, so Qt
    queues the delivery there. Callbacks whose widgets were deleted meanwhile are dropped. Workers never collect
    garbage cycles while the app runs (see ``GuiThreadCollector``), and never free what a job refers to (``_Job``).
    """

    _done = Signal(object)

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._done.connect(self._deliver)
        self.closed = False

    def run(self, fn: Callable[[], Any], on_ok: OnResult | None = None, on_err: OnError | None = None) -> None:
        if not self.closed:
            self._pool.start(_Job(self, fn, on_ok, on_err))

    @Slot(object)
    def _deliver(self, parts: list[Any]) -> None:
        _fn, callback, value, failed = parts
        parts.clear()  # from now on only this thread holds them
        if self.closed:
            return
        if callback is None:
            if failed:
                log.warning("background task failed: %s", value)
            return
        try:
            callback(value)
        except RuntimeError as exc:
            if "already deleted" not in str(exc):
                raise

    def shutdown(self, wait_ms: int = 5000) -> None:
        self.closed = True
        self._pool.clear()
        self._pool.waitForDone(wait_ms)

    def wait_idle(self, wait_ms: int = 10000) -> bool:
        return bool(self._pool.waitForDone(wait_ms))


class GuiThreadCollector(QObject):
    """Python's cyclic garbage collection, moved to the GUI thread.

    Left automatic, a collection runs on whichever thread allocates when a threshold trips: often a worker in the
    middle of an HTTP call (this module's pool, a proxy's watchdog). It then deletes the Qt objects of the cycles it
    frees (closed dialogs, callbacks holding widgets) from that thread, and PySide crashes the app (a segmentation
    fault in ``none_dealloc``, seen when quitting). So ``start`` turns automatic collection off for the whole process
    and a timer of the GUI thread collects instead: the young generations every tick, everything every
    ``FULL_EVERY`` ticks. What the app built to start is frozen first (``gc.freeze``), as ``contop serve`` does, so
    a full collection only walks what came after. Collection stays off after ``stop``: the process ends then, and
    Python's last collection at exit runs on the main thread.
    """

    INTERVAL_MS = 1000
    FULL_EVERY = 30

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.collections = 0  # collections made by the timer, for tests and diagnostics
        self._ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        gc.disable()
        gc.collect()
        gc.freeze()
        self._timer.start()

    def _tick(self) -> None:
        self._ticks += 1
        gc.collect(2 if self._ticks % self.FULL_EVERY == 0 else 1)
        self.collections += 1

    def stop(self) -> None:
        """Stop the timer and collect what is left, on this (the GUI) thread: called just before quitting."""
        self._timer.stop()
        gc.collect()
