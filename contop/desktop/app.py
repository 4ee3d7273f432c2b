"""``contop desktop``: build the Qt application, start the sidecar server, show the main window."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from contop.desktop import style
from contop.desktop.api import ApiClient
from contop.desktop.controller import SidecarController
from contop.desktop.paths import DesktopPaths
from contop.desktop.proxies import ProxyManager, proxy_command_factory
from contop.desktop.sidecar import ParentDeath, Sidecar, SidecarConfig
from contop.desktop.tasks import TaskRunner
from contop.desktop.window import MainWindow
from contop.server.statedir import StateDir


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
    api = ApiClient(lambda: f"http://127.0.0.1:{sidecar.port}", paths.read_admin_token, not_serving=sidecar.not_serving)
    tasks = TaskRunner()
    controller = SidecarController(sidecar, tasks)
    window = MainWindow(api, paths, ProxyManager(home, proxy_command_factory(home)), controller, tasks)
    return window, controller


def run(home: Path, port: int, parent_death: ParentDeath | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Contop")
    app.setQuitOnLastWindowClosed(False)
    style.apply(app)
    window, controller = build(home, port, parent_death)
    app.setWindowIcon(window.windowIcon())

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
    return int(app.exec())
