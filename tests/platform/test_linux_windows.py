"""EWMH windows on Xvfb + openbox: listing, focus, move/resize, maximize."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import ToolError
from contop.testing.xsession import XSession

from .conftest import RecorderApp, launch_recorder

pytestmark = pytest.mark.x11


def test_listing_shows_the_recorder(recorder: RecorderApp, linux_adapter: Any) -> None:
    windows = linux_adapter.list_windows()
    mine = [w for w in windows if w.title == "Contop Recorder"]
    assert len(mine) == 1, windows
    w = mine[0]
    assert w.pid == recorder.proc.pid
    assert w.process_name.startswith("python")
    assert w.wm_class == "Contoprecorder"  # Tk capitalises only the first letter of the class name
    assert [w.x, w.y, w.width, w.height] == recorder.ready["window"]
    assert w.focused
    assert linux_adapter.get_foreground_window_name() == "Contop Recorder"
    assert linux_adapter.active_window().id == w.id


def test_unicode_title(xsession: XSession, linux_adapter: Any, tmp_path: Path) -> None:
    app = launch_recorder(xsession, tmp_path, title="Fenêtre — 日本語 ✓")
    try:
        assert "Fenêtre — 日本語 ✓" in [w.title for w in linux_adapter.list_windows()]
    finally:
        app.proc.terminate()
        app.proc.wait(5)


def test_focus_by_partial_title(xsession: XSession, linux_adapter: Any, tmp_path: Path) -> None:
    first = launch_recorder(xsession, tmp_path, title="First window", geometry="300x200+50+50")
    second = launch_recorder(xsession, tmp_path, title="Second window", geometry="300x200+500+50")
    try:
        assert linux_adapter.get_foreground_window_name() == "Second window"
        info = linux_adapter.focus_window("first")
        assert info.title == "First window" and info.focused
        assert linux_adapter.get_foreground_window_name() == "First window"
        # Typing now goes to the first window.
        linux_adapter.type_text("to first")
        first.wait_for(lambda ev: first.last_text() == "to first")
        assert second.last_text() is None
        with pytest.raises(ToolError, match="no window title contains 'nonexistent'"):
            linux_adapter.focus_window("nonexistent")
    finally:
        for app in (first, second):
            app.proc.terminate()
            app.proc.wait(5)


def test_move_resize_and_maximize(recorder: RecorderApp, linux_adapter: Any) -> None:
    info = linux_adapter.move_resize_window(width=500, height=300, x=200, y=150)
    assert (info.x, info.y, info.width, info.height) == (200, 150, 500, 300)
    recorder.wait_for(lambda ev: any(e["event"] == "configure" and e["window"] == [200, 150, 500, 300] for e in ev))
    info = linux_adapter.move_resize_window(width=640, height=480)
    assert (info.x, info.y, info.width, info.height) == (200, 150, 640, 480)
    assert not linux_adapter.is_window_maximized()
    assert linux_adapter.maximize_window()
    assert linux_adapter.is_window_maximized()
    big = linux_adapter.active_window()
    assert big.width > 1800 and big.height > 900
    # A maximised window can still be resized: the adapter drops the maximised state first.
    info = linux_adapter.move_resize_window(width=400, height=300, x=10, y=40)
    assert (info.x, info.y, info.width, info.height) == (10, 40, 400, 300)
    assert not linux_adapter.is_window_maximized()


def test_bad_sizes_are_refused(recorder: RecorderApp, linux_adapter: Any) -> None:
    with pytest.raises(ToolError, match="width must be positive"):
        linux_adapter.move_resize_window(width=0, height=100)
    with pytest.raises(ToolError, match="at least one"):
        linux_adapter.move_resize_window()


def test_pid_comes_from_x_resource(recorder: RecorderApp, linux_adapter: Any) -> None:
    # Tk does not set _NET_WM_PID; the pid must come from the server (X-Resource).
    w = next(w for w in linux_adapter.list_windows() if w.title == "Contop Recorder")
    assert w.pid == recorder.proc.pid != os.getpid()
