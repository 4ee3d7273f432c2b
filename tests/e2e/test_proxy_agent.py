"""An intent through the agent with a subscription-proxy model: a real ``contop serve`` whose anthropic models go
through a real ``contop proxy anthropic`` over a fake ``claude``, driven by the Python client over WebRTC."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.client.client import ContopClient
from contop.core.messages import UserIntent, UserIntentPayload
from contop.testing.server import ServerProcess
from tests.proxy.proxyproc import ProxyProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOOL_CALL = (
    'I will run it.\n```json\n{"tool_calls": [{"name": "execute_cli", "arguments": {"command": "echo hi"}}]}\n```'
)
FINAL = "The command printed hi."


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ProxyProcess]:
    proc = ProxyProcess(tmp_path / "proxy", "anthropic")
    proc.steps([{"reply": TOOL_CALL}, {"reply": FINAL}])
    yield proc.start()
    proc.stop()


@pytest.fixture
def server(tmp_path: Path, proxy: ProxyProcess) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "home").start()
    settings = srv.request("GET", "/api/settings").json()
    settings["provider_auth"]["anthropic"] = {"mode": "cli_proxy", "proxy_url": f"{proxy.url}/v1"}
    settings["execution_model"] = "anthropic:claude-sonnet-4-5"
    assert srv.request("PUT", "/api/settings", json=settings).status_code == 200
    yield srv
    srv.stop()


async def test_intent_runs_a_tool_through_the_proxy(server: ServerProcess, proxy: ProxyProcess) -> None:
    health = await asyncio.to_thread(server.request, "POST", "/api/provider-health", json={"provider": "anthropic"})
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok" and health.json()["auth_type"] == "cli_proxy"
    assert "claude-sonnet-4-5" in health.json()["models"]
    other = await asyncio.to_thread(server.request, "POST", "/api/provider-health", json={"provider": "gemini"})
    assert other.json()["auth_type"] == "api_key"

    r = await asyncio.to_thread(
        server.request, "POST", "/api/pair", params={"connection_type": "temp"}, headers={"Accept": "application/json"}
    )
    client = ContopClient(r.json()["url"], device_id="proxy-phone", video=False)
    await client.connect()
    try:
        pushed = await asyncio.to_thread(server.request, "POST", "/api/notify-proxy-change")
        assert pushed.status_code == 200 and pushed.json()["pushed"] == 1
        assert pushed.json()["provider_auth"]["anthropic"]["mode"] == "cli_proxy"
        update = await client.next_message("state_update", timeout=10)
        models = update.payload.model_dump()["models"]
        assert models[0]["id"] == "anthropic:claude-sonnet-4-5" and models[0]["vision"] is False

        client.send(UserIntent(payload=UserIntentPayload(text="say hi in the terminal")))
        seen = []
        async with asyncio.timeout(90):
            async for message in client.messages():
                if message.type != "keepalive":
                    seen.append(message)
                if message.type == "agent_result":
                    break
    finally:
        await client.aclose()
    progress = [m.payload for m in seen if m.type == "agent_progress"]
    assert [(p.tool, p.status) for p in progress] == [("execute_cli", "running"), ("execute_cli", "completed")]  # type: ignore[attr-defined]
    result = next(m.payload for m in seen if m.type == "tool_result")
    assert "hi" in (result.stdout or "")  # type: ignore[attr-defined]
    final = seen[-1].payload
    assert final.answer == FINAL, server.log()  # type: ignore[attr-defined]
    assert final.steps_taken == 1  # type: ignore[attr-defined]

    calls = proxy.calls()
    assert len(calls) == 2
    assert "execute_cli" in calls[0]["stdin"] and "say hi in the terminal" in calls[0]["stdin"]
    assert "echo hi" in calls[1]["stdin"]  # the tool result was fed back with the call
    logs = list((proxy.home / "logs").glob("llm-sub-*.log"))
    assert len(logs) == 1  # one session, named by the x-contop-session header
    assert len(logs[0].read_text().splitlines()) == 2
    assert json.loads(logs[0].read_text().splitlines()[0])["tool_calls"] == ["execute_cli"]
