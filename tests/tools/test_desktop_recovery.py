"""The display tools after the X server restarts on the same display: they fail while it is down, and work again
once it is back, without restarting Contop. A real Xvfb, killed and started again inside the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.core.errors import ToolError
from contop.tools import desktop as desktop_mod
from contop.tools.context import ToolContext
from contop.tools.gui import execute_gui
from tests.transport.test_video_x_restart import RestartableXvfb, xvfb  # noqa: F401 - fixture

pytestmark = [pytest.mark.x11, pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def restart_ctx(xvfb: RestartableXvfb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ToolContext]:  # noqa: F811
    desktop_mod.forget_desktop(None)
    monkeypatch.setenv("DISPLAY", xvfb.display)
    try:
        yield ToolContext(session_id="x-restart", state_dir=tmp_path / "state", home=str(tmp_path), cwd=str(tmp_path))
    finally:
        desktop_mod.forget_desktop(None)


async def pointer(ctx: ToolContext) -> tuple[int, int]:
    desk = await desktop_mod.desktop()
    position: tuple[int, int] = await desktop_mod.run(desk.adapter.cursor_position)
    return position


async def test_the_tools_work_again_after_the_x_server_restarts(
    restart_ctx: ToolContext,
    xvfb: RestartableXvfb,  # noqa: F811
) -> None:
    ctx = restart_ctx
    await execute_gui(ctx, "move_mouse", x=100, y=100)
    before = await desktop_mod.desktop()
    assert await pointer(ctx) == (100, 100)  # 1280x720: the screenshot is the screen

    xvfb.kill()
    with pytest.raises(ToolError):
        await execute_gui(ctx, "move_mouse", x=200, y=200)
    with pytest.raises(ToolError):
        await pointer(ctx)

    xvfb.start_again()
    await execute_gui(ctx, "move_mouse", x=300, y=200)
    assert await pointer(ctx) == (300, 200)
    assert await desktop_mod.desktop() is not before  # opened anew on the new server
    await execute_gui(ctx, "press_key", key="shift")


async def test_the_phones_input_works_again_after_the_x_server_restarts(
    restart_ctx: ToolContext,
    xvfb: RestartableXvfb,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Manual control keeps its desktop between actions; it must notice a new X server too."""
    from contop.core.messages import parse_phone_message
    from contop.server import manual
    from tests.server.test_manual import RecordingSession, _msg

    monkeypatch.setattr(manual, "DESK_CHECK_S", 0.2, raising=False)
    control, session = manual.ManualControl(lambda _session: (1280, None)), RecordingSession()

    async def move(x: int, y: int) -> None:
        await control.on_manual_control(session, parse_phone_message(json.dumps(_msg("mouse_move", x=x, y=y))))

    try:
        await move(100, 100)
        assert await pointer(restart_ctx) == (100, 100)
        xvfb.kill()
        xvfb.start_again()
        await asyncio.sleep(0.3)
        session.sent.clear()
        await move(300, 200)
        assert not session.sent, session.sent  # no error: it went to the new X server
        assert await pointer(restart_ctx) == (300, 200)
    finally:
        await control.aclose()
