"""``contop desktop`` as a user runs it, on a real X server: its own sidecar server, driven by real clicks on the
elements its accessibility tree (AT-SPI) names, while settings.json is edited by hand next to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contop.desktop.window import NAV_ICONS
from contop.platform.base import UIElement
from contop.testing.xsession import XSession, linux_adapter_for_tests, xsession_for_tests
from tests.desktop.test_proxies import free_port

pytestmark = [pytest.mark.x11, pytest.mark.timeout(180)]

A11Y_ENV = {"QT_ACCESSIBILITY": "1", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "desktop"


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    for session in xsession_for_tests("1920x1080x24"):
        session.start_atspi()
        yield session


@pytest.fixture(scope="module")
def adapter(xsession: XSession) -> Iterator[Any]:
    yield from linux_adapter_for_tests(xsession)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (httpx.HTTPError, OSError, ValueError, LookupError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class DesktopApp:
    """The running app: its X window through the adapter, its server through HTTP, its settings.json on disk."""

    def __init__(self, xsession: XSession, adapter: Any, home: Path) -> None:
        self.xsession = xsession
        self.adapter = adapter
        self.home = home
        self.port = free_port()
        env = {k: v for k, v in xsession.child_env(A11Y_ENV).items() if not k.endswith("_API_KEY")}
        self.log = (home.parent / "desktop.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "contop", "desktop", "--home", str(home), "--port", str(self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM quits like the tray menu: sidecar and proxies stop too
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.log.close()

    # --- the server

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = (self.home / "admin.token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, f"http://127.0.0.1:{self.port}{path}", headers=headers, timeout=5, **kwargs)

    def settings(self) -> dict[str, Any]:
        return dict(self.api("GET", "/api/settings").json())

    def edit_by_hand(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.home / "settings.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2))

    # --- the window

    def tree(self) -> list[UIElement]:
        return list(self.adapter.get_element_tree("Contop", max_depth=40, limit=3000))

    def element(self, name: str, role: str) -> UIElement | None:
        return next((e for e in self.tree() if e.role == role and e.name == name and "showing" in e.states), None)

    def click(self, name: str, role: str = "push button") -> None:
        """A real click (XTEST) in the middle of the element."""
        el = wait_for(f"{role} {name!r}", lambda: self.element(name, role))
        self.adapter.click(el.box.left + el.box.width // 2, el.box.top + el.box.height // 2)

    def labels(self) -> list[str]:
        return [e.name for e in self.tree() if e.role == "label" and "showing" in e.states]

    def wait_label(self, start: str | tuple[str, ...]) -> str:
        def found() -> str | None:
            return next((text for text in self.labels() if text.startswith(start)), None)

        return str(wait_for(f"a label starting {start!r}", found))

    def open_page(self, name: str) -> None:
        self.click(f"{NAV_ICONS[name]}   {name}", "list item")

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["import", "-window", "root", str(ARTIFACTS / name)],
            env=self.xsession.child_env(),
            check=False,
            timeout=30,
        )


@pytest.fixture
def app(xsession: XSession, adapter: Any, tmp_path: Path) -> Iterator[DesktopApp]:
    desktop = DesktopApp(xsession, adapter, tmp_path / "home")
    try:
        wait_for("the server", lambda: desktop.api("GET", "/health").status_code == 200, timeout=60)
        # The window is up and the Settings page filled from the server (its buttons are enabled then).
        wait_for(
            "the settings loaded",
            lambda: any(e.name == "Save settings" and "enabled" in e.states for e in desktop.tree()),
        )
        yield desktop
    finally:
        desktop.stop()


def test_saving_settings_keeps_what_was_edited_by_hand(app: DesktopApp) -> None:
    # The QA report's steps: the app fills the form at start; settings.json is then edited by hand, which the
    # server picks up; Settings is opened and saved without touching the form.
    def by_hand(data: dict[str, Any]) -> None:
        data["execution_model"] = "gemini:gemini-2.5-flash"
        data["away_mode"]["auto_engage_minutes"] = 11

    app.edit_by_hand(by_hand)
    wait_for("the server to pick up the edit", lambda: app.settings()["away_mode"]["auto_engage_minutes"] == 11)
    app.open_page("Settings")
    app.click("Save settings")
    message = app.wait_label(("Saved", "Nothing to save"))
    on_disk = json.loads((app.home / "settings.json").read_text())
    assert on_disk["execution_model"] == "gemini:gemini-2.5-flash"
    assert on_disk["away_mode"]["auto_engage_minutes"] == 11
    assert message.startswith("Nothing to save")
    field = app.element("Auto-engage after (minutes)", "text")
    assert field is not None and field.value == "11"  # the form shows the edit
    app.screenshot("7-settings-after-hand-edit.png")


def test_the_local_model_server_is_set_on_the_settings_page(app: DesktopApp) -> None:
    app.open_page("Settings")
    wait_for("the local model server field", lambda: app.element("Local model server", "text"))
    result = app.adapter.interact_element("Local model server", "set_text", "localhost:11434", window_title="Contop")
    assert result.status == "success", result
    app.click("Save settings")
    assert app.wait_label("an http:// or https:// address")  # under the field
    assert app.settings()["local_model_base_url"] == ""

    result = app.adapter.interact_element(
        "Local model server", "set_text", "http://127.0.0.1:11434/v1", window_title="Contop"
    )
    assert result.status == "success", result
    app.click("Save settings")
    app.wait_label("Saved")
    assert app.settings()["local_model_base_url"] == "http://127.0.0.1:11434/v1"


def test_the_wheel_over_a_sign_in_choice_scrolls_the_page_and_changes_nothing(app: DesktopApp) -> None:
    # The QA report's steps: the mouse wheel turned over a provider sign-in choice, then Save.
    def sign_in_choices() -> list[UIElement]:
        # AT-SPI names a combo box after its current text; the sign-in ones are the Settings page's only ones.
        found = [e for e in app.tree() if e.role == "combo box" and "showing" in e.states and e.box is not None]
        return sorted(found, key=lambda e: e.box.top)

    app.open_page("Settings")
    first = wait_for("the sign-in choices", lambda: len(sign_in_choices()) == 3 and sign_in_choices()[0])
    assert first.name == "API key"
    app.adapter.scroll("down", 2, first.box.left + first.box.width // 2, first.box.top + first.box.height // 2)
    wait_for("the page to scroll", lambda: not sign_in_choices() or sign_in_choices()[0].box.top < first.box.top)
    assert all(e.name == "API key" for e in sign_in_choices())
    app.click("Save settings")
    assert app.wait_label(("Saved", "Nothing to save")).startswith("Nothing to save")
    assert all(auth["mode"] == "api_key" for auth in app.settings()["provider_auth"].values())
