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
from contop.platform.base import UIElement, WindowInfo
from contop.platform.linux.atspi import (
    decode_states,
    describe_matches,
    is_editable,
    match_rank,
    pick_press_action,
    set_text_problem,
)
from contop.testing.xsession import XSession

from .conftest import wait_until_active

pytestmark = pytest.mark.x11

QT_APP = Path(__file__).with_name("qt_app.py")
QT_A11Y_ENV = {"QT_ACCESSIBILITY": "1", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}


@dataclass
class LoggedApp:
    """A test app process that writes what happens to it (one JSON object per line) to ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").split("\n")[:-1] if line.strip()]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; events: {self.events()[-10:]}")
            time.sleep(0.02)
        return self.events()


@dataclass
class QtApp(LoggedApp):
    ready: dict[str, Any]
    window: WindowInfo

    def absolute(self, widget: str) -> tuple[int, int, int, int]:
        x, y, w, h = self.ready[widget]
        return self.window.x + x, self.window.y + y, w, h


def run_qt_app(
    xsession: XSession, linux_adapter: Any, tmp_path: Path, title: str = "Contop Qt Test", *extra: str
) -> Iterator[QtApp]:
    """Body of a fixture: qt_app.py running with ``title`` (and ``extra`` arguments), placed and active."""
    xsession.start_atspi()
    log = tmp_path / "qt.jsonl"
    log.touch()
    proc = xsession.spawn("qt-app", [sys.executable, str(QT_APP), str(log), "--title", title, *extra], QT_A11Y_ENV)
    try:
        app = QtApp(proc, log, {}, None)  # type: ignore[arg-type]
        events = app.wait_for(lambda ev: any(e["event"] == "ready" for e in ev), timeout=20)
        app.ready = next(e for e in events if e["event"] == "ready")
        # Wait until the window manager has placed the window (two equal readings).
        previous = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            current = next((w for w in linux_adapter.list_windows() if w.title == title), None)
            if current is not None and previous is not None and current.rect == previous.rect:
                break
            previous = current
            time.sleep(0.1)
        assert current is not None
        wait_until_active(xsession, title)
        app.window = current
        yield app
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def qt_app(xsession: XSession, linux_adapter: Any, tmp_path: Path) -> Iterator[QtApp]:
    yield from run_qt_app(xsession, linux_adapter, tmp_path)


@pytest.fixture
def qt_form(xsession: XSession, linux_adapter: Any, tmp_path: Path) -> Iterator[QtApp]:
    """The Qt app with a label and a line edit both named "Customer name" on top."""
    yield from run_qt_app(xsession, linux_adapter, tmp_path, "Contop Qt Form", "--customer-form")


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


def customer_text(app: QtApp) -> str | None:
    texts = [e["value"] for e in app.events() if e["event"] == "text" and e.get("field") == "Customer name"]
    return texts[-1] if texts else None


def test_set_text_prefers_the_editable_element_of_a_shared_name(qt_form: QtApp, linux_adapter: Any) -> None:
    # The read-only label comes first in the tree; setting its text "worked" while the field stayed empty.
    result = linux_adapter.interact_element("Customer name", "set_text", "Ada")
    assert result.status == "success", result
    assert result.element.role == "text" and "text set in text 'Customer name'" in result.message
    qt_form.wait_for(lambda ev: customer_text(qt_form) == "Ada")
    assert [e.value for e in linux_adapter.get_element_tree() if e.role == "text" and e.name == "Customer name"] == [
        "Ada"
    ]
    # A partial name still prefers the field.
    assert linux_adapter.interact_element("customer", "set_text", "Grace").element.role == "text"
    qt_form.wait_for(lambda ev: customer_text(qt_form) == "Grace")


def test_set_text_that_changes_nothing_is_an_error_naming_what_was_found(qt_form: QtApp, linux_adapter: Any) -> None:
    on_label = linux_adapter.interact_element("Customer name", "set_text", "Ada", role="label")
    assert on_label.found and on_label.status == "error", on_label
    assert "setting the text of label 'Customer name' had no effect" in on_label.message
    assert "label 'Customer name' (read-only)" in on_label.message
    pressed_label = linux_adapter.interact_element("pressed 0 times", "set_text", "Ada")
    assert pressed_label.status == "error" and "label 'pressed 0 times' (read-only)" in pressed_label.message
    assert customer_text(qt_form) is None
    # Setting the text a field already has is no failure.
    assert linux_adapter.interact_element("Customer name", "set_text", "Ada").status == "success"
    qt_form.wait_for(lambda ev: customer_text(qt_form) == "Ada")
    assert linux_adapter.interact_element("Customer name", "set_text", "Ada").status == "success"


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


def test_editable_choice_and_set_text_verdicts() -> None:
    label = UIElement("label", "Customer name", None, ("showing", "read-only"))
    field = UIElement("text", "Customer name", None, ("editable", "showing"))
    locked = UIElement("text", "Customer name", None, ("showing", "read-only"))
    assert [is_editable(e) for e in (label, field, locked)] == [False, True, False]
    assert match_rank(field, False, True) < match_rank(label, True, True)  # any field beats an exact label
    assert match_rank(label, True, False) < match_rank(field, False, False)  # for a click, the exact name wins
    assert set_text_problem("Ada", "", "Ada", "text") is None
    assert set_text_problem("Ada", "Ada", "Ada", "text") is None
    assert set_text_problem("abc", "", "\u25cf" * 3, "password text") is None
    assert set_text_problem("12345", "", "123", "text") is None  # a field that shortens or reformats
    assert set_text_problem("Ada", "", "", "text") == "its text did not change (it reads '')"
    assert "cannot be read back" in str(set_text_problem("Ada", None, None, "label"))
    assert describe_matches([label, field]) == ("label 'Customer name' (read-only), text 'Customer name' (editable)")


def test_state_decoding_and_action_choice() -> None:
    assert decode_states([(1 << 12) | (1 << 25), 1 << (41 - 32)]) == ("focused", "showing", "checkable")
    assert pick_press_action(("Toggle", "Press", "Set Focus")) == 1
    assert pick_press_action(("Set Focus",)) == 0
    assert pick_press_action(()) is None
