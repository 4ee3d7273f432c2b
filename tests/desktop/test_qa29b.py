"""QA round 29, second part: the health probes' cost when idle, the Proxies page after a reset and at the minimum
size, the Devices table at the minimum width, and Revoke and the Settings footer while the server does not answer."""

# ruff: noqa: F811 - the fixture app_window is imported into this module by name, then used as an argument

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from contop.desktop import style
from contop.desktop.api import ApiClient
from contop.desktop.paths import DesktopPaths
from contop.desktop.proxies import ProxyManager, ProxyStatus, ProxySupervisor, WatchdogTiming
from contop.desktop.sidecar import Sidecar, SidecarConfig
from contop.desktop.window import MainWindow
from contop.testing.server import ServerProcess
from tests.desktop.test_app import FAST_PROXIES, make_window, put_settings
from tests.desktop.test_proxies import fake, free_port, wait_for
from tests.desktop.test_qa29 import PHONE, answer_next_question, app_window  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)
WAIT = 20_000


# --- 1. the health probes build one HTTP client each, not one per request


@pytest.fixture
def clients_built(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Client]:
    """Every httpx.Client made from now on (each builds an SSL context: what made a probe cost 17 ms of CPU)."""
    built: list[httpx.Client] = []
    init = httpx.Client.__init__

    def counting(self: httpx.Client, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.Client, "__init__", counting)
    return built


def test_the_server_probe_keeps_one_client(tmp_path: Path, clients_built: list[httpx.Client]) -> None:
    side = Sidecar(SidecarConfig(home=tmp_path / "home", port=0, host="127.0.0.1"))
    side.start()
    try:
        assert side.wait_healthy(30)
        side.mark_healthy()
        assert len(clients_built) <= 1  # one for the whole wait, however many times it asked
        waited = len(clients_built)
        assert all(side.answers(1.5) for _ in range(20))
        assert len(clients_built) - waited == 1
        assert not any(c.is_closed for c in clients_built[waited:])
    finally:
        side.stop()
    assert all(c.is_closed for c in clients_built)  # none left open by a stopped server
    assert not side.answers(0.5)  # and asking again after a stop still works (a new client, nothing there)


def test_a_proxy_watchdog_keeps_one_client(tmp_path: Path, clients_built: list[httpx.Client]) -> None:
    log = tmp_path / "proxy.log"
    timing = WatchdogTiming(health_interval=0.05, start_timeout=10, stable_after=60)
    sup = ProxySupervisor("anthropic", free_port(), log, fake(), timing)
    sup.start()
    try:
        wait_for(lambda: sup.status is ProxyStatus.RUNNING)
        # The fake proxy logs each request it answers.
        wait_for(lambda: log.read_text().count("GET /health") >= 20)
        assert sup.status is ProxyStatus.RUNNING
    finally:
        sup.stop()
    assert len(clients_built) == 1, f"{len(clients_built)} clients for {log.read_text().count('GET /health')} checks"
    assert clients_built[0].is_closed  # closed with its watchdog


# --- 2. and 3. the Proxies page after a reset, and at the minimum size


