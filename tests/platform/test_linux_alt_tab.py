"""Alt+Tab through the adapter on a real Xvfb + openbox: the window manager must switch windows and let go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contop.testing.xsession import XSession

from .conftest import launch_recorder, wait_until_active

pytestmark = pytest.mark.x11


def test_alt_tab_switches_windows_and_releases_the_keyboard(
    xsession: XSession, linux_adapter: Any, tmp_path: Path
) -> None:
    # openbox grabs the keyboard on Alt+Tab and switches when it sees Alt released; sent as one burst, the release
    # reached it before its grab, so its switcher stayed open holding the keyboard and no window changed.
    first = launch_recorder(xsession, tmp_path, title="Alt Tab One", geometry="400x300+100+100")
    second = launch_recorder(xsession, tmp_path, title="Alt Tab Two", geometry="400x300+700+100")
    try:
        linux_adapter.press_key("alt+tab")
        wait_until_active(xsession, "Alt Tab One", timeout=5)
        linux_adapter.press_key("x")  # reaches the window switched to, without Alt: the switcher let go
        events = first.wait_for(lambda ev: any(e["event"] == "key" and e["keysym"] == "x" for e in ev), timeout=5)
        key = next(e for e in events if e["event"] == "key" and e["keysym"] == "x")
        assert key["state"] & 0x8 == 0, key  # Mod1 (Alt) no longer down
        assert not any(e["event"] == "key" and e["keysym"] == "x" for e in second.events())
    finally:
        first.stop()
        second.stop()
