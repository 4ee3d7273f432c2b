"""Typing characters the keymap lacks, on a real Xvfb + openbox: few keymap changes, so the desk stays responsive,
and the keyboard left as it was."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from Xlib import X, display
from Xlib.ext import xinput

from contop.platform.linux.adapter import LinuxAdapter
from contop.testing.xsession import XSession, start_xsession, xsession_for_tests

from .conftest import launch_recorder

pytestmark = [pytest.mark.x11, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_session() -> Iterator[XSession]:
    # A session of its own: a fresh keymap, and no other adapter changing it while changes are counted.
    yield from xsession_for_tests("1280x800x24")


class KeymapWatch:
    """A second client: counts the keymap change notifications every client gets, and reads the keymap."""

    def __init__(self, name: str) -> None:
        self.d = display.Display(name)
        self.min_kc = self.d.display.info.min_keycode
        self.count = self.d.display.info.max_keycode - self.min_kc + 1

    def drain(self) -> int:
        """Keymap changes notified since the last call (a round trip first: every one made so far is in)."""
        self.d.sync()
        changes = 0
        while self.d.pending_events():
            event = self.d.next_event()
            if event.type == X.MappingNotify and event.request == X.MappingKeyboard:
                changes += 1
        return changes

    def core(self) -> list[tuple[int, ...]]:
        return [tuple(row) for row in self.d.get_keyboard_mapping(self.min_kc, self.count)]

    def spare_keycodes(self) -> int:
        return sum(1 for i, row in enumerate(self.core()) if i > 0 and not any(row))

    def xkb(self, device: int = 0x100) -> list[Any]:
        """Every key of a keyboard device (0x100: the core keyboard) as XKB holds it: types, width, keysyms."""
        from contop.platform.linux.xinput import XkbKeys

        xkb = XkbKeys.open(self.d)
        assert xkb is not None
        return xkb.read(self.min_kc, self.count, device)[0]

    def symbols(self, device: int = 0x100) -> list[tuple[int, ...]]:
        return [tuple(s for s in m.syms if s) for m in self.xkb(device)]

    def keyboards(self) -> list[int]:
        self.d.xinput_query_version()
        devices = self.d.xinput_query_device(xinput.AllDevices).devices
        return [0x100] + [dev.deviceid for dev in devices if dev.use == xinput.SlaveKeyboard]

    def close(self) -> None:
        self.d.close()


def test_typing_many_cjk_characters_keeps_the_pointer_responsive(own_session: XSession, tmp_path: Path) -> None:
    # Each keymap change makes openbox re-grab its key bindings; one change per character kept it busy for
    # seconds, the pointer frozen under its click-to-focus grab: a click after 100 CJK characters landed ~10 s
    # late (and the text arrived only then), while the tools had long reported success.
    text = "".join(chr(0x4E00 + 37 * i) for i in range(100))
    app = launch_recorder(own_session, tmp_path)
    watch = KeymapWatch(own_session.display)
    adapter = LinuxAdapter(own_session.display)
    try:
        keymap_before = watch.core()
        stretches = math.ceil(len(text) / watch.spare_keycodes())
        adapter.click(*app.center("entry"))
        watch.drain()
        adapter.type_text(text)
        changes = watch.drain()
        clicks = sum(1 for e in app.events() if e["event"] == "button")
        asked = time.time()
        adapter.click(*app.center("canvas"))
        events = app.wait_for(lambda ev: sum(1 for e in ev if e["event"] == "button") > clicks, timeout=60)
        landed = [e for e in events if e["event"] == "button"][-1]
        assert landed["widget"] == "canvas"
        assert landed["t"] - asked < 1.5, f"the click landed {landed['t'] - asked:.1f} s after it was made"
        app.wait_for(lambda ev: app.last_text() == text, timeout=5)
        # One change per stretch of text whose missing characters fit the spare keycodes, not one per character.
        assert changes <= 2 * stretches, f"{changes} keymap changes to type {len(text)} characters"
        adapter.close()
        assert watch.drain() <= 2  # putting the spare keycodes back is one change too
        assert watch.core() == keymap_before
    finally:
        adapter.close()
        watch.close()
        app.stop()


def test_typing_puts_every_key_back_exactly(own_session: XSession, tmp_path: Path) -> None:
    # The one change binding a stretch's characters rewrites the keycode range between the spare keycodes (most of
    # the keyboard): every key there, on every keyboard device, must come back as it was, key types included.
    watch = KeymapWatch(own_session.display)
    adapter = LinuxAdapter(own_session.display)
    app = launch_recorder(own_session, tmp_path)
    try:
        before = {device: watch.xkb(device) for device in watch.keyboards()}
        text = "Grüße, 世界 — ÷ ✓ Ωμέγα ЖЩЯ " + "".join(chr(0x4E00 + 41 * i) for i in range(40))
        adapter.click(*app.center("entry"))
        adapter.type_text(text)
        app.wait_for(lambda ev: app.last_text() == text)
        adapter.close()
        assert {device: watch.xkb(device) for device in before} == before
    finally:
        adapter.close()
        app.stop()
        watch.close()


def test_a_keyboard_with_a_layout_of_its_own_keeps_it(tmp_path: Path) -> None:
    # Binding the spare keycodes in one change writes the keycode range between them on every keyboard device;
    # a keyboard set to another layout (setxkbmap -device) must not get the desk's keys in that range.
    session = start_xsession("1024x768x24", dbus=False)
    try:
        watch = KeymapWatch(session.display)
        watch.d.xinput_query_version()
        keyboard = next(
            dev.deviceid
            for dev in watch.d.xinput_query_device(xinput.AllDevices).devices
            if dev.use == xinput.SlaveKeyboard and "XTEST" not in dev.name
        )
        subprocess.run(
            ["setxkbmap", "-display", session.display, "-device", str(keyboard), "-layout", "de"],
            check=True,
            timeout=30,
        )
        german = watch.symbols(keyboard)
        assert german != watch.symbols()
        app = launch_recorder(session, tmp_path)
        adapter = LinuxAdapter(session.display)
        try:
            text = "日本語 αβγ ünï"
            adapter.click(*app.center("entry"))
            adapter.type_text(text)
            app.wait_for(lambda ev: app.last_text() == text)
        finally:
            adapter.close()
            app.stop()
        assert watch.symbols(keyboard) == german  # spare keycodes it shares were bound meanwhile; now empty again
        watch.close()
    finally:
        session.close()
