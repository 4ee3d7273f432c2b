"""The server's audit log never holds a secret: a real ``contop serve``, a phone over real WebRTC, and the agent on
the scripted model, each handed the admin token, a pairing token, an API key or a model server's password."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.core.messages import UserIntent, UserIntentPayload
from contop.security.audit import REDACTED
from contop.testing.server import ServerProcess

pytestmark = pytest.mark.slow

API_KEY = "or-key-" + "7e3f9a41c2d84b6a"  # no provider's key shape: only the server knowing it can hide it
URL_PASSWORD = "pw-" + "5d1c8e2b7a9f4036"


def tool_call(command: str) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": str(uuid.uuid4()),
        "payload": {"tool": "execute_cli", "args": {"command": command}},
    }


async def run_tool(client: ContopClient, command: str) -> dict[str, Any]:
    reply = await client.request(tool_call(command), expect_type="tool_result", timeout=30)
    payload = reply.to_dict()["payload"]
    assert reply.type == "tool_result", payload
    return dict(payload)


def holding(logs: Path, secret: str) -> list[str]:
    """The files under ``logs`` whose bytes contain ``secret`` (what ``grep -rl`` would list)."""
    return sorted(str(p) for p in logs.rglob("*") if p.is_file() and secret.encode() in p.read_bytes())


async def test_tokens_keys_and_passwords_are_redacted_in_the_audit_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    steps = tmp_path / "script.json"
    steps.write_text(json.dumps([{"tool": "execute_cli", "args": {"command": "echo agent-step"}}, {"text": "done"}]))
    server = await asyncio.to_thread(ServerProcess(home, env={"CONTOP_EXECUTION_MODEL": f"scripted:{steps}"}).start)
    try:
        admin = server.admin_token
        settings = (await asyncio.to_thread(server.request, "GET", "/api/settings")).json()
        settings["openrouter_api_key"] = API_KEY
        settings["local_model_base_url"] = f"http://contop:{URL_PASSWORD}@127.0.0.1:9/v1"
        put = await asyncio.to_thread(server.request, "PUT", "/api/settings", json=settings)
        assert put.status_code == 200, put.text
        paired = await asyncio.to_thread(server.pair, connection_type="temp")
        token = paired["token"]
        client = ContopClient(paired["url"], device_id="audit-phone", video=False)
        await client.connect()
        try:
            for secret in (token, admin, API_KEY, URL_PASSWORD):
                result = await run_tool(client, f"echo {secret}")
                assert result["status"] == "success", result
            client.send(UserIntent(payload=UserIntentPayload(text=f"my admin token is {admin}, keep it safe")))
            answer = await client.next_message("agent_result", timeout=60)
            assert answer.to_dict()["payload"]["answer"] == "done"
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(server.stop)

    logs = home / "logs"
    audit = "\n".join(p.read_text() for p in logs.glob("session-*.jsonl"))
    assert "echo agent-step" in audit and "keep it safe" in audit  # the calls were audited
    for secret in (token, admin, API_KEY, URL_PASSWORD):
        assert holding(logs, secret) == [], f"a secret is in plain text in {holding(logs, secret)}"
    commands = [json.loads(line)["classified_command"] for line in audit.splitlines()]
    assert commands.count(f"echo {REDACTED}") == 8  # each of the four calls, before and after it ran
    assert f"my admin token is {REDACTED}, keep it safe" in audit
