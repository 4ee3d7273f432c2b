"""Canonical key names and characters -> X keysyms (pure; Xlib.XK is a table, it needs no display)."""

from __future__ import annotations

from Xlib import XK

from contop.core.errors import ToolError
from contop.platform.keys import KeyCombo, normalize_key

XK.load_keysym_group("xf86")  # media and special keys by name: XF86AudioMute, XF86MonBrightnessUp...

_NAMED: dict[str, str] = {
    "enter": "Return",
    "escape": "Escape",
    "backspace": "BackSpace",
    "delete": "Delete",
    "tab": "Tab",
    "space": "space",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pagedown": "Next",
    "insert": "Insert",
    "capslock": "Caps_Lock",
    "numlock": "Num_Lock",
    "scrolllock": "Scroll_Lock",
    "printscreen": "Print",
    "menu": "Menu",
    "pause": "Pause",
    "ctrl": "Control_L",
    "shift": "Shift_L",
    "alt": "Alt_L",
    "super": "Super_L",
    "altgr": "ISO_Level3_Shift",
    **{f"f{i}": f"F{i}" for i in range(1, 25)},
}

# Control characters a text may contain, typed as the keys that produce them.
_CONTROL_CHARS: dict[str, str] = {"\n": "Return", "\r": "Return", "\t": "Tab", "\b": "BackSpace", "\x1b": "Escape"}

UNICODE_KEYSYM_OFFSET = 0x01000000


def char_to_keysym(ch: str) -> int:
    """The keysym that types ``ch``: Latin-1 keysyms equal their code point, others are 0x01000000 + code point."""
    if len(ch) != 1:
        raise ValueError("exactly one character expected")
    named = _CONTROL_CHARS.get(ch)
    if named is not None:
        return XK.string_to_keysym(named)
    cp = ord(ch)
    if 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xFF:
        return cp
    if cp < 0x20 or 0x7F <= cp < 0xA0:
        raise ToolError(f"cannot type the control character U+{cp:04X}")
    return UNICODE_KEYSYM_OFFSET + cp


def keysym_name(canonical: str) -> str:
    """X keysym name for a canonical key name ("pageup" -> "Prior"), for xdotool and messages."""
    if canonical in _NAMED:
        return _NAMED[canonical]
    if len(canonical) == 1:
        if canonical.isascii() and canonical.isalnum():
            return canonical
        # XStringToKeysym (used by xdotool) understands "U<hex>" for any character.
        return f"U{ord(canonical):04X}"
    return canonical


def key_to_keysym(name: str) -> int:
    """A key name (canonical, alias, single character or X keysym name) -> keysym; ToolError when unknown."""
    canonical = normalize_key(name)
    if canonical in _NAMED:
        return XK.string_to_keysym(_NAMED[canonical])
    if len(canonical) == 1:
        return char_to_keysym(canonical)
    candidates = [canonical, canonical.capitalize(), canonical.upper(), canonical.lower()]
    if canonical.lower().startswith("xf86") and not canonical.startswith("XF86_"):
        candidates.append("XF86_" + canonical[4:])  # python-xlib spells XF86AudioMute as XF86_AudioMute
    for candidate in candidates:
        ks = XK.string_to_keysym(candidate)
        if ks:
            return ks
    raise ToolError(
        f"unknown key {name!r}; use names like enter, esc, tab, backspace, delete, up, pageup, f5, ctrl, alt, "
        "shift, super, a single character, or an X keysym name"
    )


def combo_keysyms(combo: KeyCombo) -> tuple[list[int], int]:
    """Keysyms of the modifiers and of the key of a parsed combination."""
    return [key_to_keysym(m) for m in combo.modifiers], key_to_keysym(combo.key)
