"""The sidecar seen from the GUI: start on the GUI thread, wait for health on a worker, notice crashes."""

from __future__ import annotations

import logging
import re
import textwrap
import time

from PySide6.QtCore import QObject, QTimer, Signal

from contop.desktop.sidecar import Sidecar, SidecarState
from contop.desktop.tasks import TaskRunner

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 400
# A running server is asked /health about once a second, on a thread of its own (the pages' calls to a frozen server
# can fill the shared pool for their whole timeout); with no answer for SILENT_AFTER_S it is shown as not answering.
PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 1.5
SILENT_AFTER_S = 3.0
# `contop serve` refusing a state directory another server holds: "… is in use by another Contop server (pid 42,
# listening on 127.0.0.1:8000). Stop that server, …" (contop.server.statedir.StateDirLock).
_ERROR_LINE = re.compile(r"contop(?: serve)?: error:(?P<reason>.*)")
_OTHER_SERVER = re.compile(r"in use by another Contop server(?: \((?P<who>[^)]*)\))?")


def exit_reason(log_text: str) -> str:
    """Why ``contop serve`` exited, in its own words: its last error line, whole ("" when it printed none)."""
    # "contop serve: error:" is argparse's prefix, and that of a bad CONTOP_* value read from the environment.
    lines = log_text.splitlines()
    found = next((m for m in map(_ERROR_LINE.match, reversed(lines)) if m), None)
    return "" if found is None else found.group("reason").strip()


def exit_text(code: int, reason: str) -> str:
    """What the app says about an exit: the code and the reason, the reason whole unless absurdly long, and then
    shortened at a word (a cut word reads as a different one)."""
    return f"exit code {code}" + (f": {textwrap.shorten(reason, MAX_REASON_CHARS, placeholder=' …')}" if reason else "")


def other_server(reason: str) -> str | None:
    """Who holds the state directory ("pid 42, listening on …"; "" when not said) when ``reason`` says another
    server does, else None."""
    match = _OTHER_SERVER.search(reason)
    return None if match is None else match.group("who") or ""


class SidecarController(QObject):
    """Emits ``state_changed`` on every state change; ``ready`` once the server answers ``/health``; and
    ``answering_changed`` when a running server stops answering (frozen: SIGSTOP, a blocked event loop) or answers
    again. The process can live on while it answers nothing: only asking it tells."""

    state_changed = Signal(str)
    ready = Signal()
    answering_changed = Signal(bool)

    def __init__(self, sidecar: Sidecar, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sidecar = sidecar
        self.tasks = tasks
        self.error = ""
        self.other_server: str | None = None  # set when another server holds the state directory (other_server())
        self._watch = QTimer(self)
        self._watch.setInterval(500)
        self._watch.timeout.connect(self._check)
        self.answering = True
        self._probes = TaskRunner(self, max_threads=1)
        self._probing = False
        self._probed_at = 0.0
        self._answered_at = 0.0

    @property
    def state(self) -> SidecarState:
        return self.sidecar.state

    def _emit(self) -> None:
        self.state_changed.emit(self.sidecar.state.value)

    def start(self) -> None:
        # Popen on the GUI thread: the parent-death signal is tied to the thread that forks (see sidecar.py).
        self.error = ""
        self.other_server = None
        self.answering = True
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
            self._answered_at = time.monotonic()
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
        reason = exit_reason(self.sidecar.log_since_start().decode("utf-8", "replace"))
        self.other_server = other_server(reason)
        return exit_text(code, reason)

    def _check(self) -> None:
        before = self.sidecar.state
        if not self.sidecar.poll() and before in (SidecarState.STARTING, SidecarState.RUNNING):
            self.error = self._exit_text()
            self._watch.stop()
            self._emit()
            return
        now = time.monotonic()
        if before is SidecarState.RUNNING and not self._probing and now - self._probed_at >= PROBE_EVERY_S:
            self._probing = True
            self._probed_at = now
            self._probes.run(self._ask_health, self._probed, lambda _e: self._probed(False))

    def _ask_health(self) -> bool:
        return self.sidecar.answers(PROBE_TIMEOUT_S)

    def _probed(self, answered: bool) -> None:
        self._probing = False
        if self.sidecar.state is not SidecarState.RUNNING:
            return  # it exited or is being stopped meanwhile: the state says so
        now = time.monotonic()
        if answered:
            self._answered_at = now
            if not self.answering:
                self.answering = True
                self.answering_changed.emit(True)
        elif self.answering and now - self._answered_at >= SILENT_AFTER_S:
            self.answering = False
            self.answering_changed.emit(False)

    def restart(self) -> None:
        self._watch.stop()

        def stop() -> None:
            if self.sidecar.state is not SidecarState.STOPPED:
                self.sidecar.stop()

        self.tasks.run(stop, lambda _r: self.start(), lambda _e: self.start())

    def stop(self) -> None:
        """Blocking stop, for quitting."""
        self._watch.stop()
        self._probes.shutdown(0)
        if self.sidecar.state is not SidecarState.STOPPED:
            self.sidecar.stop()
        self._emit()
