"""Window and clipboard tools: list, focus and resize windows; read and write the clipboard text.

Window positions are given in screenshot pixels, like every coordinate the model sees or gives elsewhere, with
the native pixels beside them (``native``) because ``resize_window`` works in those.
"""

from __future__ import annotations

import json
import time
from typing import Any

from contop.core.errors import ToolError
from contop.platform.base import WindowInfo
from contop.platform.geometry import CoordinateError, ScreenGeometry
from contop.tools.context import ToolContext
from contop.tools.desktop import desktop, run
from contop.tools.files import tool_result

MAX_CLIPBOARD_CHARS = 1_000_000
MIN_WINDOW_SIDE = 50


def window_row(w: WindowInfo, geo: ScreenGeometry) -> dict[str, Any]:
    """A window as the tools report it (pure): ``x, y, width, height`` are the part of it on the screenshot, in
    screenshot pixels (all None when it is off the screenshot's monitor), ``native`` its whole client area in
    native screen pixels. A minimized window, or one on another virtual desktop, is not drawn where it would be,
    so it is not on the screenshot either."""
    box: tuple[int | None, ...] = (None, None, None, None)
    if w.shown:
        try:
            box = geo.box_to_shot(w.x, w.y, w.width, w.height)
        except CoordinateError:
            pass
    return {
        "id": w.id,
        "title": w.title,
        "process_name": w.process_name or w.wm_class,
        "pid": w.pid,
        **dict(zip(("x", "y", "width", "height"), box, strict=True)),
        "on_screenshot": box[0] is not None,
        "native": {"x": w.x, "y": w.y, "width": w.width, "height": w.height},
        "focused": w.focused,
        "minimized": w.minimized,
        "on_other_desktop": w.on_other_desktop,
    }


def pick_window(windows: list[WindowInfo], title: str) -> WindowInfo:
    """The one window a title query means: an exact title, else the only prefix match, else the only substring
    match (case-insensitive). None or several at the first level that matches anything is an error naming them."""
    q = title.strip().casefold()
    if not q:
        raise ToolError("A window title is required.")
    for test in (lambda t: t == q, lambda t: t.startswith(q), lambda t: q in t):
        hits = [w for w in windows if test(w.title.casefold())]
        if len(hits) == 1 or (hits and len({w.title for w in hits}) == 1):
            return hits[0]
        if hits:
            names = ", ".join(repr(w.title) for w in hits[:10])
            raise ToolError(f"{len(hits)} windows match {title!r}: {names}. Give more of the title.")
    names = ", ".join(repr(w.title) for w in windows[:15] if w.title) or "none"
    raise ToolError(f"No window title contains {title!r}. Open windows: {names}.")


async def window_list(ctx: ToolContext) -> dict[str, Any]:
    """List the open windows: title, process name, position and size, and which one has the focus.

    x, y, width and height are screenshot pixels (as observe_screen and execute_gui use), clipped to the
    screenshot; null for a window off it. "native" has the real position and size in screen pixels, the unit
    resize_window takes. Minimized windows ("minimized": true) and windows on another virtual desktop
    ("on_other_desktop": true) are listed but not on the screenshot; window_focus brings them back.
    """
    started = time.monotonic()
    desk = await desktop()
    windows = await run(desk.adapter.list_windows)
    geo = await run(desk.geometry_for, ctx.session_id)
    rows = [window_row(w, geo) for w in windows]
    return tool_result(json.dumps(rows, ensure_ascii=False), started, windows=rows)


async def window_focus(ctx: ToolContext, title: str) -> dict[str, Any]:
    """Bring the window whose title matches (exact, prefix or part of it; case-insensitive) to the front."""
    started = time.monotonic()
    desk = await desktop()
    target = pick_window(await run(desk.adapter.list_windows), title)
    info = await run(desk.adapter.focus_window, target.title)
    geo = await run(desk.geometry_for, ctx.session_id)
    return tool_result(f"Focused {info.title!r}.", started, window=window_row(info, geo))


async def resize_window(
    ctx: ToolContext, width: int, height: int, x: int | None = None, y: int | None = None
) -> dict[str, Any]:
    """Resize (and optionally move) the active window. Sizes and positions are native screen pixels (the
    "native" values of window_list), not screenshot pixels."""
    started = time.monotonic()
    if width < MIN_WINDOW_SIDE or height < MIN_WINDOW_SIDE:
        raise ToolError(f"width and height must be at least {MIN_WINDOW_SIDE} pixels.")
    desk = await desktop()
    screen = await run(desk.capturer.monitor_rect, 0)
    if width > screen.width or height > screen.height:
        raise ToolError(f"{width}x{height} is larger than the screen ({screen.width}x{screen.height}).")
    if (x is not None and not screen.left <= x < screen.right) or (
        y is not None and not screen.top <= y < screen.bottom
    ):
        raise ToolError(f"({x}, {y}) is off the screen ({screen.width}x{screen.height}).")
    if (x is not None and x + width > screen.right) or (y is not None and y + height > screen.bottom):
        # a window left mostly off the screen can be neither seen nor clicked
        raise ToolError(
            f"a {width}x{height} window at ({x}, {y}) would reach past the screen's edge ({screen.right}, "
            f"{screen.bottom}); move it left or up, or make it smaller."
        )
    info = await run(desk.adapter.move_resize_window, width, height, x, y)
    geo = await run(desk.geometry_for, ctx.session_id)
    return tool_result(
        f"Resized {info.title!r} to {info.width}x{info.height} at ({info.x}, {info.y}) (native pixels).",
        started,
        window=window_row(info, geo),
    )


async def clipboard_read(ctx: ToolContext) -> dict[str, Any]:
    """The clipboard's current text."""
    started = time.monotonic()
    desk = await desktop()
    text = await run(desk.adapter.clipboard_read)
    return tool_result(text, started)


async def clipboard_write(ctx: ToolContext, text: str) -> dict[str, Any]:
    """Put text on the clipboard."""
    started = time.monotonic()
    if len(text) > MAX_CLIPBOARD_CHARS:
        raise ToolError(f"text is too long for the clipboard tool ({len(text)} characters).")
    desk = await desktop()
    await run(desk.adapter.clipboard_write, text)
    return tool_result(f"Wrote {len(text)} characters to the clipboard.", started)


TOOLS = {
    "window_list": window_list,
    "window_focus": window_focus,
    "resize_window": resize_window,
    "clipboard_read": clipboard_read,
    "clipboard_write": clipboard_write,
}
