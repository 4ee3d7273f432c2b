"""The pure parts of the macOS adapter (the pyobjc parts need a Mac)."""

from __future__ import annotations

import pytest

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.keys import parse_combo
from contop.platform.macos.keys import (
    FLAG_COMMAND,
    FLAG_CONTROL,
    FLAG_OPTION,
    FLAG_SHIFT,
    KEY_RETURN,
    KEY_TAB,
    applescript_string,
    cocoa_frame_to_quartz,
    combo_keycodes,
    layout_table,
    move_resize_script,
    parse_hid_idle,
    pick_ax_window,
    pixels_to_points,
    points_to_pixels,
    raise_window_script,
    text_events,
    unicode_chunks,
    utf16_units,
    wait_for_focus,
    windows_from_cg,
)


def test_key_codes() -> None:
    assert combo_keycodes(parse_combo("cmd+c")) == (0x08, FLAG_COMMAND)
    assert combo_keycodes(parse_combo("ctrl+alt+delete")) == (0x75, FLAG_CONTROL | FLAG_OPTION)
    assert combo_keycodes(parse_combo("enter")) == (0x24, 0)
    assert combo_keycodes(parse_combo("backspace")) == (0x33, 0)
    assert combo_keycodes(parse_combo("cmd+shift+t")) == (0x11, FLAG_COMMAND | FLAG_SHIFT)
    assert combo_keycodes(parse_combo("?")) == (0x2C, FLAG_SHIFT)
    assert combo_keycodes(parse_combo("A")) == (0x00, FLAG_SHIFT)
    with pytest.raises(ToolError, match="unknown key"):
        combo_keycodes(parse_combo("f24"))


def azerty(code: int, shifted: bool) -> str:
    """A few keys of French AZERTY as UCKeyTranslate gives them (key codes are US ANSI positions)."""
    keys = {0x0C: ("a", "A"), 0x00: ("q", "Q"), 0x0D: ("z", "Z"), 0x12: ("&", "1"), 0x08: ("c", "C")}
    keys |= {0x24: ("\r", "\r"), 0x31: (" ", " "), 0x53: ("1", "1"), 0x7A: ("\uf704", "\uf704")}
    return keys.get(code, ("", ""))[shifted]


def test_layout_table_follows_the_active_layout() -> None:
    table = layout_table(azerty)
    assert table["a"] == (0x0C, 0) and table["A"] == (0x0C, FLAG_SHIFT)
    assert table["1"] == (0x12, FLAG_SHIFT)  # the main row, shifted; not the keypad's unshifted 1 (0x53)
    assert "\r" not in table and " " not in table and "\uf704" not in table  # Return, Space, F1
    assert combo_keycodes(parse_combo("cmd+a"), table) == (0x0C, FLAG_COMMAND)  # not 0x00, Q on AZERTY
    assert combo_keycodes(parse_combo("cmd+q"), table) == (0x00, FLAG_COMMAND)
    assert combo_keycodes(parse_combo("A"), table) == (0x0C, FLAG_SHIFT)
    assert combo_keycodes(parse_combo("cmd+1"), table) == (0x12, FLAG_COMMAND | FLAG_SHIFT)
    # Not on the layout (Cmd+W on this partial one; Cmd+C on a Cyrillic layout): the US position, as macOS does.
    assert combo_keycodes(parse_combo("cmd+w"), table) == (0x0D, FLAG_COMMAND)
    assert combo_keycodes(parse_combo("enter"), table) == (0x24, 0)


def test_retina_conversion_round_trips() -> None:
    assert pixels_to_points(2880, 1800, 2.0) == (1440.0, 900.0)
    for x in range(0, 3000, 7):
        assert points_to_pixels(*pixels_to_points(x, x, 2.0), 2.0) == (x, x)
        assert points_to_pixels(*pixels_to_points(x, x, 1.0), 1.0) == (x, x)


