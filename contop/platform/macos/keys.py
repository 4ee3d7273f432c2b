"""macOS key codes, coordinate conversion and command building (pure: no pyobjc, tested on any OS).

Verified here (Linux CI): the tables, the conversions and the generated AppleScript / command lines, by unit
tests. Not verified here: how macOS reacts to them, which only a Mac can show.
"""

from __future__ import annotations

import re
from typing import Any

from contop.core.errors import ToolError
from contop.platform.base import WindowInfo
from contop.platform.keys import KeyCombo

# Carbon virtual key codes (kVK_*), US ANSI positions.
KEYCODES: dict[str, int] = {
    **dict(zip("asdfhgzxcv", range(0x00, 0x0A), strict=True)),
    "b": 0x0B,
    "q": 0x0C,
    "w": 0x0D,
    "e": 0x0E,
    "r": 0x0F,
    "y": 0x10,
    "t": 0x11,
    "1": 0x12,
    "2": 0x13,
    "3": 0x14,
    "4": 0x15,
    "6": 0x16,
    "5": 0x17,
    "=": 0x18,
    "9": 0x19,
    "7": 0x1A,
    "-": 0x1B,
    "8": 0x1C,
    "0": 0x1D,
    "]": 0x1E,
    "o": 0x1F,
    "u": 0x20,
    "[": 0x21,
    "i": 0x22,
    "p": 0x23,
    "enter": 0x24,
    "l": 0x25,
    "j": 0x26,
    "'": 0x27,
    "k": 0x28,
    ";": 0x29,
    "\\": 0x2A,
    ",": 0x2B,
    "/": 0x2C,
    "n": 0x2D,
    "m": 0x2E,
    ".": 0x2F,
    "tab": 0x30,
    "space": 0x31,
    "`": 0x32,
    "backspace": 0x33,  # kVK_Delete: the key above Return
    "escape": 0x35,
    "super": 0x37,  # Command
    "shift": 0x38,
    "capslock": 0x39,
    "alt": 0x3A,  # Option
    "ctrl": 0x3B,
    "altgr": 0x3D,  # right Option
    "f17": 0x40,
    "f18": 0x4F,
    "f19": 0x50,
    "f20": 0x5A,
    "f5": 0x60,
    "f6": 0x61,
    "f7": 0x62,
    "f3": 0x63,
    "f8": 0x64,
    "f9": 0x65,
    "f11": 0x67,
    "f13": 0x69,
    "f16": 0x6A,
    "f14": 0x6B,
    "f10": 0x6D,
    "f12": 0x6F,
    "f15": 0x71,
    "insert": 0x72,  # kVK_Help sits where Insert is
    "home": 0x73,
    "pageup": 0x74,
    "delete": 0x75,  # kVK_ForwardDelete
    "f4": 0x76,
    "end": 0x77,
    "f2": 0x78,
    "pagedown": 0x79,
    "f1": 0x7A,
    "left": 0x7B,
    "right": 0x7C,
    "down": 0x7D,
    "up": 0x7E,
}

FLAG_SHIFT = 0x00020000
FLAG_CONTROL = 0x00040000
FLAG_OPTION = 0x00080000
FLAG_COMMAND = 0x00100000
MODIFIER_FLAGS = {
    "shift": FLAG_SHIFT,
    "ctrl": FLAG_CONTROL,
    "alt": FLAG_OPTION,
    "altgr": FLAG_OPTION,
    "super": FLAG_COMMAND,
}

# Shifted US characters typed as shift + their base key when they appear in a key combination.
_SHIFTED = dict(zip('~!@#$%^&*()_+{}|:"<>?', "`1234567890-=[]\\;',./", strict=True))


