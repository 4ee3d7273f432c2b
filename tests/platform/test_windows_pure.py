"""The pure parts of the Windows adapter (the ctypes parts need a Windows machine)."""

from __future__ import annotations

import ctypes
import ctypes.wintypes as wt
import types

import pytest

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.keys import KeyCombo, parse_combo
from contop.platform.windows.keys import (
    KEYEVENTF_EXTENDEDKEY,
    KEYEVENTF_KEYUP,
    KEYEVENTF_UNICODE,
    KeyStroke,
    char_key,
    combo_strokes,
    layout_combo,
    normalize_absolute,
    text_strokes,
    wheel_amount,
    with_scan_code,
)
from contop.platform.windows.win32 import (
    declare_prototypes,
    decode_clipboard_text,
    prototypes,
    set_window_pos_box,
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


def test_vkkeyscan_shift_state_becomes_modifiers() -> None:
    assert char_key(0x0031) == (0x31, ())
    assert char_key(0x0131) == (0x31, ("shift",))  # "!" on US
    assert char_key(0x0651) == (0x51, ("ctrl", "alt"))  # AltGr: "@" on German
    assert char_key(-1) is None and char_key(0xFFFF) is None
    assert char_key(0x0841) is None  # Hankaku: no key of ours gives it
    combo, vk = layout_combo(parse_combo("!"), 0x0131) or (None, 0)
    assert combo == KeyCombo(("shift",), "!") and vk == 0x31
    combo, vk = layout_combo(parse_combo("ctrl+shift+!"), 0x0131) or (None, 0)
    assert combo == KeyCombo(("ctrl", "shift"), "!")  # no second Shift
    assert combo_strokes(combo, vk)[2] == KeyStroke(0x31, 0, 0)
    assert layout_combo(parse_combo("€"), -1) is None  # typed as text instead
    with pytest.raises(ToolError, match="'€' is not on this keyboard layout"):
        layout_combo(parse_combo("ctrl+€"), -1)


def test_virtual_key_strokes_get_a_scan_code() -> None:
    scans = {0x41: 0x1E, 0x25: 0x4B}
    assert with_scan_code(KeyStroke(0x41, 0, KEYEVENTF_KEYUP), scans.__getitem__) == KeyStroke(0x41, 0x1E, 2)
    assert with_scan_code(KeyStroke(0x25, 0, KEYEVENTF_EXTENDEDKEY), scans.__getitem__).scan == 0x4B
    unicode = KeyStroke(0, 0xE9, KEYEVENTF_UNICODE)
    assert with_scan_code(unicode, scans.__getitem__) is unicode


def test_prototypes_are_declared_on_the_dlls() -> None:
    user32_protos, kernel32_protos = prototypes()
    user32 = types.SimpleNamespace(**{n: types.SimpleNamespace() for n in user32_protos})
    kernel32 = types.SimpleNamespace(**{n: types.SimpleNamespace() for n in kernel32_protos})
    declare_prototypes(user32, kernel32)
    # Pointers and handles are 64-bit: a default int return type would cut them.
    assert kernel32.GlobalAlloc.restype is wt.HGLOBAL
    assert kernel32.GlobalLock.restype is ctypes.c_void_p
    assert kernel32.GlobalUnlock.argtypes == [wt.HGLOBAL] and kernel32.GlobalFree.argtypes == [wt.HGLOBAL]
    assert kernel32.OpenProcess.restype is wt.HANDLE
    assert user32.GetClipboardData.restype is wt.HANDLE
    assert user32.SetClipboardData.argtypes == [wt.UINT, wt.HANDLE]
    assert user32.SetClipboardData.restype is wt.HANDLE
    assert user32.OpenClipboard.argtypes == [wt.HWND]
    assert user32.GetForegroundWindow.restype is wt.HWND
    assert user32.CreateWindowExW.restype is wt.HWND and len(user32.CreateWindowExW.argtypes) == 12
    assert user32.VkKeyScanW.argtypes == [wt.WCHAR] and user32.VkKeyScanW.restype is ctypes.c_short


def test_set_window_pos_box_adds_the_invisible_borders() -> None:
    frame = (100, 100, 800, 600)  # DWM's visible frame, what WindowInfo reports
    window = (93, 100, 814, 607)  # GetWindowRect: 7 px borders left, right and bottom
    assert set_window_pos_box(frame, window, 0, 0, 1024, 768) == (-7, 0, 1038, 775)
    assert set_window_pos_box(frame, window) == window  # nothing asked: stays where it is
    assert set_window_pos_box(frame, window, width=500) == (93, 100, 514, 607)
    assert set_window_pos_box(window, window, 5, 6, 7, 8) == (5, 6, 7, 8)  # no DWM: no borders


def test_clipboard_text_decoding() -> None:
    assert decode_clipboard_text("a😀".encode("utf-16-le") + b"\x00\x00rest") == "a😀"
    assert decode_clipboard_text("x".encode("utf-16-le") + b"\x00\x01\x00\x00") == "x\u0100"
    assert decode_clipboard_text(b"a\x00b") == "a"  # odd size, no NUL
    assert decode_clipboard_text(b"") == ""


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
