"""Manual control and the agent's mouse after the X server restarts on the same display, through a real ``contop
serve``, a real WebRTC phone and a real Xvfb killed and started again inside the test: the first action after the
restart works, whichever of them opened the desktop, with or without Away Mode's lock screen up. Also the Away Mode
idle watch, which holds an X connection of its own.

Before, the desktop was checked on a connection opened lazily: opened after the restart, it answered from the new
server while the mouse and keyboard stayed on a connection to the old one, broken until Contop restarted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.server.away import AwayModeController, AwayTiming
from contop.server.manual import AWAY_REFUSAL
from contop.server.settings_store import SettingsStore
from contop.testing.server import ServerProcess
from tests.transport.test_video_x_restart import RestartableXvfb, xvfb  # noqa: F401 - fixture

pytestmark = [pytest.mark.x11, pytest.mark.slow, pytest.mark.timeout(180)]

PIN = "8642"
ACTION_S = 5.0  # how long one action may take to show on the screen, the desktop opened anew included


def manual(action: str, **payload: Any) -> dict[str, Any]:
    return {"type": "manual_control", "id": str(uuid.uuid4()), "payload": {"action": action, **payload}}


def tool_call(tool: str, **args: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": str(uuid.uuid4()), "payload": {"tool": tool, "args": args}}


def pointer(display: str) -> tuple[int, int] | None:
    """Where the X server has the pointer, on a connection of the test's own (None: the server is down)."""
    from contop.platform.linux.xconnect import close_display, open_display

    connection = open_display(display, "test probe")
    if connection is None:
        return None
    try:
        reply = connection.screen().root.query_pointer()
        return int(reply.root_x), int(reply.root_y)
    finally:
        close_display(connection, "test probe")


@pytest.fixture
async def phone(xvfb: RestartableXvfb, tmp_path: Path) -> AsyncIterator[tuple[ContopClient, ServerProcess]]:  # noqa: F811
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=xvfb.child_env()).start)
    try:
        pin = await asyncio.to_thread(server.request, "POST", "/api/away-mode/pin", json={"pin": PIN})
        pin.raise_for_status()
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="x-restart-phone", video=False) as client:
            yield client, server
    finally:
        await asyncio.to_thread(server.request, "POST", "/api/away-mode/disengage")
        await asyncio.to_thread(server.stop)


async def manual_move(client: ContopClient, xvfb: RestartableXvfb, x: int, y: int) -> None:  # noqa: F811
    """One manual pointer move from the phone; it must reach the X server (the screen is the 1280-wide video)."""
    client.discard_received()
    client.send(manual("mouse_move", x=x, y=y))
    deadline = time.monotonic() + ACTION_S
    while await asyncio.to_thread(pointer, xvfb.display) != (x, y):
        if time.monotonic() > deadline:
            try:
                error = (await client.next_message("error", timeout=0.5)).to_dict()["payload"]
            except TimeoutError:
                error = None
            raise AssertionError(f"the manual move to ({x}, {y}) did not happen; the server said {error}")
        await asyncio.sleep(0.05)


async def agent_move(client: ContopClient, xvfb: RestartableXvfb, x: int, y: int) -> None:  # noqa: F811
    """One ``execute_gui`` move, as ``contop run --tool execute_gui`` sends it; it must succeed and be done."""
    reply = await client.request(tool_call("execute_gui", action="move_mouse", x=x, y=y), expect_type="tool_result",
                                 timeout=ACTION_S * 4)  # fmt: skip
    payload = reply.to_dict()["payload"]
    assert payload.get("status") == "success", payload
    assert await asyncio.to_thread(pointer, xvfb.display) == (x, y)


async def agent_move_fails(client: ContopClient, x: int, y: int) -> None:
    reply = await client.request(tool_call("execute_gui", action="move_mouse", x=x, y=y), expect_type="tool_result",
                                 timeout=ACTION_S * 4)  # fmt: skip
    payload = reply.to_dict()["payload"]
    assert payload.get("status") == "error", payload


async def restart(xvfb: RestartableXvfb) -> None:  # noqa: F811
    await asyncio.to_thread(xvfb.kill)
    await asyncio.to_thread(xvfb.start_again)


