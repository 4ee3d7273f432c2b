"""The display tools under the real Away Mode lock overlay: keyboard refused (it would be PIN attempts), clicks
still work, and observe_screen shows the desktop under the overlay."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import ToolError
from contop.platform.geometry import Rect, ScreenGeometry
from contop.testing.xsession import XSession
from contop.tools.context import ToolContext
from contop.tools.gui import execute_gui
from contop.tools.screen import observe_screen
from tests.desktop.test_overlay import PIN, adapter, hash_file, start_overlay, type_pin, xsession  # noqa: F401
from tests.platform.conftest import launch_recorder

from .x11 import desk_env, xctx  # noqa: F401 - fixtures

pytestmark = [pytest.mark.x11, pytest.mark.slow]

SCREEN = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))


async def test_tools_under_the_lock_overlay(
    xctx: ToolContext, desk_env: XSession, start_overlay: Any, adapter: Any, tmp_path: Path
) -> None:
    recorder = launch_recorder(desk_env, tmp_path)
    try:
        overlay = start_overlay()
        overlay.expect("ready", timeout=20)
        with pytest.raises(ToolError, match="Away Mode"):
            await execute_gui(xctx, "type", text="1234")
        with pytest.raises(ToolError, match="Away Mode"):
            await execute_gui(xctx, "hotkey", key="alt+f4")

        cx, cy = recorder.center("canvas")
        sx, sy = SCREEN.to_shot(cx, cy)
        await execute_gui(xctx, "click", x=sx, y=sy)
        recorder.wait_for(lambda ev: any(e["event"] == "button" and e["num"] == 1 for e in ev))

        seen = await observe_screen(xctx, "understanding")
        assert "Away Mode" in seen["note"]
        from PIL import Image

        img = Image.open(io.BytesIO(base64.b64decode(seen["image_b64"]))).convert("RGB")
        r, g, b = img.getpixel((sx, sy))  # type: ignore[misc]
        assert abs(r - 0x33) < 30 and abs(g - 0x66) < 30 and abs(b - 0xCC) < 30, (r, g, b)  # the canvas, not the lock

        type_pin(adapter, PIN)
        overlay.expect("unlocked")
    finally:
        recorder.proc.terminate()
        recorder.proc.wait(5)
