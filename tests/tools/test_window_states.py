"""window_list and window_focus with a minimized window and one on another virtual desktop (real Xvfb + openbox):
they are listed, marked, and not on the screenshot; focusing one by title brings it back."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from Xlib import X, Xatom, display
from Xlib.protocol import event as xevent

from contop.platform.base import WindowInfo
from contop.platform.geometry import Rect, ScreenGeometry
from contop.testing.xsession import XSession
from contop.tools.context import ToolContext
from contop.tools.windows import window_focus, window_list, window_row

from .x11 import RecorderApp, desk_env, launch_recorder, recorder, xctx, xsession  # noqa: F401 - fixtures

pytestmark = pytest.mark.x11

ICONIC_STATE = 3


class Wm:
    """Requests to the window manager, as a pager or the user's own clicks would send them."""

    def __init__(self, session: XSession) -> None:
        self.d = display.Display(session.display)
        self.root = self.d.screen().root

    def close(self) -> None:
        self.d.close()

    def window(self, title: str) -> Any:
        clients = self.root.get_full_property(self.d.intern_atom("_NET_CLIENT_LIST"), Xatom.WINDOW).value
        utf8 = self.d.intern_atom("UTF8_STRING")
        for wid in clients:
            win = self.d.create_resource_object("window", int(wid))
            name = win.get_full_property(self.d.intern_atom("_NET_WM_NAME"), utf8)
            if name is not None and name.value.decode() == title:
                return win
        raise AssertionError(f"no window {title!r}")

    def send(self, win: Any, message: str, data: list[int]) -> None:
        ev = xevent.ClientMessage(
            window=win, client_type=self.d.intern_atom(message), data=(32, [*data, 0, 0, 0, 0, 0][:5])
        )
        self.root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self.d.sync()

    def minimize(self, title: str) -> None:
        self.send(self.window(title), "WM_CHANGE_STATE", [ICONIC_STATE])

    def to_desktop(self, title: str, desktop: int) -> None:
        self.send(self.window(title), "_NET_WM_DESKTOP", [desktop, 2])

    def desktops(self) -> int:
        prop = self.root.get_full_property(self.d.intern_atom("_NET_NUMBER_OF_DESKTOPS"), Xatom.CARDINAL)
        return int(prop.value[0]) if prop is not None else 1


def _wait_for(what: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, "the window manager did not do it in time"
        time.sleep(0.05)


@pytest.fixture
def wm(desk_env: XSession) -> Iterator[Wm]:
    client = Wm(desk_env)
    try:
        yield client
    finally:
        client.close()


async def _row(ctx: ToolContext, title: str) -> dict[str, Any]:
    rows = (await window_list(ctx))["windows"]
    return next(r for r in rows if r["title"] == title)


async def test_a_minimized_window_is_listed_as_minimized_and_focus_brings_it_back(
    xctx: ToolContext, recorder: RecorderApp, wm: Wm
) -> None:
    title = "Contop Recorder"
    shown = await _row(xctx, title)
    assert shown["on_screenshot"] and not shown["minimized"] and not shown["on_other_desktop"]
    wm.minimize(title)
    row: dict[str, Any] = {}

    async def minimized() -> bool:
        row.update(await _row(xctx, title))
        return bool(row["minimized"])

    deadline = time.monotonic() + 5
    while not await minimized():
        assert time.monotonic() < deadline, f"openbox did not minimize the window: {row}"
        time.sleep(0.05)
    assert row["on_screenshot"] is False and row["x"] is None and row["width"] is None
    assert row["native"]["width"] > 0  # where it will come back
    focused = await window_focus(xctx, title)
    assert focused["window"]["minimized"] is False and focused["window"]["on_screenshot"] is True
    assert (await _row(xctx, title))["focused"] is True


async def test_a_window_on_another_desktop_is_marked_and_focus_brings_it_here(
    xctx: ToolContext, desk_env: XSession, tmp_path: Path, recorder: RecorderApp, wm: Wm
) -> None:
    if wm.desktops() < 2:
        pytest.skip("the window manager has a single desktop")
    other = launch_recorder(desk_env, tmp_path, title="Elsewhere", geometry="300x200+900+500", color="#cc3333")
    try:
        wm.to_desktop("Elsewhere", 1)
        row: dict[str, Any] = {}
        deadline = time.monotonic() + 5
        while not row.get("on_other_desktop"):
            assert time.monotonic() < deadline, f"openbox did not move the window: {row}"
            time.sleep(0.05)
            row = await _row(xctx, "Elsewhere")
        assert row["on_screenshot"] is False and row["x"] is None and not row["minimized"]
        focused = await window_focus(xctx, "Elsewhere")
        assert focused["window"]["on_other_desktop"] is False and focused["window"]["on_screenshot"] is True
    finally:
        other.stop()
        # Back to the first desktop for the tests after this one.
        wm.send(wm.root, "_NET_CURRENT_DESKTOP", [0, X.CurrentTime])
        _wait_for(lambda: wm.root.get_full_property(wm.d.intern_atom("_NET_CURRENT_DESKTOP"), 0).value[0] == 0)


def test_a_window_not_drawn_has_no_box_on_the_screenshot() -> None:
    geo = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))
    base = WindowInfo(1, "Editor", 42, "editor", 100, 100, 800, 600, focused=False)
    assert window_row(base, geo)["on_screenshot"] is True
    for hidden in (
        WindowInfo(1, "Editor", 42, "editor", 100, 100, 800, 600, focused=False, minimized=True),
        WindowInfo(1, "Editor", 42, "editor", 100, 100, 800, 600, focused=False, on_other_desktop=True),
    ):
        row = window_row(hidden, geo)
        assert row["on_screenshot"] is False and (row["x"], row["width"]) == (None, None)
        assert row["native"] == {"x": 100, "y": 100, "width": 800, "height": 600}
