"""Key-name parsing (shared) and the X keysym mapping: pure."""

from __future__ import annotations

import pytest

from contop.core.errors import ToolError
from contop.platform.keys import KeyCombo, normalize_key, parse_combo
from contop.platform.linux.keysyms import char_to_keysym, key_to_keysym, keysym_name
from contop.platform.linux.xinput import xdotool_key_arg


@pytest.mark.parametrize(
    ("text", "combo"),
    [
        ("ctrl+shift+t", KeyCombo(("ctrl", "shift"), "t")),
        ("Control+Alt+Delete", KeyCombo(("ctrl", "alt"), "delete")),
        ("cmd+space", KeyCombo(("super",), "space")),
        ("win+r", KeyCombo(("super",), "r")),
        ("ctrl+A", KeyCombo(("ctrl",), "a")),
        ("A", KeyCombo((), "A")),
        ("ctrl++", KeyCombo(("ctrl",), "+")),
        ("+", KeyCombo((), "+")),
        ("ctrl+plus", KeyCombo(("ctrl",), "+")),
        ("Return", KeyCombo((), "enter")),
        ("esc", KeyCombo((), "escape")),
        ("Page_Down", KeyCombo((), "pagedown")),
        ("PgUp", KeyCombo((), "pageup")),
        ("F12", KeyCombo((), "f12")),
        ("ctrl+ctrl+c", KeyCombo(("ctrl",), "c")),
        ("XF86AudioMute", KeyCombo((), "XF86AudioMute")),
    ],
)
def test_parse_combo(text: str, combo: KeyCombo) -> None:
    assert parse_combo(text) == combo


@pytest.mark.parametrize("bad", ["", "ctrl+", "ctrl++shift", "a+b"])
def test_malformed_combos(bad: str) -> None:
    with pytest.raises(ToolError):
        parse_combo(bad)


def test_normalize_aliases() -> None:
    assert [normalize_key(k) for k in ("Enter", "RETURN", "del", "Escape", "backspace", "Tab", "arrowleft")] == [
        "enter",
        "enter",
        "delete",
        "escape",
        "backspace",
        "tab",
        "left",
    ]


def test_char_to_keysym() -> None:
    assert char_to_keysym("a") == 0x61
    assert char_to_keysym("é") == 0xE9  # Latin-1 keysyms equal the code point
    assert char_to_keysym("日") == 0x01000000 + 0x65E5
    assert char_to_keysym("✓") == 0x01002713
    assert char_to_keysym("😀") == 0x01000000 + 0x1F600
    assert char_to_keysym("\n") == key_to_keysym("Return")
    with pytest.raises(ToolError, match="control character"):
        char_to_keysym("\x07")


def test_key_to_keysym() -> None:
    assert key_to_keysym("enter") == 0xFF0D
    assert key_to_keysym("esc") == 0xFF1B
    assert key_to_keysym("F5") == 0xFFC2
    assert key_to_keysym("ctrl") == 0xFFE3
    assert key_to_keysym("XF86AudioMute") == 0x1008FF12
    with pytest.raises(ToolError, match="unknown key 'nope'"):
        key_to_keysym("nope")


def test_xdotool_arguments() -> None:
    assert xdotool_key_arg("ctrl+shift+t") == "Control_L+Shift_L+t"
    assert xdotool_key_arg("alt+F4") == "Alt_L+F4"
    assert xdotool_key_arg("pagedown") == "Next"
    assert xdotool_key_arg("ctrl+/") == "Control_L+U002F"
    assert keysym_name("é") == "U00E9"
