"""QA round 28 of the desktop app: the admin token only to the app's own server, device names shown as plain text
and isolated from the app's sentences, a fresh pairing code on demand, and float settings that JSON can carry."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import signal
from pathlib import Path

import pytest
from PySide6 import QtGui
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox
from pytestqt.qtbot import QtBot

from contop.desktop import style
from contop.desktop.api import ApiClient, ApiError, ServerNotRunning
from contop.desktop.app import build
from contop.desktop.forms import parse_ice_servers
from contop.desktop.pages.devices import DevicesPage
from contop.desktop.pages.pair import PairPage
from contop.desktop.pages.settings import SettingsPage
from contop.desktop.sidecar import ParentDeath, SidecarState
from contop.desktop.tasks import TaskRunner
from contop.server.statedir import StateDir
from contop.testing.server import ServerProcess
from tests.desktop.test_sidecar import Squatter
from tests.server.wsutil import offer, passed_gate, signal_once

pytestmark = pytest.mark.timeout(240)
WAIT = 20_000


def test_a_program_already_on_the_port_gets_no_request_from_the_pages(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    StateDir(home).ensure()
    style.apply(qapp)
    with Squatter() as squatter:
        win, controller = build(home, squatter.port, ParentDeath.default())
        win.show()
        try:
            controller.start()
            qtbot.waitUntil(lambda: controller.state is SidecarState.CRASHED, timeout=40_000)
            win.devices.poll()  # the Refresh button
            qtbot.waitUntil(lambda: "Could not read devices" in win.devices.summary.text(), timeout=WAIT)
            assert "the server is not running" in win.devices.summary.text()
            with pytest.raises(ServerNotRunning, match="the server is not running"):
                win.api.get_settings()
        finally:
            win.quit_app()
            win.api.close()
        assert squatter.requests == []


def test_a_program_that_takes_the_port_of_the_killed_server_is_sent_nothing(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    style.apply(qapp)
    win, controller = build(tmp_path / "home", 0, ParentDeath.default())
    win.show()
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.state is SidecarState.RUNNING, timeout=40_000)
        assert win.api.get_settings()  # its own server is asked
        pid, port = controller.sidecar.pid, controller.sidecar.port
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        controller.sidecar.proc.wait(10)  # type: ignore[union-attr]
        squatter = Squatter(port)
        with squatter:
            # At once, before the app's timer noticed the crash: Settings "Discard changes", a Proxies port change.
            with pytest.raises(ServerNotRunning):
                win.api.get_settings()
            with pytest.raises(ServerNotRunning):
                win.api.put_settings({"server": {"port": 1}})
            with pytest.raises(ServerNotRunning):
                win.api.devices()
        assert squatter.requests == []
    finally:
        win.quit_app()
        win.api.close()


SPOOF = "<img src=/tmp/x.png><font size=6>Trusted Laptop</font>" + "W" * 300


def _revoke_dialog_text(qtbot: QtBot, page: DevicesPage, name: str) -> tuple[str, int]:
    """What the real Revoke dialog shows for ``name`` (as the user reads it) and its width; answers Cancel."""
    seen: list[tuple[str, int]] = []

    def read_and_cancel() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, read_and_cancel)
            return
        try:
            label = box.findChild(QLabel, "qt_msgbox_label")
            assert label is not None
            doc = QTextDocument()
            # As the label draws it: Qt guesses rich text when the format is automatic.
            if label.textFormat() == Qt.TextFormat.PlainText or not QtGui.Qt.mightBeRichText(label.text()):
                doc.setPlainText(label.text())
            else:
                doc.setHtml(label.text())
            seen.append((doc.toPlainText(), box.sizeHint().width()))
        finally:
            box.reject()

    QTimer.singleShot(50, read_and_cancel)
    page.confirm_revoke("phone-1", name)
    assert seen
    return seen[0]


def test_a_device_name_is_shown_as_typed_and_short_in_the_revoke_dialog(qtbot: QtBot) -> None:
    tasks = TaskRunner()
    page = DevicesPage(ApiClient("http://127.0.0.1:9", lambda: "t"), tasks, lambda t, m: None)
    qtbot.addWidget(page)
    page.show_devices([{"device_id": "phone-1", "device_name": SPOOF}])
    text, width = _revoke_dialog_text(qtbot, page, SPOOF)
    assert "<img src=/tmp/x.png><font size=6>Trusted Laptop" in text  # as typed, not drawn
    assert "W" * 300 not in text and "…" in text
    assert width < 900  # its buttons stay on the screen
    assert page.table.item(0, 0).text().endswith("…")
    assert "&lt;" not in page.table.item(0, 0).text()
    page._failed(ApiError(500, "<img src=/tmp/x.png>"))
    assert page.summary.textFormat() == Qt.TextFormat.PlainText
    tasks.shutdown()


def test_direction_controls_in_a_name_cannot_turn_the_apps_sentences_around(qtbot: QtBot) -> None:
    tasks = TaskRunner()
    page = DevicesPage(ApiClient("http://127.0.0.1:9", lambda: "t"), tasks, lambda t, m: None)
    qtbot.addWidget(page)
    name = "Pixel\u202e desrever"
    page.handle_events(
        [{"type": "connected", "device_id": "p1", "device_name": name, "timestamp": "2026-01-01T10:00Z"}]
    )
    line = page.activity.item(0).text()
    assert "\u202e" not in line
    assert line.endswith("Pixel\\u202e desrever is now connected to this computer.")
    text, _width = _revoke_dialog_text(qtbot, page, name)
    assert "\u202e" not in text and "Pixel\\u202e desrever" in text
    page.show_devices([{"device_id": "p1", "device_name": name}])
    assert page.table.item(0, 0).text() == "Pixel\\u202e desrever"
    # A name written right to left is isolated, so the sentence around it keeps its order.
    arabic = "\u0647\u0627\u062a\u0641 2"
    page.handle_events(
        [{"type": "disconnected", "device_id": "p2", "device_name": arabic, "timestamp": "2026-01-01T10:01Z"}]
    )
    assert page.activity.item(0).text().endswith(f"\u2068{arabic}\u2069 disconnected.")
    tasks.shutdown()


def test_new_code_replaces_the_unclaimed_code_and_paired_phones_keep_theirs(
    qtbot: QtBot, server: ServerProcess
) -> None:
    tasks = TaskRunner()
    api = ApiClient(server.base_url, lambda: server.admin_token)
    page = PairPage(api, tasks)
    qtbot.addWidget(page)
    try:
        paired = server.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()["token"]
        assert passed_gate(signal_once(server.port, paired, offer("phone-1")))  # a phone paired with it
        page.server_ready()
        qtbot.waitUntil(lambda: page.permanent.current is not None, timeout=WAIT)
        seen = page.permanent.current["token"]  # type: ignore[index]
        page.refresh_btn.click()
        qtbot.waitUntil(lambda: page.permanent.current["token"] != seen, timeout=WAIT)  # type: ignore[index]
        fresh = page.permanent.current["token"]  # type: ignore[index]
        assert not passed_gate(signal_once(server.port, seen, offer("phone-2")))  # the code that was seen is dead
        # Other callers still get the code on screen again, not yet another one.
        again = server.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()["token"]
        assert again == fresh
        assert passed_gate(signal_once(server.port, paired, offer("phone-1")))  # the paired phone still connects
    finally:
        page.timer.stop()
        tasks.shutdown()
        api.close()


@pytest.mark.parametrize("typed", ["1e999", "inf", "nan"])
def test_a_frame_rate_json_cannot_carry_is_shown_at_its_field(qtbot: QtBot, server: ServerProcess, typed: str) -> None:
    tasks = TaskRunner()
    api = ApiClient(server.base_url, lambda: server.admin_token)
    page = SettingsPage(api, tasks)
    qtbot.addWidget(page)
    try:
        page.load()
        qtbot.waitUntil(lambda: page.loaded is not None, timeout=WAIT)
        page.video_fps.setText(typed)
        page.save()
        qtbot.waitUntil(lambda: not page.errors["video_fps"].isHidden(), timeout=WAIT)
        assert page.errors["video_fps"].text() == "a number of frames per second, e.g. 30 or 12.5"
        assert page.message.text() == "Fix the highlighted fields before saving."
        assert server.request("GET", "/api/settings").json()["video_fps"] == 30
    finally:
        tasks.shutdown()
        api.close()


def test_ice_servers_with_numbers_json_cannot_carry_are_refused_before_saving() -> None:
    for text in ('[{"urls": "stun:x", "n": NaN}]', '[{"urls": "stun:x", "n": 1e999}]'):
        assert parse_ice_servers(text)[1] is not None
    assert parse_ice_servers('[{"urls": "stun:x", "n": 1.5}]') == ([{"urls": "stun:x", "n": 1.5}], None)
