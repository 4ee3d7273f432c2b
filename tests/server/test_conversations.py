"""Which conversation a request continues, when the phone reopens one and asks at once: a real server, the
scripted model and the Python client over real WebRTC."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.testing.server import ServerProcess

pytestmark = pytest.mark.slow


def _msg(type_: str, **payload: Any) -> dict[str, Any]:
    return {"type": type_, "id": f"{type_}-{id(payload)}", "payload": payload}


@contextlib.asynccontextmanager
async def _scripted_client(tmp_path: Path, steps: list[dict[str, Any]], device_id: str) -> AsyncIterator[ContopClient]:
    """A real server replaying ``steps`` (the scripted model) and a Python client connected to it as a phone."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(steps))
    server = await asyncio.to_thread(
        ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{script}"}).start
    )
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        client = ContopClient(url, device_id=device_id, video=False)
        await client.connect()
        try:
            yield client
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(server.stop)


async def _answer(client: ContopClient) -> dict[str, Any]:
    return dict((await client.next_message("agent_result", timeout=30)).to_dict()["payload"])


async def test_an_unknown_conversation_reopened_right_before_a_request_is_not_continued(tmp_path: Path) -> None:
    steps: list[dict[str, Any]] = [{"text": "one"}, {"text": "two"}, {"text": "three"}]
    async with _scripted_client(tmp_path, steps, "context-phone") as client:
        # The phone sends both at once, as the app does when a conversation is picked from History.
        client.send(_msg("session_context", session_id="made-up-by-the-phone"))
        client.send(_msg("user_intent", text="first"))
        refused = (await client.next_message("error", timeout=30)).to_dict()["payload"]
        assert "no stored conversation 'made-up-by-the-phone'" in refused["message"], refused
        first = await _answer(client)
        assert first["answer"] == "one" and first["session_id"] != "made-up-by-the-phone", first
        client.send(_msg("user_intent", text="second"))
        second = await _answer(client)
        assert second["session_id"] == first["session_id"], "the follow-up lost the first turn"

        # A conversation that exists, reopened right before a request, is the one continued.
        client.send(_msg("new_session"))
        client.send(_msg("session_context", session_id=first["session_id"]))
        client.send(_msg("user_intent", text="third"))
        third = await _answer(client)
        assert third["session_id"] == first["session_id"], third


async def test_a_request_sent_right_after_a_stop_runs_instead_of_being_refused_busy(tmp_path: Path) -> None:
    steps = [{"tool": "execute_cli", "args": {"command": "sleep 3"}}, {"text": "after"}]
    async with _scripted_client(tmp_path, steps, "stop-phone") as client:
        client.send(_msg("user_intent", text="sleep"))
        await client.next_message("agent_progress", timeout=30)
        client.send(_msg("execution_stop"))
        client.send(_msg("user_intent", text="now something else"))
        replies = [(await client.next_message("agent_result", "error", timeout=30)).to_dict() for _ in range(2)]
        assert [r["type"] for r in replies] == ["agent_result", "agent_result"], replies  # not "busy"
        assert replies[0]["payload"]["status"] == "cancelled", replies
        assert replies[1]["payload"]["answer"] == "after", replies
