"""Manual control while the agent runs a task: a real ``contop serve`` on the test X session, the scripted model
and the Python client over real WebRTC. The agent drives the same mouse and keyboard, so the phone waits."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from contop.client.client import ContopClient
from contop.core.messages import FAST, UserIntent, UserIntentPayload
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.platform.conftest import xsession  # noqa: F401 - fixture
from tests.server.test_manual import VIDEO, _button1_down, _msg, _pointer, _until

pytestmark = [pytest.mark.x11, pytest.mark.slow]


async def test_manual_control_waits_while_the_agent_runs_a_task(xsession: XSession, tmp_path: Path) -> None:
    steps = tmp_path / "script.json"
    steps.write_text(json.dumps([{"tool": "execute_cli", "args": {"command": "sleep 5"}}, {"text": "slept"}]))
    env = {
        "DISPLAY": xsession.display,
        "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"],
        "CONTOP_EXECUTION_MODEL": f"scripted:{steps}",
    }
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=env).start)
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        client = ContopClient(url, device_id="manual-agent-phone", video=False)
        await client.connect()
        try:
            client.send({"type": "set_manual_mode", "id": "m1", "payload": {"enabled": True}})
            client.send(_msg("mouse_down", x=640, y=360), FAST)  # mid-drag when the run starts
            await _until(lambda: _button1_down(xsession.display), 10, "the phone's press never arrived")

            client.send(UserIntent(payload=UserIntentPayload(text="wait a while")))
            await client.next_message("agent_progress", timeout=30)
            await _until(lambda: not _button1_down(xsession.display), 10, "button 1 still held during the run")
            before = await asyncio.to_thread(_pointer, xsession.display)
            for action in (_msg("click", x=100, y=100), _msg("key", keys="ctrl+c"), _msg("mouse_move", x=10, y=20)):
                refused = (await client.request(action, expect_type="error", timeout=10)).to_dict()["payload"]
                assert refused["code"] == "not_available", refused
                said = "the agent is running a task; manual control waits until it ends or is stopped"
                assert refused["message"] == said
                assert refused["reason"] == "agent_running"
            assert await asyncio.to_thread(_pointer, xsession.display) == before  # nothing reached the desktop

            result = await client.next_message("agent_result", timeout=60)
            assert result.to_dict()["payload"]["answer"] == "slept"
            while (await client.next_message("state_update", timeout=10)).to_dict()["payload"]["ai_state"] != "idle":
                pass
            client.send(_msg("mouse_move", x=131, y=77), FAST)
            target = VIDEO.to_native(131, 77)
            await _until(lambda: _pointer(xsession.display) == target, 10, "the pointer did not move after the run")
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(server.stop)
