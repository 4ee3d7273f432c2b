"""execute_accessible by number on a real X session and AT-SPI bus: a number means the element observe_screen (or
get_ui_context) showed under it, even when names repeat or are empty, and never another one after the window
changed."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import ToolError
from contop.platform.base import UIElement
from contop.platform.geometry import Rect
from contop.platform.linux.atspi import same_element, stale_message
from contop.testing.xsession import XSession
from contop.tools.context import ToolContext
from contop.tools.gui import execute_accessible
from contop.tools.screen import get_ui_context, observe_screen
from tests.platform.conftest import wait_until_active
from tests.platform.test_linux_atspi import LoggedApp

from .x11 import desk_env, xctx, xsession  # noqa: F401 - fixtures

pytestmark = pytest.mark.x11

TWINS_APP = Path(__file__).with_name("a11y_twins_app.py")
QT_A11Y_ENV = {"QT_ACCESSIBILITY": "1", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}


Twins = LoggedApp  # the twins app: two unnamed fields, two "OK" buttons


def start_twins(session: XSession, tmp_path: Path, title: str = "Contop Twins") -> Twins:
    session.start_atspi()
    log = tmp_path / f"twins-{time.monotonic_ns()}.jsonl"
    log.touch()
    proc = session.spawn("twins-app", [sys.executable, str(TWINS_APP), str(log), "--title", title], QT_A11Y_ENV)
    app = Twins(proc, log)
    try:
        app.wait_for(lambda ev: any(e["event"] == "ready" for e in ev), timeout=20)
        wait_until_active(session, title)
        time.sleep(0.3)  # the window manager may still move the frame once
    except BaseException:
        proc.kill()
        proc.wait(5)
        raise
    return app


@pytest.fixture
def twins(desk_env: XSession, tmp_path: Path) -> Iterator[Twins]:
    app = start_twins(desk_env, tmp_path)
    try:
        yield app
    finally:
        app.proc.terminate()
        app.proc.wait(5)


def _numbers(elements: list[dict[str, Any]], role: str, label: str) -> list[int]:
    return [e["number"] for e in elements if e["type"] == role and e["label"] == label]


async def test_the_second_of_two_ok_buttons_is_pressed_by_its_number(xctx: ToolContext, twins: Twins) -> None:
    seen = await observe_screen(xctx, "grounding")
    assert seen["element_source"] == "accessibility"
    first_ok, second_ok = _numbers(seen["elements"], "push button", "OK")
    result = await execute_accessible(xctx, f"#{second_ok}")
    assert result["status"] == "success"
    events = twins.wait_for(lambda ev: any(e["event"] == "pressed" for e in ev))
    assert [e["button"] for e in events if e["event"] == "pressed"] == [1]
    await execute_accessible(xctx, str(first_ok))
    events = twins.wait_for(lambda ev: len([e for e in ev if e["event"] == "pressed"]) == 2)
    assert [e["button"] for e in events if e["event"] == "pressed"] == [1, 0]


async def test_unnamed_fields_take_text_by_number(xctx: ToolContext, twins: Twins) -> None:
    seen = await observe_screen(xctx, "understanding")
    first_field, second_field = _numbers(seen["elements"], "text", "")
    result = await execute_accessible(xctx, f"#{second_field}", "set_text", "second ✓")
    assert result["status"] == "success"
    twins.wait_for(lambda ev: any(e["event"] == "text" and e["field"] == 1 and e["value"] == "second ✓" for e in ev))
    typed = await execute_accessible(xctx, f"#{first_field}", "type", "first")
    assert typed["status"] == "success"
    events = twins.wait_for(lambda ev: any(e["event"] == "text" and e["field"] == 0 for e in ev))
    assert [(e["field"], e["value"]) for e in events if e["event"] == "text"] == [(1, "second ✓"), (0, "first")]


async def test_numbers_of_get_ui_context_mean_the_same_elements(xctx: ToolContext, twins: Twins) -> None:
    context = await get_ui_context(xctx)
    second_ok = _numbers(context["elements"], "push button", "OK")[1]
    await execute_accessible(xctx, f"#{second_ok}")
    events = twins.wait_for(lambda ev: any(e["event"] == "pressed" for e in ev))
    assert [e["button"] for e in events if e["event"] == "pressed"] == [1]


async def test_a_number_from_a_window_that_is_gone_is_refused_not_redirected(
    xctx: ToolContext, desk_env: XSession, tmp_path: Path
) -> None:
    old = start_twins(desk_env, tmp_path)
    try:
        seen = await observe_screen(xctx)
        second_ok = _numbers(seen["elements"], "push button", "OK")[1]
    finally:
        old.proc.terminate()
        old.proc.wait(5)
    # The same window again, another process: the same names in the same places, but not the element seen.
    new = start_twins(desk_env, tmp_path)
    try:
        with pytest.raises(ToolError, match=r"observe_screen again"):
            await execute_accessible(xctx, f"#{second_ok}")
        time.sleep(0.3)
        assert not [e for e in new.events() if e["event"] == "pressed"]
    finally:
        new.proc.terminate()
        new.proc.wait(5)


def test_an_element_is_the_same_only_with_its_role_name_and_box() -> None:
    seen = UIElement("push button", "OK", Rect(10, 10, 80, 30), states=("focused",), path="0/1")
    assert same_element(seen, UIElement("push button", "OK", Rect(10, 10, 80, 30), path="0/1"))
    assert not same_element(seen, UIElement("push button", "Cancel", Rect(10, 10, 80, 30)))
    assert not same_element(seen, UIElement("push button", "OK", Rect(10, 50, 80, 30)))
    assert "no longer there" in stale_message(seen, None)
    assert "push button 'Cancel'" in stale_message(seen, UIElement("push button", "Cancel", None))
    assert "moved" in stale_message(seen, UIElement("push button", "OK", Rect(10, 50, 80, 30)))
