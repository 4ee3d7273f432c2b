"""Key names as the model writes them ("ctrl+shift+t", "esc", "PageDown") -> one canonical vocabulary.

Pure: every adapter maps the canonical names to its own codes (X keysyms, Windows virtual keys, macOS key codes).
"""

from __future__ import annotations

from dataclasses import dataclass

from contop.core.errors import ToolError

MODIFIERS = ("ctrl", "shift", "alt", "super", "altgr")

_ALIASES: dict[str, str] = {
    # modifiers
    "control": "ctrl",
    "ctl": "ctrl",
    "ctrl_l": "ctrl",
    "lctrl": "ctrl",
    "control_l": "ctrl",
    "shift_l": "shift",
    "lshift": "shift",
    "alt_l": "alt",
    "lalt": "alt",
    "option": "alt",
    "opt": "alt",
    "meta": "super",
    "win": "super",
    "windows": "super",
    "cmd": "super",
    "command": "super",
    "super_l": "super",
    "logo": "super",
    "alt_gr": "altgr",
    "ralt": "altgr",
    # named keys
    "return": "enter",
    "ret": "enter",
    "kp_enter": "enter",
    "esc": "escape",
    "back": "backspace",
    "back_space": "backspace",
    "bksp": "backspace",
    "del": "delete",
    "ins": "insert",
    "spacebar": "space",
    " ": "space",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    "up_arrow": "up",
    "down_arrow": "down",
    "left_arrow": "left",
    "right_arrow": "right",
    "pgup": "pageup",
    "page_up": "pageup",
    "prior": "pageup",
    "pgdn": "pagedown",
    "pagedn": "pagedown",
    "page_down": "pagedown",
    "next": "pagedown",
    "caps": "capslock",
    "caps_lock": "capslock",
    "num_lock": "numlock",
    "scroll_lock": "scrolllock",
    "print": "printscreen",
    "prtsc": "printscreen",
    "prtscr": "printscreen",
    "print_screen": "printscreen",
    "apps": "menu",
    "contextmenu": "menu",
    "break": "pause",
    "plus": "+",
    "minus": "-",
    "comma": ",",
    "period": ".",
    "dot": ".",
    "slash": "/",
    "backslash": "\\",
    "semicolon": ";",
    "apostrophe": "'",
    "quote": "'",
    "grave": "`",
    "backtick": "`",
    "equal": "=",
    "equals": "=",
    "bracketleft": "[",
    "bracketright": "]",
}

NAMED_KEYS = frozenset(
    {
        "enter",
        "escape",
        "backspace",
        "delete",
        "tab",
        "space",
        "up",
        "down",
        "left",
        "right",
        "home",
        "end",
        "pageup",
        "pagedown",
        "insert",
        "capslock",
        "numlock",
        "scrolllock",
        "printscreen",
        "menu",
        "pause",
        *(f"f{i}" for i in range(1, 25)),
        *MODIFIERS,
    }
)


@dataclass(frozen=True, slots=True)
class KeyCombo:
    """Modifiers held (canonical names, in the order given) while ``key`` is tapped."""

    modifiers: tuple[str, ...]
    key: str


def normalize_key(name: str) -> str:
    """One key name -> its canonical name, a single character, or the name unchanged when unknown here.

    Unknown multi-character names are returned as given (case kept) so a platform can still try its own
    vocabulary (X keysym names such as "XF86AudioMute"); the platform raises if it does not know them either.
    """
    if len(name) == 1:
        return _ALIASES.get(name, name)
    lowered = name.strip().lower().replace("-", "_")
    compact = lowered.replace("_", "")
    for candidate in (lowered, compact):
        if candidate in NAMED_KEYS:
            return candidate
        if candidate in _ALIASES:
            return _ALIASES[candidate]
    return name.strip()


def parse_combo(text: str) -> KeyCombo:
    """``"ctrl+shift+t"`` -> modifiers (ctrl, shift), key "t". A literal "+" key is written "ctrl++" or "plus"."""
    raw = text.strip()
    if not raw:
        raise ToolError("empty key name")
    if raw == "+":
        return KeyCombo((), "+")
    parts: list[str] = []
    if raw.endswith("++"):
        parts = [p for p in raw[:-2].split("+") if p.strip()] + ["+"]
    else:
        parts = [p.strip() for p in raw.split("+")]
        if any(not p for p in parts):
            raise ToolError(f"malformed key combination {text!r}; write it like 'ctrl+shift+t'")
    names = [normalize_key(p) for p in parts]
    *mods, key = names
    for m in mods:
        if m not in MODIFIERS:
            raise ToolError(f"{m!r} in {text!r} is not a modifier (ctrl, shift, alt, super, altgr)")
    seen: list[str] = []
    for m in mods:
        if m not in seen:
            seen.append(m)
    if seen and len(key) == 1 and key.isupper():
        # "ctrl+A" means ctrl+a; write "ctrl+shift+a" to get the shifted shortcut.
        key = key.lower()
    return KeyCombo(tuple(seen), key)
