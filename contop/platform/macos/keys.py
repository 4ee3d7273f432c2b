"""macOS key codes, coordinate conversion and command building (pure: no pyobjc, tested on any OS).

Verified here (Linux CI): the tables, the conversions and the generated AppleScript / command lines, by unit
tests. Not verified here: how macOS reacts to them, which only a Mac can show.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
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


# Key codes that are not character keys of the layout: named keys (Return, Tab, arrows, F-keys...) and the
# numeric keypad, whose digits and operators must not stand in for the main keys.
_NAMED_KEYCODES = frozenset(code for name, code in KEYCODES.items() if len(name) > 1)
_KEYPAD_KEYCODES = frozenset({0x41, 0x43, 0x45, 0x47, 0x4B, 0x4C, 0x4E, 0x51, *range(0x52, 0x5A), 0x5B, 0x5C})


def layout_table(translate: Callable[[int, bool], str]) -> dict[str, tuple[int, int]]:
    """Character -> (key code, Shift flag or 0) for the active keyboard layout, from ``translate(key code,
    shifted)`` (UCKeyTranslate over key codes 0-0x7F). A character reachable without Shift keeps that key."""
    table: dict[str, tuple[int, int]] = {}
    for shifted in (False, True):
        for code in range(0x80):
            if code in _NAMED_KEYCODES or code in _KEYPAD_KEYCODES:
                continue
            ch = translate(code, shifted)
            if len(ch) != 1 or not ch.isprintable() or ch.isspace():
                continue
            table.setdefault(ch, (code, FLAG_SHIFT if shifted else 0))
    return table


def combo_keycodes(combo: KeyCombo, layout: dict[str, tuple[int, int]] | None = None) -> tuple[int, int]:
    """(key code, modifier flags) for a combination; a shifted symbol adds Shift.

    ``layout`` is the active layout's :func:`layout_table`: a character on it is pressed where that layout has
    it (Cmd+A on AZERTY is the key US calls Q). Without it, or for a character it lacks (Cmd+C on a Cyrillic
    layout, which macOS maps through US positions), the US ANSI positions of KEYCODES are used.
    """
    flags = 0
    for m in combo.modifiers:
        flags |= MODIFIER_FLAGS[m]
    if layout and len(combo.key) == 1 and combo.key in layout:
        code, extra = layout[combo.key]
        return code, flags | extra
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
    """Backing-store pixels (``scale`` per point: NSScreen.backingScaleFactor, 2 on Retina) -> points.

    Not needed for the adapter's own coordinates: mss takes its monitor rectangles from CGDisplayBounds and
    grabs at nominal resolution, so Contop's native coordinates already are Quartz global points (scale 1.0),
    the unit of CGEvent locations, CGWindowList bounds and AXPosition. Dividing them again by the backing scale
    put every click at half the distance from the top-left corner on a Retina screen.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    return x / scale, y / scale


def points_to_pixels(x: float, y: float, scale: float) -> tuple[int, int]:
    """Points -> backing-store pixels; the inverse of :func:`pixels_to_points`."""
    return round(x * scale), round(y * scale)


NATIVE_SCALE = 1.0
"""Native (screenshot) coordinates per Quartz point: mss measures monitors in points, see pixels_to_points."""


def cocoa_frame_to_quartz(
    x: float, y: float, width: float, height: float, primary_height: float
) -> tuple[int, int, int, int]:
    """An NSScreen frame (Cocoa: origin bottom-left of the primary screen, y up) -> Quartz global points (origin
    top-left of the primary screen, y down), as x, y, width, height. The flip is always against the primary
    screen (``NSScreen.screens()[0]``), whichever screen the frame is on."""
    return round(x), round(primary_height - (y + height)), round(width), round(height)


KEY_RETURN = 0x24
KEY_TAB = 0x30
MAX_UNICODE_UNITS = 20
"""UTF-16 units one keyboard event can carry (CGEventKeyboardSetUnicodeString's documented safe size)."""

_LINE_BREAK_OR_TAB = re.compile(r"\r\n|[\r\n\t]")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def unicode_chunks(text: str, max_units: int = MAX_UNICODE_UNITS) -> list[str]:
    """Text cut into runs of at most ``max_units`` UTF-16 units, between whole characters: cutting inside a
    surrogate pair (an emoji) leaves halves that cannot be encoded."""
    chunks: list[str] = []
    current: list[str] = []
    units = 0
    for ch in text:
        n = 2 if ord(ch) > 0xFFFF else 1
        if current and units + n > max_units:
            chunks.append("".join(current))
            current, units = [], 0
        current.append(ch)
        units += n
    if current:
        chunks.append("".join(current))
    return chunks