def test_a_reset_clears_the_message_about_the_port_saved_before(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    # Started by the user below, not at the window's start: Start (and the port field) is for a stopped proxy.
    put_settings(server, {"proxy_auto_start": False})
    win = make_window(qapp, server, ProxyManager(server.home, fake(), FAST_PROXIES))
    page = win.proxies_page
    port = free_port()
    try:
        qtbot.waitUntil(lambda: win.settings.loaded is not None, timeout=WAIT)
        page.ports["anthropic"].setValue(port)
        page.start("anthropic")
        qtbot.waitUntil(lambda: page.message.text().startswith(f"Port {port} saved for Anthropic"), timeout=WAIT)
        page.stop("anthropic")
        qtbot.waitUntil(lambda: "Stopped" in page.chips["anthropic"].text(), timeout=WAIT)

        answer_next_question(QMessageBox.StandardButton.Reset)
        win.settings.reset_btn.click()  # Settings → Reset to defaults, confirmed
        qtbot.waitUntil(lambda: page.ports["anthropic"].value() == 3456, timeout=WAIT)
        assert str(port) not in page.message.text(), page.message.text()

        # A reading of the settings that leaves the port where the message says keeps the message.
        page._say("Port 3456 saved for Anthropic: …", ("anthropic", 3456))
        win.settings.load()
        qtbot.waitUntil(lambda: win.settings.message.text() == "Settings loaded from the server.", timeout=WAIT)
        assert page.message.text() == "Port 3456 saved for Anthropic: …"
    finally:
        win.quit_app()
        win.api.close()


def offline_window(qapp: QApplication, qtbot: QtBot, home: Path, proxies: ProxyManager | None = None) -> MainWindow:
    """The window at its minimum size, its API pointed at a port where nothing listens."""
    style.apply(qapp)
    home.mkdir(exist_ok=True)
    win = MainWindow(
        ApiClient("http://127.0.0.1:9", lambda: "t"), DesktopPaths(home), proxies or ProxyManager(home, None)
    )
    qtbot.addWidget(win)
    win.resize(win.minimumSize())
    win.show()
    qtbot.waitExposed(win)
    return win


LONG_DETAIL = (
    "The settings now name port {port}: the server does not use this proxy on port 4{port}. Stop it, then Start runs "
    "it on port {port}. Running, but {cli} is not installed: install it with `npm install -g {package}`, then run "
    "`{command}` once to log in."
)


def clipped_labels(page: QWidget) -> list[str]:
    """The visible labels of ``page`` whose text does not fit their own geometry (cut at the top and the bottom)."""
    cut = []
    for label in page.findChildren(QLabel):
        if not label.isVisibleTo(page) or not label.text():
            continue
        needed = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
        if needed > label.height():
            cut.append(f"{label.text()[:40]!r}: needs {needed}, has {label.height()}")
    return cut


def test_the_proxies_page_shows_its_long_status_lines_whole_at_the_minimum_size(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    win = offline_window(qapp, qtbot, tmp_path / "home", ProxyManager(tmp_path / "home", fake(), FAST_PROXIES))
    page = win.proxies_page
    page.timer.stop()  # the lines below stay as set
    win.show_page("Proxies")
    for provider, port, cli, package, command in (
        ("gemini", 3457, "Gemini CLI", "@google/gemini-cli", "gemini"),
        ("openai", 3458, "Codex CLI", "@openai/codex", "codex login"),
    ):
        page.details[provider].setText(LONG_DETAIL.format(port=port, cli=cli, package=package, command=command))
        page.details[provider].show()  # as refresh() shows a line with something to say
    page.message.setText("Port 8728 saved for Anthropic: the server reaches this proxy at http://127.0.0.1:8728/v1.")
    qtbot.wait(200)
    assert win.size() == win.minimumSize()
    assert page.details["gemini"].isVisibleTo(page) and page.details["openai"].isVisibleTo(page)
    assert clipped_labels(page) == []
    win.tasks.shutdown()
    win.api.close()


# --- 4. the Devices table at the minimum width


LONG_PHONE = {
    **PHONE,
    "device_name": "Pixel 8 Pro of the family",
    "connection_path": "tailscale",
    "last_location": {"city": "Saint-Rémy-de-Provence", "country": "France"},
    "last_seen": "2026-11-21T20:49:00Z",
    "paired_at": "2026-10-02T08:15:00Z",
}


def visible_in(table_viewport: QWidget, widget: QWidget) -> bool:
    """Whether ``widget`` lies wholly inside the viewport's visible area."""
    where = QRect(widget.mapTo(table_viewport, QPoint(0, 0)), widget.size())
    return table_viewport.rect().contains(where)


def test_the_devices_revoke_button_can_be_reached_at_the_minimum_width(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    win = offline_window(qapp, qtbot, tmp_path / "home")
    win.show_page("Devices")
    devices = win.devices
    devices.show_devices([LONG_PHONE, {**LONG_PHONE, "device_id": "phone-2", "device_name": "Tablet"}])
    qtbot.wait(200)
    table, bar = devices.table, devices.table.horizontalScrollBar()
    revoke = table.cellWidget(1, 7).findChild(QPushButton)
    assert revoke is not None
    if not visible_in(table.viewport(), revoke):
        assert bar.isVisible() and bar.maximum() > 0, "Revoke is off the right edge, and nothing scrolls to it"
        bar.setValue(bar.maximum())
        qtbot.wait(50)
    assert visible_in(table.viewport(), revoke)
    # Both rows stay whole under the scroll bar: the table grows by its height.
    assert table.rowViewportPosition(1) + table.rowHeight(1) <= table.viewport().height()
    assert not table.verticalScrollBar().isVisible()
    devices.server_gone()  # the longest summary line
    qtbot.wait(100)
    assert clipped_labels(devices) == []
    win.resize(1600, 900)  # wide enough for every column: no scroll bar, and no room kept for one
    qtbot.waitUntil(lambda: not bar.isVisible(), timeout=2000)
    assert table.height() == 40 + 46 * 2
    win.tasks.shutdown()
    win.api.close()


# --- 5. and 6. Revoke and the Settings page while the server does not answer


def test_revoke_and_the_settings_that_need_the_server_wait_while_it_does_not_answer(
    app_window: MainWindow, qtbot: QtBot
) -> None:
    win = app_window
    assert win.controller is not None
    settings = win.settings
    qtbot.waitUntil(lambda: settings.message.text() == "Settings loaded from the server.", timeout=WAIT)
    assert settings.reset_btn.isEnabled() and settings.revert_btn.isEnabled()
    win.devices.show_devices([PHONE])
    assert revoke_button(win).isEnabled()
    pid = win.controller.sidecar.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    qtbot.waitUntil(lambda: "not answering" in win.server_chip.text(), timeout=8000)

    revoke = revoke_button(win)
    assert not revoke.isEnabled()
    assert "not answering" in revoke.toolTip()
    assert "not answering" in settings.message.text() and "Settings loaded" not in settings.message.text()
    for button in (settings.reset_btn, settings.revert_btn, settings.save_btn):
        assert not button.isEnabled(), button.text()

    os.kill(pid, signal.SIGCONT)
    qtbot.waitUntil(lambda: "Server running" in win.server_chip.text(), timeout=8000)
    qtbot.waitUntil(lambda: settings.message.text() == "Settings loaded from the server.", timeout=WAIT)
    assert all(b.isEnabled() for b in (settings.reset_btn, settings.revert_btn, settings.save_btn))
    qtbot.waitUntil(lambda: not win.devices._polling, timeout=WAIT)
    win.devices.show_devices([PHONE])
    assert revoke_button(win).isEnabled() and not revoke_button(win).toolTip()


def revoke_button(win: MainWindow) -> QPushButton:
    button = win.devices.table.cellWidget(0, 7).findChild(QPushButton)
    assert button is not None
    return button
