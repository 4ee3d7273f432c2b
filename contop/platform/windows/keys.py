"""Windows key and pointer arithmetic for SendInput (pure: no ctypes, so it is tested on any OS).

Verified here (Linux CI): the tables and the arithmetic, by unit tests. Not verified here: the behaviour of
SendInput itself, which only a Windows machine can show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from contop.core.errors import ToolError
from contop.platform.keys import KeyCombo

VK: dict[str, int] = {
    "backspace": 0x08,
    "tab": 0x09,
    "enter": 0x0D,
    "shift": 0xA0,  # VK_LSHIFT
    "ctrl": 0xA2,  # VK_LCONTROL
    "alt": 0xA4,  # VK_LMENU
    "altgr": 0xA5,  # VK_RMENU
    "super": 0x5B,  # VK_LWIN
    "pause": 0x13,
    "capslock": 0x14,
    "escape": 0x1B,
    "space": 0x20,
    "pageup": 0x21,
    "pagedown": 0x22,
    "end": 0x23,
    "home": 0x24,
    "left": 0x25,
    "up": 0x26,
    "right": 0x27,
    "down": 0x28,
    "printscreen": 0x2C,
    "insert": 0x2D,
    "delete": 0x2E,
    "menu": 0x5D,  # VK_APPS
    "numlock": 0x90,
    "scrolllock": 0x91,
    **{f"f{i}": 0x6F + i for i in range(1, 25)},
    **{chr(c).lower(): c for c in range(ord("A"), ord("Z") + 1)},
    **{chr(c): c for c in range(ord("0"), ord("9") + 1)},
}

# Keys that must carry KEYEVENTF_EXTENDEDKEY, or Windows reads them as their numeric-keypad twins.
EXTENDED = frozenset({0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x2C, 0x2D, 0x2E, 0x5B, 0x5D, 0x90, 0xA3, 0xA5})

KEYEVENTF_EXTENDEDKEY = 0x0001
KEYEVENTF_KEYUP = 0x0002
KEYEVENTF_UNICODE = 0x0004

WHEEL_DELTA = 120


@dataclass(frozen=True, slots=True)
class KeyStroke:
    """One KEYBDINPUT: a virtual key (``vk``) or a UTF-16 code unit (``scan`` with KEYEVENTF_UNICODE)."""

    vk: int
    scan: int
    flags: int


def vk_for(name: str) -> int | None:
    """Virtual key of a canonical key name; None for characters that depend on the keyboard layout."""
    return VK.get(name)


def combo_strokes(combo: KeyCombo, char_vk: int | None = None) -> list[KeyStroke]:
    """Press modifiers, tap the key, release modifiers in reverse. ``char_vk`` is VkKeyScanW's answer for a
    layout-dependent character key (the adapter asks Windows); without one such a key is an error."""
    mods = []
    for m in combo.modifiers:
        vk = VK[m]
        mods.append(vk)
    key_vk = vk_for(combo.key)
    if key_vk is None:
        key_vk = char_vk
    if key_vk is None:
        raise ToolError(f"unknown key {combo.key!r} for this keyboard layout")

    def flags(vk: int, up: bool) -> int:
        return (KEYEVENTF_EXTENDEDKEY if vk in EXTENDED else 0) | (KEYEVENTF_KEYUP if up else 0)

    out = [KeyStroke(vk, 0, flags(vk, False)) for vk in mods]
    out += [KeyStroke(key_vk, 0, flags(key_vk, False)), KeyStroke(key_vk, 0, flags(key_vk, True))]
    out += [KeyStroke(vk, 0, flags(vk, True)) for vk in reversed(mods)]
    return out


# VkKeyScanW's shift-state byte: the modifiers a character needs on the current layout. AltGr shows as 6
# (Ctrl+Alt), which Windows also accepts as AltGr when we press it. 8 (Hankaku) and the driver-defined bits
# cannot be pressed with these keys.
SHIFT_STATE_MODIFIERS = ((1, "shift"), (2, "ctrl"), (4, "alt"))


def char_key(scan: int) -> tuple[int, tuple[str, ...]] | None:
    """VkKeyScanW's SHORT -> (virtual key, modifiers it needs); None when no key of the layout gives the
    character (-1) or it needs a shift state we cannot press."""
    scan &= 0xFFFF
    vk, state = scan & 0xFF, scan >> 8
    if vk == 0xFF or state & ~0x07:
        return None
    return vk, tuple(name for bit, name in SHIFT_STATE_MODIFIERS if state & bit)


def layout_combo(combo: KeyCombo, scan: int) -> tuple[KeyCombo, int] | None:
    """A combination whose key is a layout character, given VkKeyScanW's answer for it -> the combination with
    the modifiers the character needs added ("!" is Shift+1 on US) and the key's virtual key. None means the
    layout has no key for it and no modifier was asked for: type it as text instead, as Linux does."""
    resolved = char_key(scan)
    if resolved is None:
        if combo.modifiers:
            held = "+".join(combo.modifiers)
            raise ToolError(f"{combo.key!r} is not on this keyboard layout, so {held}+{combo.key} cannot be pressed")
        return None
    vk, needed = resolved
    return KeyCombo(combo.modifiers + tuple(m for m in needed if m not in combo.modifiers), combo.key), vk


MAPVK_VK_TO_VSC = 0


def with_scan_code(stroke: KeyStroke, scan_of: Callable[[int], int]) -> KeyStroke:
    """Fill in the hardware scan code of a virtual-key stroke (``scan_of`` is MapVirtualKeyW(vk,
    MAPVK_VK_TO_VSC)): applications and games that read scan codes otherwise see key 0. Unicode strokes carry
    their UTF-16 unit in ``scan`` and are kept as they are."""
    if not stroke.vk or stroke.flags & KEYEVENTF_UNICODE or stroke.scan:
        return stroke
    return replace(stroke, scan=scan_of(stroke.vk) & 0xFFFF)


def text_strokes(text: str) -> list[KeyStroke]:
    """Any text as KEYEVENTF_UNICODE strokes (UTF-16 code units, so characters beyond the BMP become surrogate
    pairs); newlines and tabs as the Enter and Tab keys, which is what applications expect."""
    out: list[KeyStroke] = []
    previous = ""
    for ch in text:
        crlf = previous == "\r" and ch == "\n"
        previous = ch
        if ch in "\r\n":
            if not crlf:  # CR LF is one line break
                out += [KeyStroke(VK["enter"], 0, 0), KeyStroke(VK["enter"], 0, KEYEVENTF_KEYUP)]
            continue
        if ch == "\t":
            out += [KeyStroke(VK["tab"], 0, 0), KeyStroke(VK["tab"], 0, KEYEVENTF_KEYUP)]
            continue
        data = ch.encode("utf-16-le")
        for i in range(0, len(data), 2):
            unit = int.from_bytes(data[i : i + 2], "little")
            out += [
                KeyStroke(0, unit, KEYEVENTF_UNICODE),
                KeyStroke(0, unit, KEYEVENTF_UNICODE | KEYEVENTF_KEYUP),
            ]
    return out


def normalize_absolute(x: int, y: int, left: int, top: int, width: int, height: int) -> tuple[int, int]:
    """Virtual-desktop pixel -> SendInput's 0..65535 absolute coordinates (MOUSEEVENTF_VIRTUALDESK).

    Windows maps a normalised value n back to pixel ``floor(n * size / 65536)``; rounding up here makes that
    land exactly on the pixel asked for.
    """
    if not (left <= x < left + width and top <= y < top + height):
        raise ToolError(f"({x}, {y}) is outside the virtual desktop at ({left}, {top}) of {width}x{height}")
    nx = ((x - left) * 65536 + width - 1) // width
    ny = ((y - top) * 65536 + height - 1) // height
    return min(nx, 65535), min(ny, 65535)


def wheel_amount(direction: str, clicks: int) -> tuple[bool, int]:
    """(horizontal?, mouseData) for a scroll; positive is up / right, as Windows defines it."""
    table = {"up": (False, 1), "down": (False, -1), "right": (True, 1), "left": (True, -1)}
    if direction not in table:
        raise ToolError(f"unknown scroll direction {direction!r}; use up, down, left or right")
    horizontal, sign = table[direction]
    return horizontal, sign * WHEEL_DELTA * max(1, clicks)
