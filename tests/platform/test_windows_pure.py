"""The pure parts of the Windows adapter (the ctypes parts need a Windows machine)."""

from __future__ import annotations

import pytest

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.keys import parse_combo
from contop.platform.windows.keys import (
    KEYEVENTF_EXTENDEDKEY,
    KEYEVENTF_KEYUP,
    KEYEVENTF_UNICODE,
    KeyStroke,
    combo_strokes,
    normalize_absolute,
    text_strokes,
    wheel_amount,
)


def test_ctrl_shift_t() -> None:
    assert combo_strokes(parse_combo("ctrl+shift+t")) == [
        KeyStroke(0xA2, 0, 0),
        KeyStroke(0xA0, 0, 0),
        KeyStroke(0x54, 0, 0),
        KeyStroke(0x54, 0, KEYEVENTF_KEYUP),
        KeyStroke(0xA0, 0, KEYEVENTF_KEYUP),
        KeyStroke(0xA2, 0, KEYEVENTF_KEYUP),
    ]


def test_arrows_and_navigation_are_extended() -> None:
    strokes = combo_strokes(parse_combo("alt+left"))
    assert strokes[1] == KeyStroke(0x25, 0, KEYEVENTF_EXTENDEDKEY)
    assert strokes[2] == KeyStroke(0x25, 0, KEYEVENTF_EXTENDEDKEY | KEYEVENTF_KEYUP)
    assert combo_strokes(parse_combo("delete"))[0].flags & KEYEVENTF_EXTENDEDKEY
    assert not combo_strokes(parse_combo("enter"))[0].flags & KEYEVENTF_EXTENDEDKEY
    assert combo_strokes(parse_combo("F24"))[0].vk == 0x87


def test_layout_characters_need_vkkeyscan() -> None:
    with pytest.raises(ToolError, match="keyboard layout"):
        combo_strokes(parse_combo("ctrl+é"))
    assert combo_strokes(parse_combo("ctrl+é"), char_vk=0x32)[1].vk == 0x32


def test_unicode_text_uses_utf16_units_and_surrogates() -> None:
    strokes = text_strokes("é😀\n")
    units = [s.scan for s in strokes if s.flags & KEYEVENTF_UNICODE and not s.flags & KEYEVENTF_KEYUP]
    assert units == [0xE9, 0xD83D, 0xDE00]
    assert strokes[-2:] == [KeyStroke(0x0D, 0, 0), KeyStroke(0x0D, 0, KEYEVENTF_KEYUP)]
    assert len(text_strokes("a\r\nb")) == 6  # CRLF is one Enter


@pytest.mark.parametrize(("left", "top", "width", "height"), [(0, 0, 1920, 1080), (-1280, -200, 4480, 1440)])
def test_absolute_coordinates_land_on_the_exact_pixel(left: int, top: int, width: int, height: int) -> None:
    for x in range(left, left + width):
        nx, _ = normalize_absolute(x, top, left, top, width, height)
        assert 0 <= nx <= 65535
        assert left + nx * width // 65536 == x  # how Windows maps it back
    for y in range(top, top + height):
        _, ny = normalize_absolute(left, y, left, top, width, height)
        assert top + ny * height // 65536 == y
    with pytest.raises(ToolError, match="outside the virtual desktop"):
        normalize_absolute(left + width, top, left, top, width, height)


def test_wheel() -> None:
    assert wheel_amount("up", 3) == (False, 360)
    assert wheel_amount("down", 1) == (False, -120)
    assert wheel_amount("right", 2) == (True, 240)
    assert wheel_amount("left", 2) == (True, -240)
    with pytest.raises(ToolError):
        wheel_amount("sideways", 1)


def test_adapter_refuses_off_windows() -> None:
    from contop.platform.windows.adapter import WindowsAdapter

    with pytest.raises(NotAvailableError, match="only on Windows"):
        WindowsAdapter()
