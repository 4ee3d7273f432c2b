"""Window and clipboard tools on a real X server."""
# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from contop.core.errors import ToolError
from contop.platform.base import WindowInfo
from contop.platform.geometry import Rect, ScreenGeometry
from contop.testing.xsession import XSession
from contop.tools.context import ToolContext
from contop.tools.windows import (
    clipboard_read,
    clipboard_write,
    pick_window,
    resize_window,
    window_focus,
    window_list,
    window_row,
)

from .x11 import RecorderApp, desk_env, launch_recorder, recorder, xctx, xsession  # noqa: F401 - fixtures


def _w(wid: int, title: str) -> WindowInfo:
    return WindowInfo(wid, title, None, "", 0, 0, 100, 100, False)


def test_pick_window_prefers_exact_then_refuses_ambiguity() -> None:
    windows = [_w(1, "Report - Editor"), _w(2, "Report"), _w(3, "Reporting tool")]
    assert pick_window(windows, "report").id == 2
    assert pick_window(windows, "editor").id == 1
    with pytest.raises(ToolError, match="3 windows match"):
        pick_window(windows, "Repor")  # three prefix matches, no exact one
    with pytest.raises(ToolError, match="No window title contains"):
        pick_window(windows, "spreadsheet")
    with pytest.raises(ToolError, match="required"):
        pick_window(windows, "  ")


def test_window_rows_are_in_screenshot_pixels_with_the_native_box_beside() -> None:
    geo = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))  # screenshots of 1280x720
    row = window_row(WindowInfo(7, "Editor", 42, "Gedit", 300, 150, 600, 450, True, "gedit"), geo)
    assert (row["x"], row["y"], row["width"], row["height"]) == (200, 100, 400, 300)
    assert row["native"] == {"x": 300, "y": 150, "width": 600, "height": 450}
    assert row["on_screenshot"] and row["process_name"] == "gedit" and row["focused"]
    partly = window_row(WindowInfo(8, "Wide", None, "", 1500, 900, 900, 600, False), geo)
    assert (partly["x"], partly["y"], partly["width"], partly["height"]) == (1000, 600, 280, 120)  # clipped
    off = window_row(WindowInfo(9, "Elsewhere", None, "", 2000, 0, 500, 500, False), geo)  # another monitor
    assert off["on_screenshot"] is False and off["x"] is None and off["native"]["x"] == 2000


@pytest.mark.x11
async def test_list_focus_and_resize(
    xctx: ToolContext,
    recorder: RecorderApp,
    desk_env: XSession,
    tmp_path: Path,
) -> None:
    other = launch_recorder(desk_env, tmp_path, title="Second Recorder", geometry="400x300+900+200")
    try:
        listed = await window_list(xctx)
        rows = json.loads(listed["stdout"])
        titles = {r["title"] for r in rows}
        assert {"Contop Recorder", "Second Recorder"} <= titles
        assert all({"title", "process_name", "x", "y", "width", "height"} <= set(r) for r in rows)
        second = next(r for r in rows if r["title"] == "Second Recorder")
        assert second["focused"]
        # 400x300 native on a 1920x1080 screen is 267x200 on the 1280x720 screenshot the model sees.
        native = second["native"]
        assert (native["width"], native["height"]) == (400, 300)
        shot = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))
        assert (second["x"], second["y"]) == shot.to_shot(native["x"], native["y"])
        assert (second["width"], second["height"]) == (267, 200)

        focused = await window_focus(xctx, "contop rec")
        assert focused["window"]["title"] == "Contop Recorder"
        with pytest.raises(ToolError, match="2 windows match"):
            await window_focus(xctx, "recorder")
        with pytest.raises(ToolError, match="No window title contains"):
            await window_focus(xctx, "no such window")

        resized = await resize_window(xctx, 500, 320, x=200, y=150)
        assert resized["window"]["title"] == "Contop Recorder"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rows = (await window_list(xctx))["windows"]
            mine = next(r for r in rows if r["title"] == "Contop Recorder")
            if (mine["native"]["width"], mine["native"]["height"]) == (500, 320):
                break
            time.sleep(0.1)
        assert (mine["native"]["width"], mine["native"]["height"]) == (500, 320)
        with pytest.raises(ToolError, match="at least"):
            await resize_window(xctx, 10, 10)
        with pytest.raises(ToolError, match="larger than the screen"):
            await resize_window(xctx, 5000, 300)
        with pytest.raises(ToolError, match="would reach past the screen's edge"):  # QA: left almost all off screen
            await resize_window(xctx, 400, 300, x=1919, y=1079)
    finally:
        other.proc.terminate()
        other.proc.wait(5)


@pytest.mark.x11
async def test_clipboard_round_trip(xctx: ToolContext) -> None:
    text = "Contop ✓ presse-papiers 日本語\nline two"
    result = await clipboard_write(xctx, text)
    assert result["status"] == "success"
    assert (await clipboard_read(xctx))["stdout"] == text
