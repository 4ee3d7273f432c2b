"""The desktop window against a real server: pairing, devices, settings, proxies, logs, the sidecar banner.

Screenshots of every page go to test-artifacts/desktop/.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QListWidgetItem, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from contop.core.errors import StateDirError
from contop.desktop import style
from contop.desktop.api import ApiClient
from contop.desktop.app import build
from contop.desktop.forms import merged_settings
from contop.desktop.pages.pair import PairPage
from contop.desktop.pages.settings import SkillDialog
from contop.desktop.paths import DesktopPaths
from contop.desktop.proxies import ProxyManager, WatchdogTiming
from contop.desktop.sidecar import ParentDeath, SidecarState
from contop.desktop.tasks import TaskRunner
from contop.desktop.window import PAGES, MainWindow
from contop.server.statedir import StateDir
from contop.testing.server import ServerProcess
from tests.desktop.closing_relay import ClosingRelay
from tests.desktop.test_proxies import fake, free_port
from tests.desktop.test_sidecar import Squatter
from tests.server.wsutil import offer, signal_once

pytestmark = pytest.mark.timeout(240)  # a real server starts per test; slow on a loaded machine
WAIT = 20_000


FAST_PROXIES = WatchdogTiming(health_interval=0.2, start_timeout=10, backoff_base=0.2, backoff_cap=1)


def put_settings(server: ServerProcess, changes: dict[str, Any]) -> None:
    """Change settings through the API, by dotted key."""
    current = server.request("GET", "/api/settings").json()
    assert server.request("PUT", "/api/settings", json=merged_settings(current, changes)).status_code == 200


def make_window(qapp: QApplication, server: ServerProcess, proxies: ProxyManager | None = None) -> MainWindow:
    style.apply(qapp)
    api = ApiClient(server.base_url, lambda: server.admin_token)
    win = MainWindow(api, DesktopPaths(server.home), proxies or ProxyManager(server.home, None))
    win.resize(1120, 760)
    win.show()
    win.server_ready()
    return win


@pytest.fixture
def window(qapp: QApplication, qtbot: QtBot, server: ServerProcess) -> Iterator[MainWindow]:
    win = make_window(qapp, server)
    yield win
    win.quit_app()
    win.api.close()


def claim(server: ServerProcess, token: str, device_id: str, **extra: Any) -> None:
    signal_once(server.port, token, offer(device_id, **extra))


def test_pairing_qr_appears_and_refreshes_after_a_claim(
    window: MainWindow, qtbot: QtBot, server: ServerProcess
) -> None:
    page = window.pair
    qtbot.waitUntil(lambda: page.permanent.current is not None, timeout=WAIT)
    first = page.permanent.current
    assert first is not None
    assert page.permanent.image.pixmap() is not None and not page.permanent.image.pixmap().isNull()
    assert page.permanent.url.text() == first["url"] and first["url"].startswith("http://")
    qtbot.mouseClick(page.permanent.copy, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == first["url"]

    claim(server, first["token"], "phone-1", name="Pixel 8")
    page.poll()  # the 5 s timer does the same
    # A fresh code: the same one shown again (the start-up poll racing the first fetch) does not count
    qtbot.waitUntil(lambda: (page.permanent.current or first)["token"] != first["token"], timeout=WAIT)
    second = page.permanent.current
    assert second is not None and second["token"] != first["token"]
    assert server.request("GET", "/api/pair/status").json()["claimed"] is False


def test_a_network_change_refreshes_the_code(window: MainWindow, qtbot: QtBot) -> None:
    page = window.pair
    qtbot.waitUntil(lambda: page.issued == 1, timeout=WAIT)
    page.poll()
    qtbot.waitUntil(lambda: page._net is not None, timeout=WAIT)
    assert page.issued == 1  # same network, unclaimed code: nothing to do
    page._net = ("10.9.9.9", None, None, 1)  # as if the LAN address was different a moment ago
    page.poll()
    qtbot.waitUntil(lambda: page.issued == 2, timeout=WAIT)
    assert page.lan_chip.text()

    # A permanent code that a phone used for a temporary connection reads "temp" too, with its own expiry: the
    # temporary code on screen, which nobody used, stays (it was cleared).
    shown = {"url": "http://127.0.0.1:1/#p=x", "expires_at": "2026-12-08T03:00:00.000Z"}
    page.temporary.show_pairing(shown, "Temporary code")
    downgraded = {"claimed": True, "connection_type": "temp", "expires_at": "2026-12-08T03:00:41.000Z"}
    page._polled((window.api.connection_info(), downgraded))
    assert page.temporary.current is shown
    qtbot.waitUntil(lambda: page.issued == 3, timeout=WAIT)  # the permanent code was claimed: a new one
    # A temporary code that a phone used is taken off the screen, and a permanent code is watched again.
    page.temporary.show_pairing({"url": "http://127.0.0.1:1/#p=x", "expires_at": None}, "Temporary code")
    page._polled((window.api.connection_info(), {"claimed": True, "connection_type": "temp"}))
    assert page.temporary.current is None and "used this code" in page.temporary.image.text()
    qtbot.waitUntil(lambda: page.issued == 4, timeout=WAIT)


def test_temporary_code_shows_why_the_tunnel_cannot_start(window: MainWindow, qtbot: QtBot) -> None:
    page = window.pair
    qtbot.mouseClick(page.temp_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.temp_note.isVisible() or page.temporary.current is not None, timeout=70_000)
    if page.temporary.current is None:
        assert "tunnel could not start" in page.temp_note.text()
        assert "cloudflared" in page.temp_note.text()
    else:
        assert page.temporary.current["connection_type"] == "temp"


def test_devices_list_revoke_and_notifications(
    window: MainWindow, qtbot: QtBot, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = window.devices
    qtbot.waitUntil(lambda: window.pair.permanent.current is not None, timeout=WAIT)
    token = window.pair.permanent.current["token"]  # type: ignore[index]
    claim(server, token, "phone-1", name="Pixel 8", device_location={"city": "Lyon", "country": "France"})
    page.poll()
    qtbot.waitUntil(lambda: len(page.devices) == 1, timeout=WAIT)
    row = [page.table.item(0, c).text() if page.table.item(0, c) else "" for c in range(7)]
    assert row[0] == "Pixel 8" and row[1] == "Permanent" and row[4] == "Lyon, France"
    assert "1 paired" in page.summary.text()

    # Pairing again with a new code replaces the old token: an event, hence a notification.
    fresh = server.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
    claim(server, fresh["token"], "phone-1", name="Pixel 8")
    page.poll()
    qtbot.waitUntil(lambda: any("paired again" in m for _t, m in window.notifications), timeout=WAIT)
    assert page.activity.count() >= 1

    asked: list[str] = []

    def yes(*args: object, **kwargs: object) -> QMessageBox.StandardButton:
        asked.append(str(args[2]))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    revoke = page.table.cellWidget(0, 7).findChild(QPushButton)
    assert revoke is not None
    revoke.click()
    assert asked and "Pixel 8" in asked[0]
    qtbot.waitUntil(lambda: not page.devices, timeout=WAIT)
    assert server.request("GET", "/api/devices").json()["devices"] == []


def test_revoke_cancelled_keeps_the_device(
    window: MainWindow, qtbot: QtBot, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    qtbot.waitUntil(lambda: window.pair.permanent.current is not None, timeout=WAIT)
    claim(server, window.pair.permanent.current["token"], "phone-2")  # type: ignore[index]
    window.devices.poll()
    qtbot.waitUntil(lambda: len(window.devices.devices) == 1, timeout=WAIT)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    window.devices.confirm_revoke("phone-2", "phone-2")
    window.tasks.wait_idle()
    assert len(server.request("GET", "/api/devices").json()["devices"]) == 1


def test_settings_round_trip_keeps_unknown_keys(window: MainWindow, qtbot: QtBot, server: ServerProcess) -> None:
    current = server.request("GET", "/api/settings").json()
    assert server.request("PUT", "/api/settings", json={**current, "x_custom": {"kept": True}}).status_code == 200
    page = window.settings
    page.load()
    qtbot.waitUntil(lambda: page.snapshot is not None and "x_custom" in page.snapshot, timeout=WAIT)

    page.keys["gemini_api_key"].setText("AIza-test-key")
    assert page.keys["gemini_api_key"].echoMode() == page.keys["gemini_api_key"].EchoMode.Password
    page.show_keys.setChecked(True)
    assert page.keys["gemini_api_key"].echoMode() == page.keys["gemini_api_key"].EchoMode.Normal
    page.auth["anthropic"].setCurrentIndex(page.auth["anthropic"].findData("cli_proxy"))
    page.model.setText("anthropic:claude-test")
    editor = page.lists["forbidden_commands"]
    editor.input.setText("format-disk")
    editor.add_from_input()
    page.prompts["execution_system_prompt"].setPlainText("Be brief.")
    page.keep_awake.setChecked(True)
    page.auto_engage.setValue(12)
    qtbot.mouseClick(page.save_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.message.text().startswith("Saved"), timeout=WAIT)

    saved = server.request("GET", "/api/settings").json()
    assert saved["gemini_api_key"] == "AIza-test-key"
    assert saved["provider_auth"]["anthropic"]["mode"] == "cli_proxy"
    assert saved["execution_model"] == "anthropic:claude-test"
    assert saved["forbidden_commands"][-1] == "format-disk"
    assert saved["execution_system_prompt"] == "Be brief."
    assert saved["keep_host_awake"] is True
    assert saved["away_mode"]["auto_engage_minutes"] == 12
    assert saved["x_custom"] == {"kept": True}


def test_settings_422_is_shown_next_to_its_field(window: MainWindow, qtbot: QtBot, server: ServerProcess) -> None:
    page = window.settings
    qtbot.waitUntil(lambda: page.snapshot is not None, timeout=WAIT)
    page.auto_engage.setMaximum(5000)  # the form stops this; here the server's own check must speak
    page.auto_engage.setValue(3000)
    page.save()
    label = page.errors["away_mode.auto_engage_minutes"]
    qtbot.waitUntil(lambda: "refused" in page.message.text(), timeout=WAIT)
    assert label.isVisibleTo(page)
    assert "1440" in label.text()
    assert "auto_engage_minutes" in page.message.text()
    assert server.request("GET", "/api/settings").json()["away_mode"]["auto_engage_minutes"] == 5


def test_settings_lists_are_validated_before_saving(window: MainWindow, qtbot: QtBot) -> None:
    page = window.settings
    qtbot.waitUntil(lambda: page.snapshot is not None, timeout=WAIT)
    editor = page.lists["restricted_paths"]
    editor.set_values(["/a", "/a"])
    page.save()
    assert "Fix" in page.message.text()
    assert editor.error.isVisibleTo(page) and "duplicate" in editor.error.text()
    editor.input.setText("")
    editor.add_from_input()
    assert "type an entry" in editor.error.text()


def _answers(server: ServerProcess, method: str, path: str, **kwargs: Any) -> bool:
    """Whether the feature behind an endpoint is in the server under test (503 "not available" when not)."""
    return server.request(method, path, **kwargs).status_code != 503


def test_skills_editor_or_not_available(
    window: MainWindow, qtbot: QtBot, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = window.settings
    if not _answers(server, "GET", "/api/skills"):
        qtbot.waitUntil(lambda: "Not available in this build" in page.skills_note.text(), timeout=WAIT)
        assert not page.new_skill.isEnabled() and not page.skills.isEnabled()
        return
    qtbot.waitUntil(lambda: page.skills_available, timeout=WAIT)
    assert page.new_skill.isEnabled() and not page.skills_note.isVisibleTo(page)
    text = "---\nname: tidy-desk\ndescription: Close stray windows at the end of the day\n---\n\n# Tidy desk\n"

    def accept(dialog: SkillDialog) -> QDialog.DialogCode:
        dialog.name.setText("tidy-desk")
        dialog.text.setPlainText(text)
        dialog.try_accept()
        return QDialog.DialogCode(dialog.result())

    monkeypatch.setattr(SkillDialog, "exec", accept)
    page.edit_skill(None)
    qtbot.waitUntil(lambda: "tidy-desk saved" in page.message.text(), timeout=WAIT)
    assert server.request("GET", "/api/skills/tidy-desk").json()["content"] == text

    def skill_item() -> QListWidgetItem | None:
        items = [page.skills.item(i) for i in range(page.skills.count())]
        return next((it for it in items if it.data(Qt.ItemDataRole.UserRole) == "tidy-desk"), None)

    qtbot.waitUntil(lambda: skill_item() is not None, timeout=WAIT)
    item = skill_item()
    assert item is not None
    item.setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(
        lambda: "tidy-desk" in server.request("GET", "/api/settings").json()["enabled_skills"], timeout=WAIT
    )
    # A save from the form (loaded before the toggle) must not undo it.
    page.keep_awake.setChecked(not page.keep_awake.isChecked())
    page.save()
    qtbot.waitUntil(lambda: page.message.text().startswith("Saved"), timeout=WAIT)
    assert "tidy-desk" in server.request("GET", "/api/settings").json()["enabled_skills"]


def test_away_pins_or_not_available(window: MainWindow, qtbot: QtBot, server: ServerProcess) -> None:
    page = window.settings
    probe = server.request("POST", "/api/away-mode/pin", json={})
    if probe.status_code in (404, 405, 503):
        qtbot.waitUntil(lambda: "Not available in this build" in page.pins_note.text(), timeout=WAIT)
        assert not page.pin.isEnabled() and not page.emergency.isEnabled()
        return
    qtbot.waitUntil(lambda: page.pins_available, timeout=WAIT)
    page.pin.setText("12")
    page.emergency.setText("12")
    page.save_pins()
    assert "4 to 12" in page.errors["pin"].text() and "6 to 12" in page.errors["emergency_pin"].text()
    page.pin.setText("2468")
    page.emergency.setText("97531864")
    page.save_pins()
    qtbot.waitUntil(lambda: "PIN" in page.message.text() and "fix" not in page.message.text(), timeout=WAIT)
    assert page.message.text() == "Away Mode PINs set."
    first = away_section(server)
    assert first["pin_hash"] and first["emergency_pin_hash"]

    # A refused attempt replaces the success message instead of standing next to it.
    page.pin.setText("12")
    page.save_pins()
    assert page.errors["pin"].isVisibleTo(page)
    assert page.message.text() == "Away Mode PINs not set: fix the highlighted fields."

    # The emergency PIN is optional: a new PIN alone is accepted, and the emergency PIN stays as it was.
    page.pin.setText("1357")
    page.save_pins()
    qtbot.waitUntil(lambda: "unchanged" in page.message.text(), timeout=WAIT)
    assert not page.errors["pin"].isVisibleTo(page) and not page.errors["emergency_pin"].isVisibleTo(page)
    second = away_section(server)
    assert second["pin_hash"] != first["pin_hash"] and second["emergency_pin_hash"] == first["emergency_pin_hash"]

    # Removing it takes an explicit choice.
    page.remove_emergency.setChecked(True)
    assert not page.emergency.isEnabled()
    page.pin.setText("1357")
    page.save_pins()
    qtbot.waitUntil(lambda: "removed" in page.message.text(), timeout=WAIT)
    assert away_section(server)["emergency_pin_hash"] == ""
    assert not page.remove_emergency.isChecked() and page.emergency.isEnabled()


def away_section(server: ServerProcess) -> dict[str, Any]:
    return dict(server.request("GET", "/api/settings").json()["away_mode"])


def test_default_prompts_or_not_available(window: MainWindow, qtbot: QtBot, server: ServerProcess) -> None:
    page = window.settings
    page.show_default_prompt("execution")
    note = page.default_notes["execution"]
    if not _answers(server, "GET", "/api/default-prompts"):
        qtbot.waitUntil(lambda: "Not available in this build" in note.text(), timeout=WAIT)
        return
    expected = server.request("GET", "/api/default-prompts").json()["execution"]
    qtbot.waitUntil(lambda: page.default_views["execution"].toPlainText() == (expected or "(empty)"), timeout=WAIT)
    assert page.default_views["execution"].isReadOnly()


def test_proxies_are_disabled_when_not_in_this_build(window: MainWindow) -> None:
    page = window.proxies_page
    assert page.unavailable.isVisibleTo(page)
    assert "not installed in this build" in page.unavailable.text()
    for provider in ("anthropic", "gemini", "openai"):
        assert not page.start_buttons[provider].isEnabled()
        assert not page.stop_buttons[provider].isEnabled()
        assert "Not installed" in page.chips[provider].text()


def test_proxies_page_auto_starts_and_drives_supervisors(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    ports = {provider: free_port() for provider in ("anthropic", "gemini", "openai")}
    put_settings(server, {f"provider_auth.{p}.proxy_url": f"http://127.0.0.1:{port}" for p, port in ports.items()})
    manager = ProxyManager(server.home, fake(), FAST_PROXIES)
    win = make_window(qapp, server, manager)  # settings say proxy_auto_start (the default): all three start
    try:
        page = win.proxies_page
        assert not page.unavailable.isVisibleTo(page)
        for provider in ("anthropic", "gemini", "openai"):
            qtbot.waitUntil(lambda p=provider: "Running" in page.chips[p].text(), timeout=WAIT)
            # On the port the server's settings name, read back at start.
            assert manager.supervisors[provider].port == page.ports[provider].value() == ports[provider]
        assert page.stop_buttons["gemini"].isEnabled() and not page.start_buttons["gemini"].isEnabled()
        assert not page.ports["gemini"].isEnabled()
        page.stop("gemini")
        qtbot.waitUntil(lambda: "Stopped" in page.chips["gemini"].text(), timeout=WAIT)
        assert page.start_buttons["gemini"].isEnabled()
        assert "Running" in page.chips["openai"].text()
        page.start("gemini")
        qtbot.waitUntil(lambda: "Running" in page.chips["gemini"].text(), timeout=WAIT)
        assert (server.home / "proxy-gemini.log").exists()
    finally:
        win.quit_app()
        win.api.close()
    assert all(sup.pid is None for sup in manager.supervisors.values())


def test_a_port_chosen_on_the_proxies_page_is_the_one_the_server_uses(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    put_settings(server, {"proxy_auto_start": False, "provider_auth.gemini.mode": "cli_proxy"})
    win = make_window(qapp, server, ProxyManager(server.home, fake(), FAST_PROXIES))
    port = free_port()
    try:
        page = win.proxies_page
        qtbot.waitUntil(lambda: win.settings.snapshot is not None, timeout=WAIT)
        assert page.ports["gemini"].value() == 3457  # nothing saved yet: the default
        page.ports["gemini"].setValue(port)
        page.start("gemini")
        qtbot.waitUntil(lambda: "Running" in page.chips["gemini"].text(), timeout=WAIT)
        qtbot.waitUntil(lambda: page.message.text().startswith(f"Port {port} saved for Gemini"), timeout=WAIT)
        saved = server.request("GET", "/api/settings").json()["provider_auth"]["gemini"]
        assert saved == {"mode": "cli_proxy", "proxy_url": f"http://127.0.0.1:{port}"}
        health = server.request("POST", "/api/provider-health", json={"provider": "gemini"}).json()
        assert health["proxy_url"] == f"http://127.0.0.1:{port}/v1"  # where the agent's requests go
    finally:
        win.quit_app()
        win.api.close()
    # The next start of the app shows, and would start, the proxy on that port.
    again = make_window(qapp, server, ProxyManager(server.home, fake(), FAST_PROXIES))
    try:
        qtbot.waitUntil(lambda: again.proxies_page.ports["gemini"].value() == port, timeout=WAIT)
        assert again.proxies_page.ports["openai"].value() == 3458
    finally:
        again.quit_app()
        again.api.close()


def test_a_server_already_using_the_state_directory_is_named(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess, artifacts: Path
) -> None:
    style.apply(qapp)
    win, controller = build(server.home, 0, ParentDeath.default())  # the same state directory as `server`
    win.show()
    try:
        controller.start()
        qtbot.waitUntil(lambda: win.banner_holder.isVisible(), timeout=40_000)
        assert server.proc is not None
        assert win.banner_text.text() == (
            f"Another Contop server (pid {server.proc.pid}, listening on 127.0.0.1:{server.port}) is already using "
            f"this app's state directory ({server.home}), so this app cannot start its own. Quit that server (or "
            "the other Contop app running it) and press Restart server, or start this app with another --home."
        )
        assert "Server not started" in win.server_chip.text()
        assert win.notifications == [
            ("Contop server not started", "Another Contop server uses the same state directory.")
        ]
        assert win.grab().save(str(artifacts / "6-server-not-started.png"))
    finally:
        win.quit_app()
        win.api.close()
    assert server.request("GET", "/health").status_code == 200  # the other server is left alone


def test_sidecar_crash_banner_restart_and_logs(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path, artifacts: Path
) -> None:
    style.apply(qapp)
    win, controller = build(tmp_path / "home", 0, ParentDeath.default())
    win.show()
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.state is SidecarState.RUNNING, timeout=40_000)
        assert "Server running" in win.server_chip.text()
        qtbot.waitUntil(lambda: win.pair.permanent.current is not None, timeout=WAIT)
        pid = controller.sidecar.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: win.banner_holder.isVisible(), timeout=WAIT)
        assert "stopped unexpectedly" in win.banner_text.text()
        assert "Server down" in win.server_chip.text()
        assert any("stopped" in t for t, _m in win.notifications)
        assert win.grab().save(str(artifacts / "6-server-down.png"))

        win.show_page("Logs")
        qtbot.waitUntil(lambda: "serving on" in win.logs.view.toPlainText(), timeout=WAIT)
        assert str(tmp_path / "home" / "logs" / "server.log") == win.logs.path_label.text()

        qtbot.mouseClick(win.restart_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: controller.state is SidecarState.RUNNING, timeout=40_000)
        assert not win.banner_holder.isVisible()
        assert controller.sidecar.pid != pid
        qtbot.waitUntil(lambda: win.pair.issued >= 2, timeout=WAIT)
    finally:
        new_pid = controller.sidecar.pid
        win.quit_app()
        win.api.close()
    assert controller.state is SidecarState.STOPPED
    assert new_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(new_pid, 0)


def test_screenshots_of_every_page(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess, artifacts: Path, tmp_path: Path
) -> None:
    # A server log to show, as the sidecar would write it.
    log = server.home / "logs" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(server.log())
    win = make_window(qapp, server)
    try:
        qtbot.waitUntil(lambda: win.pair.permanent.current is not None, timeout=WAIT)
        first = win.pair.permanent.current
        assert first is not None
        claim(server, first["token"], "pixel-8", name="Pixel 8", device_location={"city": "Lyon", "country": "France"})
        fresh = server.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
        claim(server, fresh["token"], "ipad", name="Kitchen iPad")
        win.pair.poll()
        win.devices.poll()
        qtbot.waitUntil(lambda: len(win.devices.devices) == 2 and win.pair.issued >= 2, timeout=WAIT)
        settings = win.settings
        qtbot.waitUntil(lambda: settings.skills_available or "Not" in settings.skills_note.text(), timeout=WAIT)
        win.settings.show_default_prompt("execution")
        win.tasks.wait_idle()
        for index, name in enumerate(PAGES):
            win.show_page(name)
            qtbot.wait(300)
            path = artifacts / f"{index + 1}-{name.lower()}.png"
            assert win.grab().save(str(path))
            assert path.stat().st_size > 10_000
        form = win.settings.form.parentWidget()  # the whole settings form, below the fold too
        assert isinstance(form, QWidget)
        assert form.grab().save(str(artifacts / "4-settings-full.png"))
    finally:
        win.quit_app()
        win.api.close()


def test_a_poll_on_a_connection_the_server_closes_is_not_reported(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    with ClosingRelay(server.port) as relay:
        api = ApiClient(f"http://127.0.0.1:{relay.port}", lambda: server.admin_token)
        tasks = TaskRunner()
        page = PairPage(api, tasks)
        qtbot.addWidget(page)
        try:
            page.refresh()
            qtbot.waitUntil(lambda: page.permanent.current is not None, timeout=WAIT)
            for _ in range(3):
                relay.drop_next()  # as uvicorn closing the connection at its 5 s keep-alive timeout
                page.poll()
                qtbot.waitUntil(lambda: not page._polling, timeout=WAIT)
                assert page.status_line.text() == "Waiting for a phone to scan the code."
            assert relay.dropped == 3
        finally:
            tasks.shutdown()
            api.close()


def test_the_pair_page_says_when_the_server_answers_again(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    address = [server.base_url]
    api = ApiClient(lambda: address[0], lambda: server.admin_token)
    tasks = TaskRunner()
    page = PairPage(api, tasks)
    qtbot.addWidget(page)
    try:
        page.refresh()
        qtbot.waitUntil(lambda: page.permanent.current is not None, timeout=WAIT)
        address[0] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        page.poll()
        qtbot.waitUntil(lambda: "Server not answering" in page.status_line.text(), timeout=WAIT)
        address[0] = server.base_url
        page.poll()
        qtbot.waitUntil(lambda: not page._polling, timeout=WAIT)
        assert page.status_line.text() == "Waiting for a phone to scan the code."
    finally:
        tasks.shutdown()
        api.close()


def test_a_program_squatting_on_the_port_is_never_sent_the_admin_token(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    state_dir = StateDir(home)
    state_dir.ensure()
    token = state_dir.load_or_create_admin_token()  # an app started before: its token is there from the start
    style.apply(qapp)
    with Squatter() as squatter:
        win, controller = build(home, squatter.port, ParentDeath.default())
        win.show()
        try:
            controller.start()
            qtbot.waitUntil(lambda: controller.state is SidecarState.CRASHED, timeout=40_000)
            assert "already in use" in controller.error
            qtbot.wait(500)  # what the pages would have asked for by now
        finally:
            win.quit_app()
            win.api.close()
        assert squatter.authorizations == [], f"the admin token {token[:8]}… went to {squatter.requests}"
        assert win.pair.permanent.current is None


def test_a_folder_of_other_things_is_not_built_into_an_app(qapp: QApplication, tmp_path: Path) -> None:
    folder = tmp_path / "someone"
    (folder / "Documents").mkdir(parents=True)
    folder.chmod(0o755)
    with pytest.raises(StateDirError, match="nothing of Contop's"):
        build(folder, 0, ParentDeath.default())
    assert os.listdir(folder) == ["Documents"] and stat.S_IMODE(folder.stat().st_mode) == 0o755
