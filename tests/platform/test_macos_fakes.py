"""The macOS adapter driven through fake Quartz/AppKit/ApplicationServices modules, checked on Linux.

The fakes record what the adapter asks macOS for; the adapter code itself is the real one.
"""

from __future__ import annotations

import subprocess
import threading
import types
from typing import Any

import pytest

from contop.core.errors import ToolError
from contop.platform.base import WindowInfo
from contop.platform.macos import adapter as macos_adapter
from contop.platform.macos.adapter import MacOSAdapter


class FakeQuartz:
    """Records every call; constants are their own names."""

    def __init__(self, location: tuple[float, float] = (0.0, 0.0)) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._location = location

    def __getattr__(self, name: str) -> Any:
        if name.startswith("k"):
            return name
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            if name == "CGPointMake":
                return types.SimpleNamespace(x=args[0], y=args[1])
            if name == "CGEventGetLocation":
                return types.SimpleNamespace(x=self._location[0], y=self._location[1])
            if name in ("CGEventCreateKeyboardEvent", "CGEventCreateMouseEvent"):
                return {"kind": name, "args": args, "flags": None, "text": None}
            if name == "CGEventSetFlags":
                args[0]["flags"] = args[1]
            if name == "CGEventKeyboardSetUnicodeString":
                args[0]["text"] = (args[1], args[2])
            return None

        return call

    def posted(self) -> list[dict[str, Any]]:
        return [args[1] for name, args in self.calls if name == "CGEventPost"]


def frame(x: float, y: float, w: float, h: float) -> Any:
    return types.SimpleNamespace(origin=types.SimpleNamespace(x=x, y=y), size=types.SimpleNamespace(width=w, height=h))


def screen(full: Any, visible: Any, scale: float = 2.0) -> Any:
    return types.SimpleNamespace(frame=lambda: full, visibleFrame=lambda: visible, backingScaleFactor=lambda: scale)


PRIMARY = screen(frame(0, 0, 1440, 900), frame(0, 70, 1440, 805))  # a Retina MacBook: 2 pixels per point
SECOND = screen(frame(1440, -100, 1920, 1080), frame(1440, -100, 1920, 1055), 1.0)


def fake_adapter(quartz: FakeQuartz | None = None, main: Any = PRIMARY) -> Any:
    adapter: Any = MacOSAdapter.__new__(MacOSAdapter)
    adapter._q = quartz or FakeQuartz()
    ns_screen = types.SimpleNamespace(mainScreen=lambda: main, screens=lambda: [PRIMARY, SECOND])
    adapter._appkit = types.SimpleNamespace(NSScreen=ns_screen)
    adapter._lock = threading.RLock()
    adapter._caffeinate = None
    adapter._buttons_down = set()
    return adapter


def win(wid: int, title: str, focused: bool, pid: int = 300, x: int = 10) -> WindowInfo:
    return WindowInfo(wid, title, pid, "App", x, 25, 800, 600, focused, "App")


def test_clicks_land_on_the_native_point_on_retina() -> None:
    quartz = FakeQuartz(location=(720.4, 450.6))
    adapter = fake_adapter(quartz)
    adapter.click(1000, 700)
    points = [args for name, args in quartz.calls if name == "CGPointMake"]
    assert points == [(1000.0, 700.0)]  # not (500, 350): mss already measures the screen in points
    assert adapter.cursor_position() == (720, 451)


def test_type_text_presses_return_and_keeps_emoji_whole() -> None:
    quartz = FakeQuartz()
    fake_adapter(quartz).type_text("a" * 19 + "😀\nb\tc")
    events = [(e["args"][1], e["args"][2], e["text"]) for e in quartz.posted()]
    assert events == [
        (0, True, (19, "a" * 19)),
        (0, False, (19, "a" * 19)),
        (0, True, (2, "😀")),
        (0, False, (2, "😀")),
        (0x24, True, None),  # Return, not "\n" on the A key
        (0x24, False, None),
        (0, True, (1, "b")),
        (0, False, (1, "b")),
        (0x30, True, None),  # Tab
        (0x30, False, None),
        (0, True, (1, "c")),
        (0, False, (1, "c")),
    ]


