"""GUI automation tools: ``execute_gui`` (mouse and keyboard in screenshot coordinates), ``execute_accessible`` and
``maximize_active_window``.

Coordinates the model gives are pixels of the last screenshot it saw of this session (``observe_screen``), mapped
exactly to native pixels with that screenshot's geometry; without one, a fresh geometry of the primary monitor
(1280 wide) is used, which is what ``observe_screen`` would produce.
"""

from __future__ import annotations

import time
from typing import Any, Literal, get_args

from contop.core.errors import ToolError
from contop.platform.keys import parse_combo
from contop.tools.context import ToolContext
from contop.tools.desktop import Desktop, desktop, run
from contop.tools.files import tool_result

GuiAction = Literal[
    "click", "double_click", "right_click", "type", "scroll", "hotkey", "press_key", "move_mouse", "drag"
]
GUI_ACTIONS: tuple[str, ...] = get_args(GuiAction)
KEYBOARD_ACTIONS = frozenset({"type", "hotkey", "press_key"})
SCROLL_DIRECTIONS = ("up", "down", "left", "right")
MAX_SCROLL_CLICKS = 50
MAX_TYPE_CHARS = 10_000

AWAY_REFUSAL = (
    "Away Mode is engaged: the desktop is locked behind the lock screen, so keyboard input would be typed into its "
    "PIN field. Keyboard actions are refused until the user unlocks; pointer actions still work."
)


def _require_point(x: int | None, y: int | None, action: str) -> tuple[int, int]:
    if x is None or y is None:
        raise ToolError(f"{action} needs both x and y (screenshot pixels).")
    return int(x), int(y)


def _check_keys(key: str | None, action: str) -> str:
    if key is None or not key.strip():
        raise ToolError(f"{action} needs a key, e.g. 'enter' or 'ctrl+c'.")
    parse_combo(key)  # raises ToolError naming an unknown key before anything is pressed
    return key.strip()


async def execute_gui(
    ctx: ToolContext,
    action: GuiAction,
    x: int | None = None,
    y: int | None = None,
    text: str | None = None,
    key: str | None = None,
    direction: Literal["up", "down", "left", "right"] | None = None,
    clicks: int = 5,
    end_x: int | None = None,
    end_y: int | None = None,
) -> dict[str, Any]:
    """Mouse and keyboard on the desktop. Coordinates are pixels of the latest screenshot (observe_screen).

    Actions: click, double_click, right_click, move_mouse (x, y); drag (x, y to end_x, end_y); scroll (direction
    up/down/left/right, clicks, optional x/y to scroll over); type (text, any Unicode); press_key (key, e.g.
    "enter", "ctrl+c"); hotkey (key as a "+"-joined combination, e.g. "ctrl+shift+t").
    """
    started = time.monotonic()
    if action not in GUI_ACTIONS:
        raise ToolError(f"Unknown action {action!r}; use one of: {', '.join(GUI_ACTIONS)}.")
    desk = await desktop()
    if action in KEYBOARD_ACTIONS and await run(desk.away_overlay_active):
        raise ToolError(AWAY_REFUSAL)
    summary = await _perform(ctx, desk, action, x, y, text, key, direction, clicks, end_x, end_y)
    return tool_result(summary, started, action=action)


