"""Accessibility through AT-SPI on the real session: a PySide6 app with Qt's AT-SPI bridge forced on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import NotAvailableError
from contop.platform.base import WindowInfo
from contop.platform.linux.atspi import decode_states, pick_press_action
from contop.testing.xsession import XSession

from .conftest import wait_until_active

pytestmark = pytest.mark.x11

QT_APP = Path(__file__).with_name("qt_app.py")
QT_A11Y_ENV = {"QT_ACCESSIBILITY": "1", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}


@dataclass
class QtApp:
    proc: subprocess.Popen[bytes]
    log: Path
    ready: dict[str, Any]
    window: WindowInfo

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; events: {self.events()[-10:]}")
            time.sleep(0.02)
        return self.events()

    def absolute(self, widget: str) -> tuple[int, int, int, int]:
        x, y, w, h = self.ready[widget]
        return self.window.x + x, self.window.y + y, w, h


@pytest.fixture
def qt_app(xsession: XSession, linux_adapter: Any, tmp_path: Path) -> Iterator[QtApp]:
    xsession.start_atspi()
    log = tmp_path / "qt.jsonl"
    log.touch()
    proc = xsession.spawn("qt-app", [sys.executable, str(QT_APP), str(log)], QT_A11Y_ENV)
    try:
        app = QtApp(proc, log, {}, None)  # type: ignore[arg-type]
        events = app.wait_for(lambda ev: any(e["event"] == "ready" for e in ev), timeout=20)
        app.ready = next(e for e in events if e["event"] == "ready")
        # Wait until the window manager has placed the window (two equal readings).
        previous = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            current = next((w for w in linux_adapter.list_windows() if w.title == "Contop Qt Test"), None)
            if current is not None and previous is not None and current.rect == previous.rect:
                break
            previous = current
            time.sleep(0.1)
        assert current is not None
        wait_until_active(xsession, "Contop Qt Test")
        app.window = current
        yield app
    finally:
        proc.terminate()
        proc.wait(5)


def test_interactive_elements_with_correct_boxes(qt_app: QtApp, linux_adapter: Any) -> None:
    elements = {e.name: e for e in linux_adapter.get_interactive_elements()}
    assert {"Name field", "Press me", "Enable feature"} <= set(elements)
    assert elements["Press me"].role == "push button"
    assert elements["Name field"].role == "text"
    assert elements["Enable feature"].role == "check box"
    for name, widget in (("Name field", "edit"), ("Press me", "button"), ("Enable feature", "check")):
        box = elements[name].box
        assert box is not None
        left, top, width, height = qt_app.absolute(widget)
        assert (box.left, box.top, box.height) == (left, top, height), name
        # Qt gives a check box the extent of its box and label, not of the whole stretched widget.
        assert box.width == width if name != "Enable feature" else 0 < box.width <= width
        # ...and inside the window the X adapter reports.
        assert qt_app.window.rect.contains(box.left, box.top)
    assert "Press" in elements["Press me"].actions
    assert "showing" in elements["Press me"].states


def test_press_a_button_through_the_action_interface(qt_app: QtApp, linux_adapter: Any) -> None:
    result = linux_adapter.interact_element("Press me")
    assert result.found and result.status == "success", result
    qt_app.wait_for(lambda ev: any(e["event"] == "pressed" for e in ev))
    # The app reacted: its label now says so, as seen through accessibility too.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        names = [e.name for e in linux_adapter.get_element_tree()]
        if "pressed 1 times" in names:
            break
        time.sleep(0.1)
    assert "pressed 1 times" in names


def test_set_text_and_toggle(qt_app: QtApp, linux_adapter: Any) -> None:
    result = linux_adapter.interact_element("name field", "set_text", "héllo ✓ 日本語")
    assert result.status == "success", result
    qt_app.wait_for(lambda ev: any(e["event"] == "text" and e["value"] == "héllo ✓ 日本語" for e in ev))
    result = linux_adapter.interact_element("Enable feature", "toggle")
    assert result.status == "success", result
    qt_app.wait_for(lambda ev: any(e["event"] == "toggled" and e["checked"] for e in ev))
    missing = linux_adapter.interact_element("No such thing")
    assert not missing.found and missing.status == "error"


def test_focused_element_and_tree_limits(qt_app: QtApp, linux_adapter: Any) -> None:
    focused = linux_adapter.get_focused_element()
    assert focused is not None and focused.name == "Name field" and "focused" in focused.states
    tree = linux_adapter.get_element_tree(max_depth=0)
    assert len(tree) == 1 and tree[0].depth == 0 and tree[0].name == "Contop Qt Test"
    assert len(linux_adapter.get_element_tree(limit=2)) == 2
    full = linux_adapter.get_element_tree()
    assert max(e.depth for e in full) == 1 and len(full) == 5


def test_without_an_accessibility_bus_says_ocr_is_used(xsession: XSession) -> None:
    from contop.platform.linux.adapter import LinuxAdapter

    for bus in ("", "unix:path=/nonexistent/contop-test-bus"):
        adapter = LinuxAdapter(xsession.display, session_bus=bus)
        try:
            with pytest.raises(NotAvailableError, match="OCR will be used instead"):
                adapter.get_interactive_elements()
            assert adapter.capabilities()["accessibility"] is False
        finally:
            adapter.close()


def test_state_decoding_and_action_choice() -> None:
    assert decode_states([(1 << 12) | (1 << 25), 1 << (41 - 32)]) == ("focused", "showing", "checkable")
    assert pick_press_action(("Toggle", "Press", "Set Focus")) == 1
    assert pick_press_action(("Set Focus",)) == 0
    assert pick_press_action(()) is None
