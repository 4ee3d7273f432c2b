"""Seeing the screen: ``observe_screen`` (screenshot plus numbered UI elements) and ``get_ui_context`` (text only).

Elements come from the accessibility tree first (exact names and boxes, a few milliseconds); when it is not
available or the active window exposes nothing, from OCR of the active window at native resolution. Every box is
given in screenshot pixels, the space ``execute_gui`` takes. The result carries ``fallback: "ocr"`` and a ``note``
when OCR stood in for accessibility, so the agent can tell the user (``agent_status`` ``vision_fallback``).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections import OrderedDict
from typing import Any, Literal

from contop.core.errors import ContopError, NotAvailableError, ToolError
from contop.platform.base import UIElement, WindowInfo
from contop.platform.capture import encode_jpeg
from contop.platform.geometry import CoordinateError, ScreenGeometry
from contop.tools.context import ToolContext
from contop.tools.desktop import Desktop, desktop, run
from contop.tools.files import tool_result

MAX_LISTED = 120  # elements written into stdout; the structured list keeps all
MAX_SESSIONS = 64
ElementSource = Literal["accessibility", "ocr"]

# Per session: the numbered elements the model was shown, and for accessibility elements the UIElement each
# number stands for, so that execute_accessible acts on that very element (names repeat, or are empty).
_last_elements: OrderedDict[str, tuple[list[dict[str, Any]], dict[int, UIElement]]] = OrderedDict()
_elements_lock = threading.Lock()


def _remember(session_id: str, elements: list[dict[str, Any]], targets: dict[int, UIElement] | None = None) -> None:
    with _elements_lock:
        _last_elements.pop(session_id, None)
        _last_elements[session_id] = (elements, targets or {})
        while len(_last_elements) > MAX_SESSIONS:
            _last_elements.popitem(last=False)


def element_by_number(session_id: str, number: int) -> dict[str, Any] | None:
    """Element ``number`` of the session's last observe_screen / get_ui_context."""
    with _elements_lock:
        elements, _ = _last_elements.get(session_id, ([], {}))
    return next((e for e in elements if e["number"] == number), None)


def target_by_number(session_id: str, number: int) -> UIElement | None:
    """The accessibility element behind number ``number`` of the session's last observe_screen / get_ui_context."""
    with _elements_lock:
        _, targets = _last_elements.get(session_id, ([], {}))
    return targets.get(number)