async def _perform(
    ctx: ToolContext,
    desk: Desktop,
    action: str,
    x: int | None,
    y: int | None,
    text: str | None,
    key: str | None,
    direction: str | None,
    clicks: int,
    end_x: int | None,
    end_y: int | None,
) -> str:
    adapter = desk.adapter

    async def native(px: int, py: int) -> tuple[int, int]:
        geo = await run(desk.geometry_for, ctx.session_id)
        result: tuple[int, int] = geo.to_native(px, py)  # CoordinateError (a ToolError) when off the screenshot
        return result

    if action in ("click", "double_click", "right_click", "move_mouse"):
        sx, sy = _require_point(x, y, action)
        nx, ny = await native(sx, sy)
        if action == "move_mouse":
            await run(adapter.move_mouse, nx, ny)
            return f"Moved the mouse to ({sx}, {sy})."
        button = "right" if action == "right_click" else "left"
        count = 2 if action == "double_click" else 1
        await run(adapter.click, nx, ny, button, count)
        return f"{action.replace('_', ' ').capitalize()} at ({sx}, {sy})."
    if action == "drag":
        sx, sy = _require_point(x, y, action)
        if end_x is None or end_y is None:
            raise ToolError("drag needs x, y (start) and end_x, end_y (end), in screenshot pixels.")
        n0 = await native(sx, sy)
        n1 = await native(int(end_x), int(end_y))
        await run(adapter.drag, n0[0], n0[1], n1[0], n1[1])
        return f"Dragged from ({sx}, {sy}) to ({end_x}, {end_y})."
    if action == "scroll":
        if direction not in SCROLL_DIRECTIONS:
            raise ToolError(f"scroll needs direction, one of: {', '.join(SCROLL_DIRECTIONS)}.")
        if not 1 <= int(clicks) <= MAX_SCROLL_CLICKS:
            raise ToolError(f"clicks must be between 1 and {MAX_SCROLL_CLICKS}.")
        if (x is None) != (y is None):
            raise ToolError("scroll takes both x and y, or neither (scroll where the pointer is).")
        where = ""
        over: tuple[int, int] | tuple[None, None] = (None, None)
        if x is not None and y is not None:
            over = await native(int(x), int(y))
            where = f" at ({x}, {y})"
        await run(adapter.scroll, direction, int(clicks), *over)
        return f"Scrolled {direction} {clicks} click{'' if int(clicks) == 1 else 's'}{where}."
    if action == "type":
        if not text:
            raise ToolError("type needs non-empty text.")
        if len(text) > MAX_TYPE_CHARS:
            raise ToolError(f"text is too long to type ({len(text)} characters; at most {MAX_TYPE_CHARS}).")
        await run(adapter.type_text, text)
        return f"Typed {len(text)} characters."
    combo = _check_keys(key if key is not None else text, action)
    await run(adapter.press_key, combo)
    return f"Pressed {combo}."


async def execute_accessible(
    ctx: ToolContext,
    element_name: str,
    action: Literal["invoke", "click", "set_text", "type", "toggle", "select", "focus"] = "invoke",
    value: str | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """Act on a UI element through the accessibility tree: by its name, or by its number from observe_screen /
    get_ui_context ("#3" or "3"). Actions: invoke (press), set_text/type (value), toggle, select, focus."""
    started = time.monotonic()
    if not element_name or not element_name.strip():
        raise ToolError("element_name is required (an element's name, or its number from observe_screen).")
    desk = await desktop()
    if action in ("set_text", "type") and await run(desk.away_overlay_active):
        raise ToolError(AWAY_REFUSAL)
    if action in ("set_text", "type") and value is None:
        raise ToolError(f"{action} needs a value.")
    name = element_name.strip()
    number = name.lstrip("#")
    adapter_action = "set_text" if action == "type" else action
    if number.isdigit():
        # A number means the element observe_screen showed under it, not whatever first carries its name: two
        # "OK" buttons, or unnamed text fields, are told apart only by where they are in the tree.
        from contop.tools.screen import element_by_number, target_by_number

        element = element_by_number(ctx.session_id, int(number))
        if element is None:
            raise ToolError(
                f"No element #{number} in this session's last observe_screen/get_ui_context; look again first."
            )
        target = target_by_number(ctx.session_id, int(number))
        if element.get("source") != "accessibility" or target is None:
            raise ToolError(
                f"Element #{number} ({element['label']!r}) was found by OCR, not the accessibility tree; "
                f"click it with execute_gui at its centre {element['center']}."
            )
        name = f"#{number}"
        result = await run(desk.adapter.interact_exact, target, adapter_action, value)
        if not result.found:
            raise ToolError(f"Element #{number}: {result.message}")
    else:
        result = await run(desk.adapter.interact_element, name, adapter_action, value, role)
    if not result.found:
        raise ToolError(result.message or f"No accessible element named {name!r} in the active window.")
    if result.status != "success":
        raise ToolError(result.message or f"{action} on {name!r} failed.")
    return tool_result(result.message or f"{action} on {name!r} done.", started)


async def maximize_active_window(ctx: ToolContext) -> dict[str, Any]:
    """Maximize the window that has the focus."""
    started = time.monotonic()
    desk = await desktop()
    window = await run(desk.adapter.active_window)
    if window is None:
        raise ToolError("No window has the focus, so there is nothing to maximize.")
    await run(desk.adapter.maximize_window, window.id)
    return tool_result(f"Maximized {window.title!r}.", started)


TOOLS = {
    "execute_gui": execute_gui,
    "execute_accessible": execute_accessible,
    "maximize_active_window": maximize_active_window,
}
