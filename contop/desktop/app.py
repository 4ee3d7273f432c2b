"""``contop desktop``: build the Qt application, start the sidecar server, show the main window."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from contop.desktop import singletons, style
from contop.desktop.api import ApiClient
from contop.desktop.controller import SidecarController
from contop.desktop.paths import DesktopPaths
from contop.desktop.proxies import ProxyManager, proxy_command_factory
from contop.desktop.sidecar import ParentDeath, Sidecar, SidecarConfig
from contop.desktop.tasks import GuiThreadCollector, TaskRunner
from contop.desktop.window import MainWindow
from contop.server.statedir import StateDir, StateDirError

# Qt platforms that show nothing: a dialog there would wait for a click nobody can give.
HEADLESS_PLATFORMS = ("offscreen", "minimal")
REFUSAL_TITLE = "Contop cannot start"


def build(home: Path, port: int, parent_death: ParentDeath | None = None) -> tuple[MainWindow, SidecarController]:
    """The window and its sidecar controller (not started); needs a QApplication. Raises ``StateDirError`` for
    a ``home`` the server would refuse, before anything (a log) is written there."""
    StateDir(home).ensure()
    paths = DesktopPaths(home)
    sidecar = Sidecar(
        SidecarConfig(
            home=home, port=port, parent_death=ParentDeath.default() if parent_death is None else parent_death
        )
    )
    # server_pid: the server runs in the sidecar process itself (contop.desktop.lifeline), and while that process is
    # not reaped its pid cannot be another program's: each connection is checked to be held by it before the token.
    api = ApiClient(
        lambda: f"http://127.0.0.1:{sidecar.port}",
        paths.read_admin_token,
        not_serving=sidecar.not_serving,
        server_pid=lambda: sidecar.pid if sidecar.returncode is None else None,
    )
    tasks = TaskRunner()
    controller = SidecarController(sidecar, tasks)
    window = MainWindow(api, paths, ProxyManager(home, proxy_command_factory(home)), controller, tasks)
    return window, controller


def application() -> QApplication:
    singletons.keep_alive()  # first, while no other thread runs: PySide6 6.12.0 would make the app abort in minutes
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Contop")
    return app


def refusal_box(reason: str) -> QMessageBox:
    """The dialog that says why the app cannot start (the reason as plain text: it names a folder)."""
    box = QMessageBox(QMessageBox.Icon.Critical, REFUSAL_TITLE, f"Contop cannot start.\n\n{reason}")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.setWindowIcon(style.app_icon())
    return box


def refuse(reason: str) -> int:
    """Say why the app cannot start on stderr and, for someone who started it from a menu and sees no terminal, in a
    dialog; the exit status (1) once it is closed."""
    print(f"contop: error: {reason}", file=sys.stderr)
    app = application()
    if app.platformName() not in HEADLESS_PLATFORMS:
        refusal_box(reason).exec()
    return 1


def run(home: Path, port: int, parent_death: ParentDeath | None = None) -> int:
    app = application()
    app.setQuitOnLastWindowClosed(False)
    style.apply(app)
    try:
        window, controller = build(home, port, parent_death)
    except StateDirError as exc:
        return refuse(str(exc))
    app.setWindowIcon(window.windowIcon())
    collector = GuiThreadCollector(app)
    collector.start()

    # Ctrl+C in the terminal quits cleanly (the timer lets Python run its signal handlers). A handler runs between
    # any two lines of the main thread, in the middle of whatever it was doing (a proxy's start(), holding the lock
    # that stop() takes): it only asks the event loop to quit, which does so once that work is over.
    def quit_soon(*_: object) -> None:
        QTimer.singleShot(0, window.quit_app)

    signal.signal(signal.SIGINT, quit_soon)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, quit_soon)
    tick = QTimer()
    tick.start(300)
    tick.timeout.connect(lambda: None)
    window.show()
    controller.start()
    app.aboutToQuit.connect(lambda: controller.stop())
    app.aboutToQuit.connect(collector.stop)
    code = int(app.exec())
    collector.stop()  # what quitting left (the window's pages, the last callbacks), still on this thread
    return code