def test_move_resize_targets_the_window_by_id() -> None:
    adapter = fake_adapter()
    scripts: list[str] = []
    adapter._osascript = scripts.append
    lists = iter(
        [
            [win(1, "Front", True, pid=100), win(2, "Doc", False, pid=300)],
            [win(1, "Front", True, pid=100), win(2, "Doc", False, pid=300, x=50)],
        ]
    )
    adapter.list_windows = lambda: next(lists)
    result = adapter.move_resize_window(x=50, window_id=2)
    assert result == win(2, "Doc", False, pid=300, x=50)  # that window's fresh entry, not the active one
    assert "first process whose unix id is 300" in scripts[0] and 'name of c is "Doc"' in scripts[0]
    adapter.list_windows = lambda: [win(1, "Front", True)]
    with pytest.raises(ToolError, match="no window with id 99"):
        adapter.move_resize_window(x=0, window_id=99)
    assert len(scripts) == 1  # nothing was moved


def test_focus_window_waits_for_focus_and_returns_the_fresh_entry() -> None:
    adapter = fake_adapter()
    activated: list[int] = []
    app = types.SimpleNamespace(activate=lambda: activated.append(1))
    adapter._appkit.NSRunningApplication = types.SimpleNamespace(
        runningApplicationWithProcessIdentifier_=lambda pid: app
    )
    scripts: list[str] = []
    adapter._osascript = scripts.append
    lists = iter([[win(1, "Front", True, 100), win(2, "Doc", False)]] * 3 + [[win(2, "Doc", True)]])
    adapter.list_windows = lambda: next(lists)
    got = adapter.focus_window("doc")
    assert got == win(2, "Doc", True) and activated == [1]
    assert "first process whose unix id is 300" in scripts[0]
    adapter.list_windows = lambda: [win(1, "Front", True, 100), win(2, "Doc", False)]
    with pytest.raises(ToolError, match="did not bring 'Doc' to the front"):
        adapter.focus_window("doc")


def test_maximize_fills_the_key_screen_flipped_against_the_primary() -> None:
    adapter = fake_adapter(main=SECOND)
    moves: list[tuple[Any, ...]] = []
    adapter.move_resize_window = lambda *args: moves.append(args)
    adapter.is_window_maximized = lambda wid: True
    assert adapter.maximize_window(7)
    assert moves == [(1920, 1055, 1440, -55, 7)]  # width, height, x, y in Quartz points
    adapter = fake_adapter(main=PRIMARY)
    adapter.list_windows = lambda: [WindowInfo(3, "Doc", 1, "App", 0, 25, 1440, 805, True)]
    assert adapter.is_window_maximized(3)  # compared in points, not points times the Retina scale


def test_clipboard_failures_are_tool_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = fake_adapter()

    def timeout(*args: Any, **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(args[0], 5)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise subprocess.CalledProcessError(1, args[0])

    monkeypatch.setattr(macos_adapter.subprocess, "run", timeout)
    with pytest.raises(ToolError, match="timed out"):
        adapter.clipboard_read()
    with pytest.raises(ToolError, match="in time"):
        adapter.clipboard_write("x")
    monkeypatch.setattr(macos_adapter.subprocess, "run", refused)
    with pytest.raises(ToolError, match="exit 1"):
        adapter.clipboard_write("x")


def test_accessibility_root_is_the_window_whose_title_matched() -> None:
    adapter = fake_adapter()
    adapter.list_windows = lambda: [win(1, "Inbox", True), win(2, "Draft", False)]
    attributes = {
        ("app", "AXWindows"): ["ax-inbox", "ax-draft"],
        ("app", "AXFocusedWindow"): "ax-inbox",
        ("ax-inbox", "AXTitle"): "Inbox",
        ("ax-draft", "AXTitle"): "Draft",
    }
    ax = types.SimpleNamespace(
        AXUIElementCreateApplication=lambda pid: "app",
        AXUIElementCopyAttributeValue=lambda el, name, _: (
            (0, attributes[(el, name)]) if (el, name) in attributes else (-25205, None)
        ),
    )
    assert adapter._root(ax, "draft") == "ax-draft"
    assert adapter._root(ax, None) == "ax-inbox"


def test_press_key_uses_the_active_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    quartz = FakeQuartz()
    adapter = fake_adapter(quartz)
    adapter.press_key("cmd+a")  # no Carbon here: US positions
    assert [(e["args"][1], e["flags"]) for e in quartz.posted()] == [(0x00, 0x100000), (0x00, 0x100000)]
    monkeypatch.setattr(macos_adapter, "current_layout_table", lambda: {"a": (0x0C, 0)})  # AZERTY
    quartz.calls.clear()
    adapter.press_key("cmd+a")
    assert [e["args"][1] for e in quartz.posted()] == [0x0C, 0x0C]