@pytest.mark.parametrize("first", ["manual", "agent"])
async def test_the_first_actions_after_an_x_server_restart_work(
    phone: tuple[ContopClient, ServerProcess],
    xvfb: RestartableXvfb,  # noqa: F811
    first: str,
) -> None:
    """Whichever opened the desktop, nothing checked it before the X server restarted (as at QA's): both the
    phone's and the agent's next moves must go to the new server, not fail with a broken pipe."""
    client, server = phone
    if first == "manual":
        await manual_move(client, xvfb, 100, 100)
    else:
        await agent_move(client, xvfb, 100, 100)
    await restart(xvfb)
    await manual_move(client, xvfb, 300, 200)
    await agent_move(client, xvfb, 400, 250)
    await manual_move(client, xvfb, 500, 300)
    assert "opened anew" in server.log()


async def test_after_a_failing_action_while_the_x_server_is_down_the_next_one_works(
    phone: tuple[ContopClient, ServerProcess],
    xvfb: RestartableXvfb,  # noqa: F811
) -> None:
    """X killed, an action that fails (the phone's and the agent's), X back, the next action works."""
    client, _server = phone
    await agent_move(client, xvfb, 100, 100)
    await manual_move(client, xvfb, 150, 120)
    await asyncio.to_thread(xvfb.kill)
    await agent_move_fails(client, 200, 200)
    client.send(manual("mouse_move", x=220, y=220))
    error = (await client.next_message("error", timeout=ACTION_S)).to_dict()["payload"]
    assert error["code"] == "not_available", error
    await asyncio.sleep(2.5)  # past manual control's pause before it tries a display that failed again
    await asyncio.to_thread(xvfb.start_again)
    await manual_move(client, xvfb, 300, 200)
    await agent_move(client, xvfb, 400, 250)


async def test_with_away_mode_engaged_the_phones_pointer_works_after_an_x_server_restart(
    phone: tuple[ContopClient, ServerProcess],
    xvfb: RestartableXvfb,  # noqa: F811
) -> None:
    """The lock screen is up when the X server restarts: it is put back on the new server, the phone's pointer
    and the agent's mouse work again, and keys are refused because of the lock screen, not a dead connection."""
    client, server = phone
    await manual_move(client, xvfb, 100, 100)
    engaged = await asyncio.to_thread(server.request, "POST", "/api/away-mode/engage")
    assert engaged.status_code == 200, engaged.text
    key = manual("key", keys="enter")
    refusal = (await client.request(key, expect_type="error", timeout=ACTION_S)).to_dict()["payload"]
    assert refusal["message"] == AWAY_REFUSAL, refusal

    await restart(xvfb)
    await manual_move(client, xvfb, 300, 200)
    await agent_move(client, xvfb, 400, 250)
    deadline = time.monotonic() + 20
    while not (await asyncio.to_thread(server.request, "GET", "/api/away-mode/status")).json()["overlay_active"]:
        assert time.monotonic() < deadline, "the lock screen was not put back on the restarted X server"
        await asyncio.sleep(0.2)
    key = manual("key", keys="enter")
    refusal = (await client.request(key, expect_type="error", timeout=ACTION_S)).to_dict()["payload"]
    assert refusal["message"] == AWAY_REFUSAL, refusal
    await manual_move(client, xvfb, 500, 300)


async def test_the_away_mode_idle_watch_reads_the_idle_time_after_an_x_server_restart(
    xvfb: RestartableXvfb,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb.display)
    home = tmp_path / "home"
    home.mkdir()
    store = SettingsStore(home / "settings.json", state_dir_display=str(home))
    store.load()
    ctl = AwayModeController(store, timing=AwayTiming(poll_interval=3600))
    try:
        await ctl.start()
        read = ctl._idle_source  # what the idle watch calls every poll_interval
        assert read is not None
        assert await asyncio.to_thread(read) >= 0.0
        await restart(xvfb)
        assert await asyncio.to_thread(read) >= 0.0  # on a new connection, not the dead one
    finally:
        await ctl.aclose()