def test_applescript_building() -> None:
    assert applescript_string('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    script = move_resize_script(10, 20, 800, 600, pid=300, title='Evil" doc', bounds=(5, 25, 640, 480))
    # The window asked for, of the process asked for: not "window 1" of whichever app is in front.
    assert "tell (first process whose unix id is 300)" in script
    assert "frontmost" not in script and "window 1" not in script
    assert 'if (position of c) is {5, 25} and (size of c) is {640, 480} and name of c is "Evil\\" doc" then' in script
    assert 'set w to first window whose name is "Evil\\" doc"' in script
    assert "set position of w to {10, 20}" in script and "set size of w to {800, 600}" in script
    assert script.count("end tell") == 2 and script.count("end if") == 2
    partial = move_resize_script(None, None, 800, None, pid=7, title="", bounds=(0, 0, 10, 10))
    assert "name" not in partial  # no title (no Screen Recording permission): by bounds only
    assert 'if w is missing value then error "the window is no longer there"' in partial
    assert "set size of w to {800, item 2 of s}" in partial and "set position" not in partial
    raise_script = raise_window_script(300, "Start Page")
    assert "tell (first process whose unix id is 300)" in raise_script
    assert 'perform action "AXRaise" of (first window whose name is "Start Page")' in raise_script


def test_native_coordinates_are_quartz_points() -> None:
    # mss measures monitors with CGDisplayBounds (points): window bounds are not scaled again.
    entries = [{"kCGWindowNumber": 1, "kCGWindowBounds": {"X": 10, "Y": 25, "Width": 800, "Height": 600}}]
    w = windows_from_cg(entries, front_pid=None)[0]
    assert (w.x, w.y, w.width, w.height) == (10, 25, 800, 600)
    # Cocoa frames flip against the primary screen: a 1440x900 primary, a 1920x1080 screen to its right whose
    # bottom is 100 points below the primary's; its visible frame has a 25-point menu bar.
    assert cocoa_frame_to_quartz(1440, -100, 1920, 1055, 900) == (1440, -55, 1920, 1055)
    assert cocoa_frame_to_quartz(0, 70, 1440, 805, 900) == (0, 25, 1440, 805)  # primary, Dock 70 at the bottom


def test_text_is_cut_between_whole_characters() -> None:
    text = "a" * 19 + "😀" + "b"
    chunks = unicode_chunks(text)
    assert chunks == ["a" * 19, "😀b"]  # the emoji's surrogate pair stays together
    for chunk in unicode_chunks("😀" * 25 + "é" * 7):
        chunk.encode("utf-16-le")  # never half a pair
        assert utf16_units(chunk) <= 20
    assert "".join(unicode_chunks("😀" * 25)) == "😀" * 25
    assert utf16_units("a😀") == 3


def test_line_breaks_and_tabs_press_return_and_tab() -> None:
    assert text_events("one\ntwo\r\nthree\rfour\tfive") == [
        "one",
        KEY_RETURN,
        "two",
        KEY_RETURN,  # CR LF is one line break
        "three",
        KEY_RETURN,
        "four",
        KEY_TAB,
        "five",
    ]
    assert text_events("\n\n") == [KEY_RETURN, KEY_RETURN]
    assert text_events("") == []
    assert (KEY_RETURN, KEY_TAB) == (0x24, 0x30)


def test_wait_for_focus_returns_the_fresh_entry() -> None:
    before = windows_from_cg([{"kCGWindowNumber": 5, "kCGWindowOwnerPID": 9}], front_pid=1)
    after = windows_from_cg([{"kCGWindowNumber": 5, "kCGWindowOwnerPID": 9}], front_pid=9)
    lists = iter([before, before, after])
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    got = wait_for_focus(lambda: next(lists), 5, 1.0, sleep, lambda: now[0])
    assert got is not None and got.focused
    assert wait_for_focus(lambda: before, 5, 1.0, sleep, lambda: now[0]) is None


def test_ax_window_by_title() -> None:
    assert pick_ax_window([("w1", "Inbox"), ("w2", "Draft")], "Draft") == "w2"
    assert pick_ax_window([("w1", "Inbox")], "Draft") is None
    assert pick_ax_window([("w1", "")], "") is None


def test_ioreg_idle() -> None:
    sample = '    |   "HIDIdleTime" = 2500000000\n    |   "HIDSomething" = 1'
    assert parse_hid_idle(sample) == 2.5
    with pytest.raises(ToolError):
        parse_hid_idle("nothing here")


def test_cg_window_list() -> None:
    entries = [
        {"kCGWindowLayer": 25, "kCGWindowOwnerName": "Dock", "kCGWindowNumber": 1},
        {
            "kCGWindowLayer": 0,
            "kCGWindowNumber": 42,
            "kCGWindowOwnerPID": 300,
            "kCGWindowOwnerName": "Safari",
            "kCGWindowName": "Start Page",
            "kCGWindowBounds": {"X": 10, "Y": 25, "Width": 800, "Height": 600},
        },
        {"kCGWindowLayer": 0, "kCGWindowNumber": 43, "kCGWindowOwnerPID": 300, "kCGWindowName": "Other"},
    ]
    windows = windows_from_cg(entries, front_pid=300)
    assert [w.id for w in windows] == [42, 43]
    assert (windows[0].x, windows[0].y, windows[0].width, windows[0].height) == (10, 25, 800, 600)
    assert windows[0].focused and not windows[1].focused
    assert windows[0].title == "Start Page" and windows[0].wm_class == "Safari"


def test_adapter_needs_pyobjc() -> None:
    from contop.platform.macos.adapter import MacOSAdapter

    with pytest.raises(NotAvailableError, match="pyobjc"):
        MacOSAdapter()
