"""The agent sees the screen: two observe_screen calls through a real ``contop serve`` on the test X session; the
model receives each screenshot as an image, and only the newest one is kept in a request."""

# ruff: noqa: F811 - the X fixture is imported into this module by name, then used as an argument

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from contop.client.client import ContopClient
from contop.core.messages import UserIntent, UserIntentPayload
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.platform.conftest import xsession  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.x11]


async def test_screenshots_reach_the_model_as_images_and_older_ones_are_dropped(
    xsession: XSession, tmp_path: Path
) -> None:
    steps = tmp_path / "steps.json"
    steps.write_text(
        json.dumps(
            [
                {"tool": "observe_screen", "args": {"mode": "grounding"}},
                {"tool": "observe_screen", "args": {"mode": "understanding"}},
                {"text": "I looked at the screen twice."},
            ]
        )
    )
    record = tmp_path / "record.jsonl"
    env = {
        "CONTOP_EXECUTION_MODEL": f"scripted:{steps}",
        "CONTOP_SCRIPTED_RECORD": str(record),
        "DISPLAY": xsession.display,
        "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"],
    }
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=env).start)
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        client = ContopClient(url, device_id="observe-phone", video=False)
        await client.connect()
        results = []
        try:
            client.send(UserIntent(payload=UserIntentPayload(text="look at my screen")))
            async with asyncio.timeout(90):
                async for message in client.messages():
                    if message.type == "tool_result":
                        results.append(message.payload.model_dump())
                    if message.type == "agent_result":
                        break
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(server.stop)
    assert [p["tool"] for p in results] == ["observe_screen", "observe_screen"], server.all_logs()[-3000:]
    assert all(p["status"] == "success" for p in results), results
    requests = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(requests) == 3
    assert requests[0]["images"] == 0
    assert requests[1]["images"] == 1
    assert requests[2]["images"] == 1  # two screenshots taken, only the newest is sent