def combo_keycodes(combo: KeyCombo) -> tuple[int, int]:
    """(key code, modifier flags) for a combination; a shifted symbol adds Shift."""
    flags = 0
    for m in combo.modifiers:
        flags |= MODIFIER_FLAGS[m]
    key = combo.key.lower() if len(combo.key) == 1 and combo.key.isalpha() else combo.key
    if key in _SHIFTED:
        key = _SHIFTED[key]
        flags |= FLAG_SHIFT
    elif len(combo.key) == 1 and combo.key.isupper():
        flags |= FLAG_SHIFT
    if key not in KEYCODES:
        raise ToolError(f"unknown key {combo.key!r} on macOS (f21-f24 and menu do not exist there)")
    return KEYCODES[key], flags


def pixels_to_points(x: int, y: int, scale: float) -> tuple[float, float]:
    """Native screenshot pixels (mss on a Retina display: 2 per point) -> the points Quartz events use."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    return x / scale, y / scale


def points_to_pixels(x: float, y: float, scale: float) -> tuple[int, int]:
    return round(x * scale), round(y * scale)


def applescript_string(text: str) -> str:
    """A Python string as an AppleScript string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def move_resize_script(
    x: int | None, y: int | None, width: int | None, height: int | None, process_name: str | None = None
) -> str:
    """AppleScript for System Events that moves/resizes the front window of a process (default: frontmost),
    in points."""
    target = f"process {applescript_string(process_name)}" if process_name else "first process whose frontmost is true"
    lines = [f'tell application "System Events" to tell {target}', "set w to window 1"]
    if x is not None or y is not None:
        if x is None or y is None:
            lines.append("set p to position of w")
        lines.append(
            f"set position of w to {{{x if x is not None else 'item 1 of p'}, {y if y is not None else 'item 2 of p'}}}"
        )
    if width is not None or height is not None:
        if width is None or height is None:
            lines.append("set s to size of w")
        w = width if width is not None else "item 1 of s"
        h = height if height is not None else "item 2 of s"
        lines.append(f"set size of w to {{{w}, {h}}}")
    lines.append("end tell")
    return "\n".join(lines)


def raise_window_script(process_name: str, title: str) -> str:
    return (
        f'tell application "System Events" to tell process {applescript_string(process_name)}\n'
        "set frontmost to true\n"
        f'perform action "AXRaise" of (first window whose name is {applescript_string(title)})\n'
        "end tell"
    )


_IDLE_RE = re.compile(r'"HIDIdleTime"\s*=\s*(\d+)')


def parse_hid_idle(ioreg_output: str) -> float:
    """Seconds of idle time from ``ioreg -c IOHIDSystem`` (HIDIdleTime is in nanoseconds)."""
    m = _IDLE_RE.search(ioreg_output)
    if m is None:
        raise ToolError("HIDIdleTime not found in ioreg output")
    return int(m.group(1)) / 1e9


def windows_from_cg(entries: list[dict[str, Any]], front_pid: int | None, scale: float) -> list[WindowInfo]:
    """CGWindowListCopyWindowInfo dictionaries -> WindowInfo (normal layer only; bounds converted to pixels)."""
    out = []
    front_seen = False
    for e in entries:
        if int(e.get("kCGWindowLayer", 0)) != 0:
            continue
        b = e.get("kCGWindowBounds") or {}
        pid = int(e.get("kCGWindowOwnerPID", 0)) or None
        x, y = points_to_pixels(float(b.get("X", 0)), float(b.get("Y", 0)), scale)
        w, h = points_to_pixels(float(b.get("Width", 0)), float(b.get("Height", 0)), scale)
        # The list is front to back: the first window of the frontmost app is the focused one.
        focused = not front_seen and pid is not None and pid == front_pid
        front_seen = front_seen or focused
        out.append(
            WindowInfo(
                id=int(e.get("kCGWindowNumber", 0)),
                title=str(e.get("kCGWindowName") or ""),
                pid=pid,
                wm_class=str(e.get("kCGWindowOwnerName") or ""),
                x=x,
                y=y,
                width=w,
                height=h,
                focused=focused,
                process_name=str(e.get("kCGWindowOwnerName") or ""),
            )
        )
    return out
