"""The Settings page against a real server while settings.json changes under it: by hand, by a reset, by a save.

Saving must never silently undo what happened since the form was filled; the new fields save and show the
server's refusals.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from contop.desktop.pages.settings import SettingsPage
from contop.desktop.window import MainWindow
from contop.testing.server import ServerProcess
from tests.desktop.test_app import WAIT, make_window

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def window(qapp: QApplication, qtbot: QtBot, server: ServerProcess) -> Iterator[MainWindow]:
    win = make_window(qapp, server)
    qtbot.waitUntil(lambda: win.settings.snapshot is not None, timeout=WAIT)  # filled at start, page not shown
    yield win
    win.quit_app()
    win.api.close()


def settings(server: ServerProcess) -> dict[str, Any]:
    return dict(server.request("GET", "/api/settings").json())


def edit_by_hand(server: ServerProcess, qtbot: QtBot, **changes: Any) -> None:
    """Write settings.json as a user with an editor would, and wait until the server has picked it up."""
    path = server.home / "settings.json"
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = data
        for part in parents:
            target = target[part]
        target[leaf] = value
    path.write_text(json.dumps(data, indent=2))
    expected = {k: v for k, v in changes.items() if "__" not in k}
    qtbot.waitUntil(lambda: all(settings(server)[k] == v for k, v in expected.items()), timeout=WAIT)


def shown(window: MainWindow, qtbot: QtBot) -> SettingsPage:
    """The Settings page on screen, filled from the server now (as showing it does; asked here explicitly so
    that what follows does not depend on that)."""
    page = window.settings
    window.show_page("Settings")
    settled(window)
    page.message.setText("")
    page.load()
    qtbot.waitUntil(lambda: page.message.text() == "Settings loaded from the server.", timeout=WAIT)
    settled(window)
    return page


def settled(window: MainWindow) -> None:
    """Every request of the window answered and its answer delivered."""
    assert window.tasks.wait_idle()
    QApplication.processEvents()


def saved(page: SettingsPage, qtbot: QtBot, start: str = "Saved") -> None:
    page.save()
    qtbot.waitUntil(lambda: page.message.text().startswith(start), timeout=WAIT)


def test_showing_the_page_reloads_a_hand_edit_and_an_unchanged_form_saves_nothing(
    window: MainWindow, qtbot: QtBot, server: ServerProcess
) -> None:
    edit_by_hand(server, qtbot, execution_model="gemini:gemini-2.5-flash", away_mode__auto_engage_minutes=11)
    assert settings(server)["away_mode"]["auto_engage_minutes"] == 11
    page = window.settings
    window.show_page("Settings")
    qtbot.waitUntil(lambda: page.auto_engage.value() == 11, timeout=WAIT)
    assert page.model.text() == "gemini:gemini-2.5-flash"
    before = (server.home / "settings.json").stat().st_mtime_ns
    saved(page, qtbot, "Nothing to save")
    assert (server.home / "settings.json").stat().st_mtime_ns == before
    assert settings(server)["execution_model"] == "gemini:gemini-2.5-flash"


def test_a_save_sends_only_what_was_changed_here(window: MainWindow, qtbot: QtBot, server: ServerProcess) -> None:
    current = settings(server)
    server.request("PUT", "/api/settings", json={**current, "forbidden_commands": ["format-disk"]})
    page = shown(window, qtbot)
    assert page.lists["forbidden_commands"].values() == ["format-disk"]
    page.keep_awake.setChecked(True)
    page.keys["openai_api_key"].setText("sk-mine")
    # Meanwhile: a reset through the API (forbidden_commands back to the defaults), then a hand edit.
    assert server.request("POST", "/api/settings/reset").status_code == 200
    edit_by_hand(server, qtbot, away_mode__auto_engage_minutes=11, gemini_api_key="AIza-by-hand")
    saved(page, qtbot)
    now = settings(server)
    assert now["keep_host_awake"] is True and now["openai_api_key"] == "sk-mine"  # what the user changed
    assert now["forbidden_commands"] == current["forbidden_commands"]  # the reset stays
    assert now["away_mode"]["auto_engage_minutes"] == 11 and now["gemini_api_key"] == "AIza-by-hand"
    assert page.auto_engage.value() == 11  # and the form shows what was saved


def test_a_field_changed_here_and_elsewhere_asks_before_replacing(
    window: MainWindow, qtbot: QtBot, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = shown(window, qtbot)
    page.model.setText("anthropic:claude-test")
    page.keys["gemini_api_key"].setText("AIza-in-the-form")
    page.keep_awake.setChecked(True)
    edit_by_hand(server, qtbot, execution_model="gemini:gemini-2.5-flash", gemini_api_key="AIza-by-hand")
    asked: list[str] = []

    def cancel(*args: object, **kwargs: object) -> QMessageBox.StandardButton:
        asked.append(str(args[2]))
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", cancel)
    saved(page, qtbot, "Not saved")
    assert len(asked) == 1
    assert "Execution model" in asked[0] and "Gemini API key" in asked[0]
    assert "Power" not in asked[0] and "Keep this computer awake" not in asked[0]  # changed here only
    assert "AIza" not in asked[0]  # names, never the keys themselves
    now = settings(server)
    assert now["execution_model"] == "gemini:gemini-2.5-flash" and now["gemini_api_key"] == "AIza-by-hand"
    assert now["keep_host_awake"] is False
    assert page.model.text() == "anthropic:claude-test"  # the form keeps the user's values

    # Asked once: saving again replaces them.
    saved(page, qtbot)
    assert len(asked) == 1
    now = settings(server)
    assert now["execution_model"] == "anthropic:claude-test" and now["gemini_api_key"] == "AIza-in-the-form"
    assert now["keep_host_awake"] is True


def test_unsaved_changes_survive_leaving_the_page(window: MainWindow, qtbot: QtBot, server: ServerProcess) -> None:
    page = shown(window, qtbot)
    page.prompts["execution_system_prompt"].setPlainText("Be brief.")
    window.show_page("Pair")
    edit_by_hand(server, qtbot, keep_host_awake=True)
    window.show_page("Settings")
    assert "Unsaved changes" in page.message.text()
    window.tasks.wait_idle()
    assert page.prompts["execution_system_prompt"].toPlainText() == "Be brief."
    saved(page, qtbot)
    now = settings(server)
    assert now["execution_system_prompt"] == "Be brief." and now["keep_host_awake"] is True
    page.prompts["execution_system_prompt"].setPlainText("changed my mind")
    page.load()  # Discard changes
    qtbot.waitUntil(lambda: page.prompts["execution_system_prompt"].toPlainText() == "Be brief.", timeout=WAIT)


def test_local_model_server_video_and_ice_servers(window: MainWindow, qtbot: QtBot, server: ServerProcess) -> None:
    page = shown(window, qtbot)
    assert page.local_url.accessibleName() == "Local model server"
    page.local_url.setText("localhost:11434")
    page.save()
    assert "http://" in page.errors["local_model_base_url"].text()
    assert page.errors["local_model_base_url"].isVisibleTo(page)
    assert page.message.text() == "Fix the highlighted fields before saving."

    page.local_url.setText("http://127.0.0.1:11434/v1")
    page.video_width.setText("50")
    page.save()
    assert "160" in page.errors["video_width"].text()  # the server's own range, under its field, before sending
    assert page.message.text() == "Fix the highlighted fields before saving."
    page.video_width.setValue(1280)
    page.ice.setPlainText('[{"urls": 5}]')
    saved(page, qtbot, "The server refused")
    assert "valid string" in page.errors["ice_servers"].text()
    assert settings(server)["local_model_base_url"] == ""  # refused as a whole

    page.video_width.setValue(960)
    page.video_fps.setText("12.5")
    page.ice.setPlainText('[{"urls": "stun:stun.example.org:3478"}]')
    saved(page, qtbot)
    now = settings(server)
    assert now["local_model_base_url"] == "http://127.0.0.1:11434/v1"
    assert now["video_width"] == 960 and now["video_fps"] == 12.5
    assert now["ice_servers"] == [{"urls": "stun:stun.example.org:3478", "username": None, "credential": None}]
    assert json.loads(page.ice.toPlainText())[0]["urls"] == "stun:stun.example.org:3478"
    assert not page.errors["video_width"].isVisibleTo(page)