def _element(number: int, label: str, kind: str, box: tuple[int, int, int, int], source: str) -> dict[str, Any]:
    x, y, w, h = box
    return {
        "number": number,
        "label": label,
        "type": kind,
        "box": [x, y, w, h],
        "center": [x + w // 2, y + h // 2],
        "source": source,
    }


def a11y_elements(elements: list[UIElement], geo: ScreenGeometry) -> list[dict[str, Any]]:
    """Accessibility elements with a visible box, numbered from 1, boxes in screenshot pixels."""
    return [entry for entry, _ in numbered_a11y(elements, geo)]


def numbered_a11y(elements: list[UIElement], geo: ScreenGeometry) -> list[tuple[dict[str, Any], UIElement]]:
    """``a11y_elements``, each beside the element it was made from."""
    out: list[tuple[dict[str, Any], UIElement]] = []
    for el in elements:
        if el.box is None or el.box.width <= 0 or el.box.height <= 0:
            continue
        try:
            box = geo.box_to_shot(el.box.left, el.box.top, el.box.width, el.box.height)
        except CoordinateError:  # off this monitor
            continue
        label = el.name or el.description or (el.value or "")
        out.append((_element(len(out) + 1, label, el.role, box, "accessibility"), el))
    return out


def ocr_elements(words: list[Any], origin: tuple[int, int], geo: ScreenGeometry) -> list[dict[str, Any]]:
    """OCR lines found in a native crop whose top-left corner is ``origin``, boxes mapped to screenshot pixels."""
    out: list[dict[str, Any]] = []
    for word in words:
        x, y, w, h = word.box
        try:
            box = geo.box_to_shot(origin[0] + x, origin[1] + y, w, h)
        except CoordinateError:
            continue
        out.append(_element(len(out) + 1, word.text, "text", box, "ocr"))
    return out


def _visible_part(geo: ScreenGeometry, window: WindowInfo | None) -> tuple[int, int, int, int] | None:
    """The part of ``window`` on the captured monitor (native pixels), or None when there is no usable part."""
    m = geo.monitor
    if window is None:
        return None
    x0, y0 = max(window.x, m.left), max(window.y, m.top)
    x1, y1 = min(window.x + window.width, m.right), min(window.y + window.height, m.bottom)
    return (x0, y0, x1 - x0, y1 - y0) if x1 - x0 >= 16 and y1 - y0 >= 16 else None


def _ocr_region(desk: Desktop, geo: ScreenGeometry, window: WindowInfo | None) -> tuple[int, int, int, int]:
    """The active window clipped to the monitor, or the whole monitor when there is no usable window."""
    m = geo.monitor
    return _visible_part(geo, window) or (m.left, m.top, m.width, m.height)


def _window_line(geo: ScreenGeometry, window: WindowInfo | None) -> str:
    """What the model is told of the active window: it may be on a monitor the screenshot does not show."""
    if window is None:
        return "No active window."
    if _visible_part(geo, window) is None:
        return (
            f"Active window: {window.title!r}, which is not on the monitor shown (another monitor, or off screen): "
            "the elements below are not its own; move it here (resize_window) to see and click it."
        )
    return f"Active window: {window.title!r}."


def run_ocr(desk: Desktop, geo: ScreenGeometry, region: tuple[int, int, int, int]) -> list[dict[str, Any]]:
    """Blocking: native pixels of ``region``, OCR, boxes in screenshot pixels."""
    from contop.tools import ocr

    crop = desk.native_region(*region)
    return ocr_elements(ocr.recognize(crop), (region[0], region[1]), geo)


def _listing(elements: list[dict[str, Any]]) -> str:
    lines = [f'#{e["number"]} {e["type"]} "{e["label"]}" box={e["box"]} center={e["center"]}' for e in elements]
    if len(lines) > MAX_LISTED:
        lines = [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more"]
    return "\n".join(lines)


async def _active_window(desk: Desktop) -> WindowInfo | None:
    try:
        window: WindowInfo | None = await run(desk.adapter.active_window)
        return window
    except ToolError:
        return None


async def _a11y(desk: Desktop) -> tuple[list[UIElement] | None, str]:
    """The active window's interactive elements, or None and why accessibility is unavailable."""
    try:
        return await asyncio.to_thread(desk.adapter.get_interactive_elements), ""
    except NotAvailableError as exc:
        return None, str(exc)
    except ContopError as exc:
        return None, str(exc)


async def observe_screen(
    ctx: ToolContext,
    mode: Literal["grounding", "understanding"] = "grounding",
    intent: str | None = None,
) -> dict[str, Any]:
    """Screenshot of the screen (at most 1280 wide) with its UI elements, each numbered with a box in screenshot
    pixels (the coordinates execute_gui takes). grounding: the image has the numbered boxes drawn on it;
    understanding: the plain screenshot. Elements come from the accessibility tree, else from OCR."""
    started = time.monotonic()
    if mode not in ("grounding", "understanding"):
        raise ToolError("mode must be 'grounding' or 'understanding'.")
    desk = await desktop()
    # The capture and the accessibility query are independent: run them side by side.
    capture = asyncio.to_thread(desk.capture_bgra)
    try:
        (image, geo, away), (raw, why) = await asyncio.gather(capture, _a11y(desk))
    except NotAvailableError as exc:
        reason = str(exc)
        if not reason.lower().startswith("cannot capture the screen"):
            reason = f"Cannot capture the screen: {reason}"
        raise ToolError(reason) from exc
    desk.remember(ctx.session_id, geo)
    window = await _active_window(desk)
    notes: list[str] = []
    fallback: str | None = None
    numbered = numbered_a11y(raw, geo) if raw is not None else []
    elements = [entry for entry, _ in numbered]
    targets = {entry["number"]: el for entry, el in numbered}
    source: str = "accessibility"
    if not elements:
        fallback = "ocr"
        source = "ocr"
        no_a11y = (
            f"Accessibility is not available ({why})"
            if raw is None
            else "The active window exposes no accessible elements"
        )
        try:
            elements = await asyncio.to_thread(run_ocr, desk, geo, _ocr_region(desk, geo, window))
            notes.append(f"{no_a11y}; elements were found by OCR instead.")
        except NotAvailableError as exc:
            notes.append(f"{no_a11y}, and OCR is not available either: {exc}. No elements were found.")
            source = "none"
    _remember(ctx.session_id, elements, targets)
    annotated = mode == "grounding" and bool(elements)
    if annotated:
        from contop.tools.annotate import annotate

        shown = await asyncio.to_thread(annotate, image, [(e["number"], tuple(e["box"])) for e in elements])
    else:
        shown = await asyncio.to_thread(encode_jpeg, image)
    if away:
        notes.append("Away Mode is engaged: this is the desktop under the lock screen; keyboard input is refused.")
    header = [
        f"Screenshot {geo.shot_width}x{geo.shot_height} (execute_gui coordinates are in this space); "
        f"the screen is {geo.monitor.width}x{geo.monitor.height}.",
        _window_line(geo, window),
        f"{len(elements)} elements ({source}):",
    ]
    if intent:
        header.insert(0, f"Looking for: {intent}")
    stdout = "\n".join([*header, _listing(elements), *notes])
    extra: dict[str, Any] = {
        "image_b64": base64.b64encode(shown).decode("ascii"),
        "mime_type": "image/jpeg",
        "image_width": geo.shot_width,
        "image_height": geo.shot_height,
        "annotated": annotated,
        "elements": elements,
        "element_source": source,
        "mode": mode,
    }
    if fallback:
        extra["fallback"] = fallback
    if notes:
        extra["note"] = " ".join(notes)
    return tool_result(stdout, started, **extra)


async def get_ui_context(ctx: ToolContext, max_depth: int = 8) -> dict[str, Any]:
    """Text only: the focused window and its accessibility tree (role, name, box in screenshot pixels), numbered
    so execute_accessible can act on an element by number."""
    started = time.monotonic()
    if not 1 <= max_depth <= 30:
        raise ToolError("max_depth must be between 1 and 30.")
    desk = await desktop()
    window = await _active_window(desk)
    geo = await run(desk.geometry_for, ctx.session_id)
    try:
        tree: list[UIElement] = await asyncio.to_thread(desk.adapter.get_element_tree, None, max_depth)
    except ContopError as exc:
        note = f"Accessibility is not available ({exc}); use observe_screen, which falls back to OCR."
        head = f"Active window: {window.title!r}." if window else "No active window."
        return tool_result(f"{head}\n{note}", started, note=note, fallback="ocr", elements=[])
    elements: list[dict[str, Any]] = []
    targets: dict[int, UIElement] = {}
    lines = [f"Active window: {window.title!r}." if window else "No active window."]
    for el in tree:
        box: tuple[int, int, int, int] | None = None
        if el.box is not None and el.box.width > 0 and el.box.height > 0:
            try:
                box = geo.box_to_shot(el.box.left, el.box.top, el.box.width, el.box.height)
            except CoordinateError:
                box = None
        label = el.name or el.description or (el.value or "")
        number = len(elements) + 1
        entry = _element(number, label, el.role, box or (0, 0, 0, 0), "accessibility")
        if box is None:
            entry["box"] = entry["center"] = None
        entry["depth"] = el.depth
        entry["states"] = list(el.states)
        elements.append(entry)
        targets[number] = el
        where = f" box={list(box)}" if box else ""
        lines.append(f'{"  " * el.depth}#{number} {el.role} "{label}"{where}')
    _remember(ctx.session_id, elements, targets)
    return tool_result("\n".join(lines), started, elements=elements)


TOOLS = {"observe_screen": observe_screen, "get_ui_context": get_ui_context}