def text_events(text: str, max_units: int = MAX_UNICODE_UNITS) -> list[int | str]:
    """What ``type_text`` posts: key codes to tap (Return for CR LF, CR or LF; Tab for a tab, as Linux and
    Windows press them) and Unicode runs between them."""
    out: list[int | str] = []
    pos = 0
    for m in _LINE_BREAK_OR_TAB.finditer(text):
        out += unicode_chunks(text[pos : m.start()], max_units)
        out.append(KEY_TAB if m.group() == "\t" else KEY_RETURN)
        pos = m.end()
    out += unicode_chunks(text[pos:], max_units)
    return out


def applescript_string(text: str) -> str:
    """A Python string as an AppleScript string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _process(pid: int) -> str:
    # By unix id: the localized owner name CGWindowList gives is not always the System Events process name,
    # and two processes may share it.
    return f"(first process whose unix id is {int(pid)})"


def move_resize_script(
    x: int | None,
    y: int | None,
    width: int | None,
    height: int | None,
    pid: int,
    title: str,
    bounds: tuple[int, int, int, int],
) -> str:
    """AppleScript for System Events that moves/resizes one window of process ``pid``, in points.

    The window is the one at ``bounds`` (x, y, width, height from CGWindowList) with name ``title``; when no
    window matches both (the title may be empty without the Screen Recording permission), the first window
    named ``title``; when none, the script fails rather than move another window.
    """
    bx, by, bw, bh = bounds
    named = f" and name of c is {applescript_string(title)}" if title else ""
    lines = [
        'tell application "System Events"',
        f"tell {_process(pid)}",
        "set w to missing value",
        "repeat with c in windows",
        f"if (position of c) is {{{bx}, {by}}} and (size of c) is {{{bw}, {bh}}}{named} then",
        "set w to contents of c",
        "exit repeat",
        "end if",
        "end repeat",
    ]
    if title:
        lines += [
            "if w is missing value then",
            f"set w to first window whose name is {applescript_string(title)}",
            "end if",
        ]
    lines.append('if w is missing value then error "the window is no longer there"')
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
    lines += ["end tell", "end tell"]
    return "\n".join(lines)


def raise_window_script(pid: int, title: str) -> str:
    return "\n".join(
        [
            'tell application "System Events"',
            f"tell {_process(pid)}",
            "set frontmost to true",
            f'perform action "AXRaise" of (first window whose name is {applescript_string(title)})',
            "end tell",
            "end tell",
        ]
    )


def wait_for_focus(
    list_windows: Callable[[], list[WindowInfo]],
    window_id: int,
    timeout: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WindowInfo | None:
    """Read the window list until window ``window_id`` is the focused one; its fresh entry, or None on timeout."""
    deadline = clock() + timeout
    while True:
        w = next((w for w in list_windows() if w.id == window_id), None)
        if w is not None and w.focused:
            return w
        if clock() >= deadline:
            return None
        sleep(0.05)


def pick_ax_window(windows: list[tuple[Any, str]], title: str) -> Any | None:
    """The AX window (of (element, AXTitle) pairs) whose title is exactly the window's title, else None."""
    return next((el for el, t in windows if title and t == title), None)


_IDLE_RE = re.compile(r'"HIDIdleTime"\s*=\s*(\d+)')


def parse_hid_idle(ioreg_output: str) -> float:
    """Seconds of idle time from ``ioreg -c IOHIDSystem`` (HIDIdleTime is in nanoseconds)."""
    m = _IDLE_RE.search(ioreg_output)
    if m is None:
        raise ToolError("HIDIdleTime not found in ioreg output")
    return int(m.group(1)) / 1e9


def windows_from_cg(
    entries: list[dict[str, Any]], front_pid: int | None, scale: float = NATIVE_SCALE
) -> list[WindowInfo]:
    """CGWindowListCopyWindowInfo dictionaries -> WindowInfo (normal layer only). The bounds are Quartz global
    points, already Contop's native coordinates; ``scale`` stays 1.0 but for tests."""
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
