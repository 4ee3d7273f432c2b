"""The main window: left navigation, a server banner, the five pages; and the tray icon."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from contop.desktop.api import ApiClient
from contop.desktop.controller import SidecarController
from contop.desktop.pages.devices import DevicesPage
from contop.desktop.pages.logs import LogsPage
from contop.desktop.pages.pair import PairPage
from contop.desktop.pages.proxies import ProxiesPage
from contop.desktop.pages.settings import SettingsPage
from contop.desktop.paths import DesktopPaths
from contop.desktop.proxies import ProxyManager
from contop.desktop.sidecar import SidecarState
from contop.desktop.style import app_icon
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import Chip, button

PAGES = ("Pair", "Devices", "Proxies", "Settings", "Logs")
NAV_ICONS = {"Pair": "▣", "Devices": "▤", "Proxies": "⇄", "Settings": "⚙", "Logs": "≡"}


class MainWindow(QMainWindow):
    def __init__(
        self,
        api: ApiClient,
        paths: DesktopPaths,
        proxies: ProxyManager,
        controller: SidecarController | None = None,
        tasks: TaskRunner | None = None,
    ) -> None:
        super().__init__()
        self.api = api
        self.paths = paths
        self.proxies = proxies
        self.controller = controller
        self.tasks = tasks or TaskRunner(self)
        self.notifications: list[tuple[str, str]] = []
        self._quitting = False
        self._ready_once = False
        self.setWindowTitle("Contop")
        self.setWindowIcon(app_icon())
        self.resize(1120, 760)
        self.setMinimumSize(QSize(940, 640))

        root = QWidget()
        layout = QHBoxLayout(root)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._sidebar())

        right = QWidget()
        right.setObjectName("content")
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self._banner())
        self.stack = QStackedWidget()
        self.pair = PairPage(api, self.tasks)
        self.devices = DevicesPage(api, self.tasks, self.notify)
        self.proxies_page = ProxiesPage(proxies, self.tasks, api)
        self.settings = SettingsPage(api, self.tasks)
        self.logs = LogsPage(paths)
        self.settings.on_loaded.append(self._settings_loaded)
        for page in (self.pair, self.devices, self.proxies_page, self.settings, self.logs):
            self.stack.addWidget(page)
        right_layout.addWidget(self.stack, 1)
        layout.addWidget(right, 1)
        self.setCentralWidget(root)
        self.nav.setCurrentRow(0)

        self.tray = self._tray()
        if controller is not None:
            controller.state_changed.connect(self._sidecar_state)
            controller.ready.connect(self.server_ready)
            controller.answering_changed.connect(self._server_answering)

    # --- layout

    def _sidebar(self) -> QWidget:
        side = QFrame()
        side.setObjectName("sidebar")
        side.setFixedWidth(212)
        col = QVBoxLayout(side)
        col.setContentsMargins(14, 20, 14, 16)
        col.setSpacing(6)
        brand_row = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon(30).pixmap(30, 30))
        brand_row.addWidget(logo)
        brand = QLabel("Contop")
        brand.setObjectName("brand")
        brand_row.addWidget(brand, 1)
        col.addLayout(brand_row)
        sub = QLabel("Desktop remote control")
        sub.setObjectName("brandSub")
        col.addWidget(sub)
        col.addSpacing(18)
        self.nav = QListWidget()
        self.nav.setObjectName("navList")
        self.nav.setCursor(Qt.CursorShape.PointingHandCursor)
        for name in PAGES:
            self.nav.addItem(QListWidgetItem(f"{NAV_ICONS[name]}   {name}"))
        self.nav.currentRowChanged.connect(lambda row: self.stack.setCurrentIndex(row))
        col.addWidget(self.nav, 1)
        self.server_chip = Chip("Server stopped")
        col.addWidget(self.server_chip, 0, Qt.AlignmentFlag.AlignLeft)
        self.server_detail = QLabel("")
        self.server_detail.setObjectName("sidebarFoot")
        self.server_detail.setWordWrap(True)
        col.addWidget(self.server_detail)
        return side

    def _banner(self) -> QWidget:
        holder = QWidget()
        outer = QVBoxLayout(holder)
        outer.setContentsMargins(32, 16, 32, 0)
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(16, 10, 10, 10)
        self.banner_text = QLabel("")
        self.banner_text.setObjectName("bannerText")
        self.banner_text.setWordWrap(True)
        row.addWidget(self.banner_text, 1)
        logs = button("View logs")
        logs.clicked.connect(lambda: self.show_page("Logs"))
        self.restart_btn = button("Restart server", primary=True)
        self.restart_btn.clicked.connect(self.restart_server)
        row.addWidget(logs)
        row.addWidget(self.restart_btn)
        outer.addWidget(self.banner)
        self.banner_holder = holder
        holder.hide()
        return holder

    def _tray(self) -> QSystemTrayIcon:
        tray = QSystemTrayIcon(app_icon(), self)
        tray.setToolTip("Contop")
        menu = QMenu(self)
        for text, slot in (("Open Contop", self.bring_up), ("Pair a phone", lambda: self.bring_up("Pair"))):
            action = QAction(text, menu)
            action.triggered.connect(slot)
            menu.addAction(action)
        menu.addSeparator()
        quit_action = QAction("Quit Contop", menu)
        quit_action.triggered.connect(self.quit_app)
        menu.addAction(quit_action)
        tray.setContextMenu(menu)
        tray.activated.connect(
            lambda reason: self.bring_up() if reason == QSystemTrayIcon.ActivationReason.Trigger else None
        )
        self.tray_menu = menu
        if QSystemTrayIcon.isSystemTrayAvailable():
            tray.show()
        return tray

    # --- navigation

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(PAGES.index(name))

    def bring_up(self, page: str | None = None) -> None:
        if page:
            self.show_page(page)
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # --- server state

    def server_ready(self) -> None:
        if self.controller is None:  # a server this app did not start: it answers, that is all we know
            self.server_chip.set_state("ok", "Server running")
            self.server_detail.setText(self.api.base_url.removeprefix("http://"))
        for page in (self.pair, self.devices, self.settings):
            page.server_ready()

    def _settings_loaded(self, data: dict[str, object]) -> None:
        # Every load: after a reset or a hand edit, the saved ports are not the ones read at start.
        self.proxies_page.use_settings(data)
        if not self._ready_once:
            self._ready_once = True
            self.proxies_page.auto_start(bool(data.get("proxy_auto_start")))

    def _sidecar_state(self, state: str) -> None:
        controller = self.controller
        if controller is None:
            return
        port = controller.sidecar.port
        chips = {
            SidecarState.RUNNING: ("ok", "Server running"),
            SidecarState.STARTING: ("info", "Server starting"),
            SidecarState.STOPPING: ("warn", "Server stopping"),
            SidecarState.STOPPED: ("idle", "Server stopped"),
            SidecarState.CRASHED: ("bad", "Server down"),
        }
        kind, text = chips[SidecarState(state)]
        self.server_chip.set_state(kind, text)
        self.server_detail.setText(f"127.0.0.1:{port}" if state == SidecarState.RUNNING else "")
        if state == SidecarState.CRASHED or (state == SidecarState.STOPPED and controller.error):
            for page in (self.pair, self.devices, self.settings):
                page.server_gone()
            self.banner_holder.show()
            self.restart_btn.setEnabled(True)
            if controller.other_server is not None:
                # Not a crash: this app's server never started, and restarting it changes nothing by itself.
                who = f" ({controller.other_server})" if controller.other_server else ""
                self.server_chip.set_state("bad", "Server not started")
                self.banner_text.setText(
                    f"Another Contop server{who} is already using this app's state directory "
                    f"({controller.sidecar.config.home}), so this app cannot start its own. Quit that server (or "
                    "the other Contop app running it) and press Restart server, or start this app with another "
                    "--home."
                )
                self.notify("Contop server not started", "Another Contop server uses the same state directory.")
            else:
                self.banner_text.setText(
                    f"The Contop server stopped unexpectedly ({controller.error}). Phones cannot connect until it runs."
                )
                self.notify("Contop server stopped", "The server stopped unexpectedly; open Contop to restart it.")
        elif state == SidecarState.STARTING:
            self.banner_holder.hide()

    def _server_answering(self, answering: bool) -> None:
        """A running server that stopped answering (frozen, or its event loop blocked) is not shown as running: what
        the pages showed from it (phones connected, a pairing code) may no longer be true."""
        controller = self.controller
        if controller is None or controller.state is not SidecarState.RUNNING:
            return
        if answering:
            self.server_chip.set_state("ok", "Server running")
            self.server_detail.setText(f"127.0.0.1:{controller.sidecar.port}")
            self.banner_holder.hide()
            self.server_ready()
            return
        self.server_chip.set_state("bad", "Server not answering")
        self.server_detail.setText(f"127.0.0.1:{controller.sidecar.port} does not answer")
        for page in (self.pair, self.devices, self.settings):
            page.server_gone()
        self.banner_text.setText(
            "The Contop server is running but does not answer (it may be frozen or overloaded). Phones cannot use "
            "it meanwhile. This clears by itself when it answers again; Restart server stops it and starts it anew."
        )
        self.restart_btn.setEnabled(True)
        self.banner_holder.show()
        self.notify("Contop server not answering", "The server does not answer; open Contop to restart it.")

    def restart_server(self) -> None:
        if self.controller is not None:
            self.restart_btn.setEnabled(False)
            self.banner_text.setText("Restarting the server…")
            self.controller.restart()

    # --- notifications and quitting

    def notify(self, title: str, message: str) -> None:
        self.notifications.append((title, message))
        if self.tray.isVisible():
            self.tray.showMessage(title, message, app_icon(), 6000)

    def quit_app(self) -> None:
        """Stop timers, the proxies and the sidecar tree, then leave the event loop."""
        self._quitting = True
        for page in (self.pair, self.devices, self.proxies_page):
            page.timer.stop()
        self.proxies.stop_all()
        if self.controller is not None:
            self.controller.stop()
        self.tasks.shutdown()
        self.tray.hide()
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._quitting and self.tray.isVisible():
            # Closing the window keeps Contop running in the tray, like the phone's connection expects.
            self.hide()
            self.notify("Contop is still running", "Use the tray icon to open it again or to quit.")
            event.ignore()
            return
        if not self._quitting:
            self.quit_app()
        event.accept()
