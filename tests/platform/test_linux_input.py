"""XTest input on a real Xvfb: events must arrive exactly as asked, at the right native coordinates."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import ToolError
from contop.platform.geometry import Rect, ScreenGeometry
from contop.testing.xsession import XSession

from .conftest import RecorderApp, launch_recorder

pytestmark = pytest.mark.x11


def _buttons(events: list[dict[str, Any]], num: int | None = None) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "button" and (num is None or e["num"] == num)]


def test_click_from_screenshot_space_lands_at_native(xsession: XSession, linux_adapter: Any, tmp_path: Path) -> None:
    # A window whose canvas covers the screen centre.
    app = launch_recorder(xsession, tmp_path, geometry="800x600+560+240")
    try:
        geo = ScreenGeometry.for_monitor(Rect(0, 0, xsession.width, xsession.height))
        assert (geo.shot_width, geo.shot_height) == (1280, 720)
        x, y = geo.to_native(640, 360)
        linux_adapter.click(x, y)
        events = app.wait_for(lambda ev: _buttons(ev, 1))
        hit = _buttons(events, 1)[0]
        assert abs(hit["x"] - 960) <= 1 and abs(hit["y"] - 540) <= 1, hit
        assert hit["widget"] == "canvas"
        assert linux_adapter.cursor_position() == (960, 540)
    finally:
        app.proc.terminate()
        app.proc.wait(5)


def test_rapid_clicks_at_different_places_land_exactly(recorder: RecorderApp, linux_adapter: Any) -> None:
    # openbox grabs button presses to focus on click and replays them a moment later with the pointer position
    # of that moment; the adapter waits a little before moving on after a click so each one lands where asked.
    cx, cy = recorder.center("canvas")
    for i in range(10):
        linux_adapter.click(cx + i * 3, cy)
    events = recorder.wait_for(lambda ev: len(_buttons(ev, 1)) >= 10)
    assert [(e["x"], e["y"]) for e in _buttons(events, 1)] == [(cx + i * 3, cy) for i in range(10)]


def test_click_kinds(recorder: RecorderApp, linux_adapter: Any) -> None:
    cx, cy = recorder.center("canvas")
    linux_adapter.click(cx, cy, "right")
    linux_adapter.click(cx, cy, "middle")
    linux_adapter.click(cx, cy, count=2)
    events = recorder.wait_for(lambda ev: len(_buttons(ev, 1)) >= 2)
    assert [e["num"] for e in _buttons(events)] == [3, 2, 1, 1]
    assert all((e["x"], e["y"]) == (cx, cy) for e in _buttons(events))


def test_button_press_on_named_button(recorder: RecorderApp, linux_adapter: Any) -> None:
    linux_adapter.click(*recorder.center("Beta"))
    recorder.wait_for(lambda ev: any(e["event"] == "pressed" and e["name"] == "Beta" for e in ev))


def test_unicode_text_arrives_intact(recorder: RecorderApp, linux_adapter: Any) -> None:
    text = "héllo wörld — ünïcödé ✓ 日本語"
    linux_adapter.click(*recorder.center("entry"))
    linux_adapter.type_text(text)
    recorder.wait_for(lambda ev: recorder.last_text() == text)


def test_text_with_more_distinct_characters_than_spare_keycodes(recorder: RecorderApp, linux_adapter: Any) -> None:
    # ~40 distinct non-keymap characters: spare keycodes must be recycled safely.
    text = "αβγδεζηθικλμνξοπρστυφχψω АБВГДЕЖЗИЙКЛМНОП"
    linux_adapter.click(*recorder.center("entry"))
    linux_adapter.type_text(text)
    recorder.wait_for(lambda ev: recorder.last_text() == text, timeout=10)


def test_ascii_symbols_and_shifted_characters(recorder: RecorderApp, linux_adapter: Any) -> None:
    text = "Hello, World! 123 ~`@#$%^&*()_+-={}[]|\\:;\"'<>?,./"
    linux_adapter.click(*recorder.center("entry"))
    linux_adapter.type_text(text)
    recorder.wait_for(lambda ev: recorder.last_text() == text)


def _caps_lock(display: str, on: bool | None = None) -> bool:
    """Whether Caps Lock is on; with ``on``, first tap the Caps_Lock key (as the user would) unless it already is."""
    from Xlib import XK, X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    d = xdisplay.Display(display)
    try:
        locked = bool(d.screen().root.query_pointer().mask & X.LockMask)
        if on is not None and on != locked:
            kc = d.keysym_to_keycode(XK.XK_Caps_Lock)
            xtest.fake_input(d, X.KeyPress, kc)
            xtest.fake_input(d, X.KeyRelease, kc)
            d.sync()
            locked = bool(d.screen().root.query_pointer().mask & X.LockMask)
            assert locked == on
        return locked
    finally:
        d.close()


def test_typing_comes_out_as_asked_with_caps_lock_on(
    xsession: XSession, recorder: RecorderApp, linux_adapter: Any
) -> None:
    # With Caps Lock on, "Hello World é" used to arrive as "hELLO wORLD É" (a password typed wrong, silently).
    text = "Hello World é"
    linux_adapter.click(*recorder.center("entry"))
    _caps_lock(xsession.display, True)
    try:
        linux_adapter.type_text(text)
        recorder.wait_for(lambda ev: recorder.last_text() == text)
        assert _caps_lock(xsession.display)  # left as the user had it
    finally:
        _caps_lock(xsession.display, False)
    linux_adapter.type_text(" Ok")  # and nothing changes with it off
    recorder.wait_for(lambda ev: recorder.last_text() == text + " Ok")
    assert not _caps_lock(xsession.display)


def test_ctrl_a_then_typing_replaces(recorder: RecorderApp, linux_adapter: Any) -> None:
    linux_adapter.click(*recorder.center("entry"))
    linux_adapter.type_text("old text")
    recorder.wait_for(lambda ev: recorder.last_text() == "old text")
    linux_adapter.hotkey("ctrl", "a")
    linux_adapter.type_text("new")
    recorder.wait_for(lambda ev: recorder.last_text() == "new")
    keys = [e for e in recorder.events() if e["event"] == "key" and e["keysym"] == "a"]
    assert keys and keys[-1]["state"] & 0x4  # Control held


def test_named_keys(recorder: RecorderApp, linux_adapter: Any) -> None:
    linux_adapter.click(*recorder.center("entry"))
    linux_adapter.type_text("abc")
    for key in ("Return", "esc", "enter", "backspace", "tab", "left", "F5", "pagedown", "shift+tab", "delete"):
        linux_adapter.press_key(key)
    events = recorder.wait_for(lambda ev: any(e["event"] == "key" and e["keysym"] == "Delete" for e in ev))
    keysyms = [e["keysym"] for e in events if e["event"] == "key" and e["keysym"] not in ("Shift_L",)]
    assert keysyms[-10:] == [
        "Return",
        "Escape",
        "Return",
        "BackSpace",
        "Tab",
        "Left",
        "F5",
        "Next",
        "ISO_Left_Tab",
        "Delete",
    ]


def test_unknown_key_is_a_clear_error(linux_adapter: Any) -> None:
    with pytest.raises(ToolError, match="unknown key 'frobnicate'"):
        linux_adapter.press_key("ctrl+frobnicate")
    with pytest.raises(ToolError, match="not a modifier"):
        linux_adapter.press_key("a+b")


def test_scroll_events(recorder: RecorderApp, linux_adapter: Any) -> None:
    cx, cy = recorder.center("canvas")
    linux_adapter.scroll("down", 3, cx, cy)
    linux_adapter.scroll("up", 2, cx, cy)
    linux_adapter.scroll("left", 1, cx, cy)
    linux_adapter.scroll("right", 1, cx, cy)
    events = recorder.wait_for(lambda ev: len(_buttons(ev)) >= 7)
    # Tk 8.6 reports X buttons 6/7 (horizontal wheel) as Shift+4 / Shift+5.
    seen = [e["num"] + 2 if e["num"] in (4, 5) and e["state"] & 0x1 else e["num"] for e in _buttons(events)]
    assert seen == [5, 5, 5, 4, 4, 6, 7]
    assert all((e["x"], e["y"]) == (cx, cy) for e in _buttons(events))


def test_drag(recorder: RecorderApp, linux_adapter: Any) -> None:
    x0, y0 = recorder.center("canvas")
    linux_adapter.drag(x0 - 100, y0, x0 + 100, y0 + 50, steps=5)
    events = recorder.wait_for(lambda ev: any(e["event"] == "release" and e["num"] == 1 for e in ev))
    press = _buttons(events, 1)[0]
    release = next(e for e in events if e["event"] == "release")
    drags = [e for e in events if e["event"] == "drag"]
    assert (press["x"], press["y"]) == (x0 - 100, y0)
    assert (release["x"], release["y"]) == (x0 + 100, y0 + 50)
    # Tk compresses consecutive motion events, so only the last position is certain to be reported.
    assert drags and (drags[-1]["x"], drags[-1]["y"]) == (x0 + 100, y0 + 50)
    assert all(x0 - 100 <= d["x"] <= x0 + 100 for d in drags)


def test_xdotool_fallback(tmp_path: Path) -> None:
    # A session of its own: xdotool remaps a scratch keycode for "ü", and the shared session's XTest adapter
    # may be restoring its own spare keycodes at that very moment (two keymap writers race; in production only
    # one backend is in use).
    from contop.platform.linux.adapter import LinuxAdapter
    from contop.testing.xsession import start_xsession

    session = start_xsession("1024x768x24", dbus=False)
    try:
        recorder = launch_recorder(session, tmp_path)
        adapter = LinuxAdapter(session.display, use_xdotool=True)
        try:
            assert adapter.input_backend == "xdotool"
            adapter.click(*recorder.center("entry"))
            adapter.type_text("xdo ü")
            recorder.wait_for(lambda ev: recorder.last_text() == "xdo ü")
            adapter.press_key("ctrl+a")
            adapter.press_key("BackSpace")
            recorder.wait_for(lambda ev: recorder.last_text() == "")
            assert adapter.cursor_position() == recorder.center("entry")
            _caps_lock(session.display, True)
            adapter.type_text("Caps Off ü")
            recorder.wait_for(lambda ev: recorder.last_text() == "Caps Off ü")
            assert _caps_lock(session.display)
        finally:
            adapter.close()
    finally:
        session.close()


async def test_calls_from_many_threads_are_serialised(xsession: XSession, linux_adapter: Any) -> None:
    """Clicks, window queries and pointer reads from many worker threads at once: every click arrives, exactly.

    On a plain override-redirect window, so the count and positions are checked without a window manager.
    """
    import asyncio

    from Xlib import X, display

    d = display.Display(xsession.display)
    try:
        screen = d.screen()
        win = screen.root.create_window(
            1300,
            600,
            300,
            200,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            event_mask=X.ButtonPressMask,
            override_redirect=True,
        )
        win.map()
        d.sync()
        jobs = []
        for i in range(10):
            jobs.append(asyncio.to_thread(linux_adapter.click, 1400 + i, 700))
            jobs.append(asyncio.to_thread(linux_adapter.list_windows))
            jobs.append(asyncio.to_thread(linux_adapter.cursor_position))
        await asyncio.gather(*jobs)
        presses: list[tuple[int, int]] = []
        deadline = time.monotonic() + 5
        while len(presses) < 10 and time.monotonic() < deadline:
            while d.pending_events():
                ev = d.next_event()
                if ev.type == X.ButtonPress:
                    presses.append((ev.root_x, ev.root_y))
            time.sleep(0.01)
        assert sorted(presses) == [(1400 + i, 700) for i in range(10)]
        win.destroy()
        d.sync()
    finally:
        d.close()
