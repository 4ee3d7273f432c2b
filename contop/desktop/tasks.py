"""Run blocking work (HTTP, process waits) on a thread pool and deliver the outcome on the GUI thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

OnResult = Callable[[Any], None]
OnError = Callable[[BaseException], None]


class _Job(QRunnable):
    def __init__(self, runner: TaskRunner, fn: Callable[[], Any], on_ok: OnResult | None, on_err: OnError | None):
        super().__init__()
        self._runner = runner
        self._fn = fn
        self._on_ok = on_ok
        self._on_err = on_err

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # delivered to the caller's error handler on the GUI thread
            self._runner._done.emit(self._on_err, exc, True)
        else:
            self._runner._done.emit(self._on_ok, result, False)


class TaskRunner(QObject):
    """``run(fn, on_ok, on_err)``: ``fn`` runs on a worker; the callbacks run on the GUI thread.

    The signal is emitted from the worker and received by this object, which lives on the GUI thread, so Qt
    queues the delivery there. Callbacks whose widgets were deleted meanwhile are dropped.
    """

    _done = Signal(object, object, bool)

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._done.connect(self._deliver)
        self.closed = False

    def run(self, fn: Callable[[], Any], on_ok: OnResult | None = None, on_err: OnError | None = None) -> None:
        if not self.closed:
            self._pool.start(_Job(self, fn, on_ok, on_err))

    @Slot(object, object, bool)
    def _deliver(self, callback: Callable[[Any], None] | None, value: Any, failed: bool) -> None:
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
