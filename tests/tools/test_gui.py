"""execute_gui on a real X server: screenshot coordinates land on the right native pixels; keys, text, scroll, drag."""
# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

from typing import Any

import pytest

from contop.core.errors import ToolError
from contop.platform.geometry import Rect, ScreenGeometry
from contop.tools import desktop as desktop_mod
from contop.tools.context import ToolContext
from contop.tools.gui import execute_accessible, execute_gui
from tests.platform.conftest import linux_adapter  # noqa: F401 - fixtures
from tests.platform.test_linux_atspi import QtApp, customer_text, qt_form  # noqa: F401 - fixtures

from .x11 import RecorderApp, desk_env, recorder, xctx, xsession  # noqa: F401 - fixtures

pytestmark = pytest.mark.x11

SCREEN = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))  # what the tools use: 1280x720


def shot_of(x: int, y: int) -> tuple[int, int]:
    return SCREEN.to_shot(x, y)


def buttons(events: list[dict[str, Any]], num: int = 1) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "button" and e["num"] == num]


async def test_click_lands_on_the_native_pixel_of_the_screenshot_point(
    xctx: ToolContext, recorder: RecorderApp
) -> None:
    assert (SCREEN.shot_width, SCREEN.shot_height) == (1280, 720)
    cx, cy = recorder.center("canvas")
    sx, sy = shot_of(cx + 7, cy + 5)
    result = await execute_gui(xctx, "click", x=sx, y=sy)
    assert result["status"] == "success"
    events = recorder.wait_for(lambda ev: buttons(ev))
    hit = buttons(events)[-1]
    assert (hit["x"], hit["y"]) == SCREEN.to_native(sx, sy)
    assert abs(hit["x"] - (cx + 7)) <= 1 and abs(hit["y"] - (cy + 5)) <= 1
    assert hit["widget"] == "canvas"

    await execute_gui(xctx, "right_click", x=sx, y=sy)
    recorder.wait_for(lambda ev: buttons(ev, 3))
    await execute_gui(xctx, "double_click", x=sx, y=sy)
    recorder.wait_for(lambda ev: len(buttons(ev)) >= 3)


async def test_unicode_text_and_hotkeys_reach_the_focused_field(xctx: ToolContext, recorder: RecorderApp) -> None:
    ex, ey = recorder.center("entry")
    await execute_gui(xctx, "click", x=shot_of(ex, ey)[0], y=shot_of(ex, ey)[1])
    text = "héllo ✓ 日本 — Ünïcode"
    await execute_gui(xctx, "type", text=text)
    recorder.wait_for(lambda ev: recorder.last_text() == text)
    await execute_gui(xctx, "hotkey", key="ctrl+a")
    recorder.wait_for(lambda ev: any(e["event"] == "key" and e["keysym"] == "a" and e["state"] & 4 for e in ev))
    await execute_gui(xctx, "press_key", key="BackSpace")
    recorder.wait_for(lambda ev: recorder.last_text() == "")


async def test_scroll_and_drag(xctx: ToolContext, recorder: RecorderApp) -> None:
    cx, cy = recorder.center("canvas")
    sx, sy = shot_of(cx, cy)
    await execute_gui(xctx, "scroll", x=sx, y=sy, direction="down", clicks=3)
    events = recorder.wait_for(lambda ev: len(buttons(ev, 5)) >= 3)
    assert all(abs(e["x"] - cx) <= 1 for e in buttons(events, 5))
    await execute_gui(xctx, "scroll", direction="up", clicks=2)
    recorder.wait_for(lambda ev: len(buttons(ev, 4)) >= 2)

    ex, ey = shot_of(cx + 60, cy + 30)
    await execute_gui(xctx, "drag", x=sx, y=sy, end_x=ex, end_y=ey)
    events = recorder.wait_for(lambda ev: any(e["event"] == "release" and e["num"] == 1 for e in ev))
    assert any(e["event"] == "drag" for e in events)
    release = [e for e in events if e["event"] == "release" and e["num"] == 1][-1]
    assert (release["x"], release["y"]) == SCREEN.to_native(ex, ey)


async def test_move_mouse_and_bad_input(xctx: ToolContext, recorder: RecorderApp) -> None:
    await execute_gui(xctx, "move_mouse", x=640, y=360)
    desk = await desktop_mod.desktop()
    assert desk.adapter.cursor_position() == SCREEN.to_native(640, 360)
    with pytest.raises(ToolError, match="outside the screenshot"):
        await execute_gui(xctx, "click", x=1280, y=10)
    with pytest.raises(ToolError, match="outside the screenshot"):
        await execute_gui(xctx, "click", x=-1, y=10)
    with pytest.raises(ToolError, match="needs both x and y"):
        await execute_gui(xctx, "click", x=10)
    with pytest.raises(ToolError, match="Unknown action"):
        await execute_gui(xctx, "teleport", x=1, y=1)  # type: ignore[arg-type]
    with pytest.raises(ToolError, match="non-empty text"):
        await execute_gui(xctx, "type", text="")
    with pytest.raises(ToolError):
        await execute_gui(xctx, "press_key", key="ctrl+nosuchkey")
    with pytest.raises(ToolError, match="direction"):
        await execute_gui(xctx, "scroll", direction="sideways")  # type: ignore[arg-type]


async def test_keyboard_is_refused_in_away_mode_but_the_pointer_works(
    xctx: ToolContext, recorder: RecorderApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desktop_mod.Desktop, "away_overlay_active", lambda self: True)
    with pytest.raises(ToolError, match="Away Mode"):
        await execute_gui(xctx, "type", text="1234")
    with pytest.raises(ToolError, match="Away Mode"):
        await execute_gui(xctx, "press_key", key="enter")
    cx, cy = recorder.center("canvas")
    await execute_gui(xctx, "click", x=shot_of(cx, cy)[0], y=shot_of(cx, cy)[1])
    recorder.wait_for(lambda ev: buttons(ev))


async def test_accessible_text_goes_into_the_field_not_the_label_of_the_same_name(
    xctx: ToolContext, qt_form: QtApp
) -> None:
    result = await execute_accessible(xctx, "Customer name", "set_text", "Ada")
    assert result["status"] == "success" and "text 'Customer name'" in result["stdout"]
    qt_form.wait_for(lambda ev: customer_text(qt_form) == "Ada")
    typed = await execute_accessible(xctx, "Customer name", "type", "Lovelace")
    assert typed["status"] == "success"
    qt_form.wait_for(lambda ev: customer_text(qt_form) == "Lovelace")
    # Text that changes nothing is an error naming what the name matched, not "text set".
    with pytest.raises(ToolError, match=r"label 'pressed 0 times' had no effect.*\(read-only\)"):
        await execute_accessible(xctx, "pressed 0 times", "set_text", "Ada")
    with pytest.raises(ToolError, match=r"label 'Customer name' had no effect"):
        await execute_accessible(xctx, "Customer name", "set_text", "Ada", role="label")
    assert customer_text(qt_form) == "Lovelace"


async def test_no_display_is_a_clear_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    desktop_mod.forget_desktop(None)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    ctx = ToolContext(session_id="s", state_dir=tmp_path, home=str(tmp_path), cwd=str(tmp_path))
    with pytest.raises(ToolError, match=r"No desktop available.*DISPLAY"):
        await execute_gui(ctx, "click", x=1, y=1)
    from contop.tools.screen import observe_screen
    from contop.tools.windows import clipboard_read, window_list

    for call in (observe_screen(ctx), window_list(ctx), clipboard_read(ctx)):
        with pytest.raises(ToolError, match="No desktop available"):
            await call
