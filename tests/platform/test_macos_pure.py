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
    applescript_string,
    combo_keycodes,
    move_resize_script,
    parse_hid_idle,
    pixels_to_points,
    points_to_pixels,
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


def test_retina_conversion_round_trips() -> None:
    assert pixels_to_points(2880, 1800, 2.0) == (1440.0, 900.0)
    for x in range(0, 3000, 7):
        assert points_to_pixels(*pixels_to_points(x, x, 2.0), 2.0) == (x, x)
        assert points_to_pixels(*pixels_to_points(x, x, 1.0), 1.0) == (x, x)


def test_applescript_building() -> None:
    assert applescript_string('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    script = move_resize_script(10, 20, 800, 600)
    assert "first process whose frontmost is true" in script
    assert "set position of w to {10, 20}" in script and "set size of w to {800, 600}" in script
    partial = move_resize_script(None, None, 800, None, 'Evil" app')
    assert 'process "Evil\\" app"' in partial
    assert "set size of w to {800, item 2 of s}" in partial and "position" not in partial


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
    windows = windows_from_cg(entries, front_pid=300, scale=2.0)
    assert [w.id for w in windows] == [42, 43]
    assert (windows[0].x, windows[0].y, windows[0].width, windows[0].height) == (20, 50, 1600, 1200)
    assert windows[0].focused and not windows[1].focused
    assert windows[0].title == "Start Page" and windows[0].wm_class == "Safari"


def test_adapter_needs_pyobjc() -> None:
    from contop.platform.macos.adapter import MacOSAdapter

    with pytest.raises(NotAvailableError, match="pyobjc"):
        MacOSAdapter()
