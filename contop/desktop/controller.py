"""The sidecar seen from the GUI: start on the GUI thread, wait for health on a worker, notice crashes."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from contop.desktop.sidecar import Sidecar, SidecarState
from contop.desktop.tasks import TaskRunner

log = logging.getLogger(__name__)


class SidecarController(QObject):
    """Emits ``state_changed`` on every state change; ``ready`` once the server answers ``/health``."""

    state_changed = Signal(str)
    ready = Signal()

    def __init__(self, sidecar: Sidecar, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sidecar = sidecar
        self.tasks = tasks
        self.error = ""
        self._watch = QTimer(self)
        self._watch.setInterval(500)
        self._watch.timeout.connect(self._check)

    @property
    def state(self) -> SidecarState:
        return self.sidecar.state

    def _emit(self) -> None:
        self.state_changed.emit(self.sidecar.state.value)

    def start(self) -> None:
        # Popen on the GUI thread: the parent-death signal is tied to the thread that forks (see sidecar.py).
        self.error = ""
        try:
            self.sidecar.start()
        except OSError as exc:
            self.error = f"cannot start the server: {exc}"
            self._emit()
            return
        self._emit()
        self._watch.start()
        self.tasks.run(lambda: self.sidecar.wait_healthy(45.0), self._started)

    def _started(self, healthy: bool) -> None:
        if self.sidecar.state is not SidecarState.STARTING:
            return
        if healthy:
            self.sidecar.mark_healthy()
            self._emit()
            self.ready.emit()
            return
        if self.sidecar.poll():
            self.error = "the server did not answer in time"
            self.sidecar.stop(0.5)
            self.sidecar.state = SidecarState.CRASHED
        else:
            self.error = self._exit_text()
        self._emit()

    def _exit_text(self) -> str:
        code = self.sidecar.returncode
        if code is None:
            return "no answer"
        if code < 0:
            return f"killed by signal {-code}"
        # `contop serve` explains its own failures (port in use, unusable state directory) in one line.
        lines = self.sidecar.log_since_start().decode("utf-8", "replace").splitlines()
        reason = next((line for line in reversed(lines) if line.startswith("contop: error:")), "")
        return f"exit code {code}" + (f": {reason.removeprefix('contop: error:').strip()[:200]}" if reason else "")

    def _check(self) -> None:
        before = self.sidecar.state
        if not self.sidecar.poll() and before in (SidecarState.STARTING, SidecarState.RUNNING):
            self.error = self._exit_text()
            self._watch.stop()
            self._emit()

    def restart(self) -> None:
        self._watch.stop()

        def stop() -> None:
            if self.sidecar.state is not SidecarState.STOPPED:
                self.sidecar.stop()

        self.tasks.run(stop, lambda _r: self.start(), lambda _e: self.start())

    def stop(self) -> None:
        """Blocking stop, for quitting."""
        self._watch.stop()
        if self.sidecar.state is not SidecarState.STOPPED:
            self.sidecar.stop()
        self._emit()
