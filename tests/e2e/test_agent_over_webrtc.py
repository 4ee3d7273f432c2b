"""The agent end to end: a real ``contop serve``, the scripted model, and the Python client over real WebRTC."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.core.messages import (
    AgentConfirmationResponse,
    ConfirmationResponsePayload,
    EmptyPayload,
    Envelope,
    ExecutionStop,
    SessionContext,
    SessionContextPayload,
    UserIntent,
    UserIntentPayload,
)
from contop.testing.server import ServerProcess

pytestmark = pytest.mark.slow


def script(path: Path, steps: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(steps))
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def start_server(home: Path, script_path: Path, record: Path | None = None) -> ServerProcess:
    env = {"CONTOP_EXECUTION_MODEL": f"scripted:{script_path}"}
    if record is not None:
        env["CONTOP_SCRIPTED_RECORD"] = str(record)
    return ServerProcess(home, env=env).start()


def pairing_url(server: ServerProcess) -> str:
    r = server.request("POST", "/api/pair", params={"connection_type": "temp"}, headers={"Accept": "application/json"})
    return str(r.json()["url"])


async def connect(server: ServerProcess, device_id: str = "e2e-phone") -> ContopClient:
    url = await asyncio.to_thread(pairing_url, server)
    client = ContopClient(url, device_id=device_id, video=False)
    await client.connect()
    return client


async def run_until_result(
    client: ContopClient, text: str, *, approve: list[bool] | None = None, timeout: float = 60
) -> list[Envelope]:
    """Send an intent and collect every message up to its agent_result, answering confirmations in order."""
    answers = list(approve or [])
    intent = UserIntent(payload=UserIntentPayload(text=text))
    client.send(intent)
    seen: list[Envelope] = []
    async with asyncio.timeout(timeout):
        async for message in client.messages():
            if message.type == "keepalive":
                continue
            seen.append(message)
            if message.type == "agent_confirmation_request":
                ok = answers.pop(0)
                client.send(
                    AgentConfirmationResponse(payload=ConfirmationResponsePayload(approved=ok, request_id=message.id))
                )
            if message.type == "agent_result":
                assert message.to_dict()["payload"]["ref_id"] == intent.id  # the result names its intent
                return seen
    raise AssertionError("connection closed before agent_result")


def types(messages: list[Envelope]) -> list[str]:
    return [m.type for m in messages]


@pytest.fixture
def server_factory(home: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for srv in started:
        srv.stop()


async def test_intent_creates_a_folder_and_reads_a_file_back(
    tmp_path: Path, home: Path, server_factory: list[ServerProcess]
) -> None:
    target = tmp_path / "work" / "demo"
    steps = script(
        tmp_path / "s.json",
        [
            {"thinking": "Make the folder, write a file, read it back."},
            {
                "tool": "execute_cli",
                "args": {"command": f"mkdir -p {target} && printf 'hello from contop' > {target}/a.txt"},
            },
            {"tool": "read_file", "args": {"file_path": str(target / "a.txt")}},
            {"text": "Done: the file says hello from contop."},
        ],
    )
    server_factory.append(srv := start_server(home, steps))
    client = await connect(srv)
    try:
        seen = await run_until_result(client, "make a demo folder")
    finally:
        await client.aclose()
    kinds = types(seen)
    states = [m.payload.ai_state for m in seen[: kinds.index("agent_progress")] if m.type == "state_update"]  # type: ignore[attr-defined]
    assert states[-1] == "executing"
    assert "agent_thinking" in kinds and "agent_text" in kinds
    progress = [m.payload for m in seen if m.type == "agent_progress"]
    assert [(p.step, p.tool, p.status) for p in progress] == [  # type: ignore[attr-defined]
        (1, "execute_cli", "running"),
        (1, "execute_cli", "completed"),
        (2, "read_file", "running"),
        (2, "read_file", "completed"),
    ]
    results = [m.payload for m in seen if m.type == "tool_result"]
    assert "hello from contop" in (results[1].stdout or "")  # type: ignore[attr-defined]
    final = seen[-1].payload
    assert final.answer == "Done: the file says hello from contop."  # type: ignore[attr-defined]
    assert final.steps_taken == 2 and final.session_id  # type: ignore[attr-defined]
    assert final.tool_summary == {"execute_cli": {"success": 1}, "read_file": {"success": 1}}  # type: ignore[attr-defined]
    assert (target / "a.txt").read_text() == "hello from contop"
    log = next((home / "logs").glob("session-*.jsonl")).read_text()
    assert "mkdir -p" in log and "read_file" in log  # audited


@pytest.mark.parametrize("approved", [True, False])
async def test_destructive_step_asks_the_phone(
    tmp_path: Path, home: Path, server_factory: list[ServerProcess], approved: bool
) -> None:
    victim = tmp_path / "old-data"
    victim.mkdir()
    (victim / "keep.txt").write_text("x")
    steps = script(
        tmp_path / "s.json",
        [
            {"tool": "execute_cli", "args": {"command": f"rm -r {victim}"}},
            {"tool": "execute_cli", "args": {"command": "echo after"}},
            {"text": "Finished."},
        ],
    )
    server_factory.append(srv := start_server(home, steps))
    client = await connect(srv)
    try:
        seen = await run_until_result(client, "clean up old data", approve=[approved])
    finally:
        await client.aclose()
    request = next(m.payload for m in seen if m.type == "agent_confirmation_request")
    assert request.tool == "execute_cli" and str(victim) in request.command  # type: ignore[attr-defined]
    assert request.timeout_s == 60.0  # type: ignore[attr-defined]  # the phone counts it down
    assert victim.exists() is not approved
    first, second = [m.payload for m in seen if m.type == "tool_result"]
    assert first.status == ("success" if approved else "rejected")  # type: ignore[attr-defined]
    assert second.status == "success" and "after" in (second.stdout or "")  # the agent carried on  # type: ignore[attr-defined]


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(int(entry))
    return found


async def test_stop_during_sleep_leaves_nothing_running_and_busy_is_refused(
    tmp_path: Path, home: Path, server_factory: list[ServerProcess]
) -> None:
    marker = "30.0317"  # a sleep length no other process on the machine uses
    steps = script(
        tmp_path / "s.json", [{"tool": "execute_cli", "args": {"command": f"sleep {marker}"}}, {"text": "x"}]
    )
    server_factory.append(srv := start_server(home, steps))
    client = await connect(srv)
    try:
        client.send(UserIntent(payload=UserIntentPayload(text="wait a long time")))
        await client.next_message("agent_progress", timeout=30)
        deadline = time.monotonic() + 10
        while not _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert _processes_with(f"sleep {marker}")
        busy = await client.request(UserIntent(payload=UserIntentPayload(text="another")), expect_type="error")
        assert busy.payload.code == "busy"  # type: ignore[attr-defined]
        stopped_at = time.monotonic()
        client.send(ExecutionStop(payload=EmptyPayload()))
        result = await client.next_message("agent_result", timeout=10)
        assert time.monotonic() - stopped_at < 3  # within 1 s on an idle machine; this one is shared
        assert result.payload.model_extra.get("status") == "cancelled"  # type: ignore[union-attr]
        # A stop with nothing left to stop is answered too (the phone's Stop button waits for an answer).
        after_run = await client.next_message("state_update", timeout=10)
        assert after_run.to_dict()["payload"]["ai_state"] == "idle"
        client.send(ExecutionStop(payload=EmptyPayload()))
        idle = await client.next_message("state_update", timeout=10)
        assert idle.to_dict()["payload"]["ai_state"] == "idle"
    finally:
        await client.aclose()
    await asyncio.sleep(0.5)
    assert _processes_with(f"sleep {marker}") == []


async def test_conversation_is_restored_after_a_server_restart(
    tmp_path: Path, home: Path, server_factory: list[ServerProcess]
) -> None:
    steps = script(tmp_path / "s.json", [{"text": "Noted: your favourite colour is teal."}])
    record = tmp_path / "record.jsonl"
    srv = start_server(home, steps, record)
    client = await connect(srv)
    try:
        first = (await run_until_result(client, "remember that my favourite colour is teal"))[-1]
    finally:
        await client.aclose()
    session_id = first.payload.session_id  # type: ignore[attr-defined]
    assert srv.stop() == 0
    server_factory.append(srv2 := start_server(home, steps, record))
    client = await connect(srv2)
    try:
        client.send(SessionContext(payload=SessionContextPayload(session_id=session_id)))
        second = (await run_until_result(client, "what is my favourite colour?"))[-1]
        restored = json.dumps(json.loads(record.read_text().splitlines()[-1]))
        # A conversation the desktop does not have (older than 7 days): the next request starts a new one, it
        # does not go on with the conversation open before (the phone would show it under the other's title).
        unknown = await client.request(
            SessionContext(payload=SessionContextPayload(session_id="nope")), expect_type="error"
        )
        third = (await run_until_result(client, "a question for the reopened conversation"))[-1]
    finally:
        await client.aclose()
    assert second.payload.session_id == session_id  # type: ignore[attr-defined]
    assert "favourite colour is teal" in restored and "what is my favourite colour?" in restored
    assert unknown.payload.code == "invalid_payload"  # type: ignore[attr-defined]
    assert "the next request starts a new conversation" in unknown.payload.message  # type: ignore[attr-defined]
    assert third.payload.session_id not in (session_id, "nope")  # type: ignore[attr-defined]
    fresh = json.dumps(json.loads(record.read_text().splitlines()[-1]))
    assert "a question for the reopened conversation" in fresh and "teal" not in fresh


async def test_no_model_configured_explains_how(tmp_path: Path, home: Path) -> None:
    with ServerProcess(home, env={"CONTOP_EXECUTION_MODEL": ""}) as srv:
        client = await connect(srv)
        try:
            seen = await run_until_result(client, "hello?")
        finally:
            await client.aclose()
    answer = seen[-1].payload.answer  # type: ignore[attr-defined]
    assert "GEMINI_API_KEY" in answer and "settings" in answer.lower()
    assert "agent_progress" not in types(seen)


async def test_the_phone_can_only_choose_a_model_the_desktop_offers(
    tmp_path: Path, home: Path, server_factory: list[ServerProcess]
) -> None:
    """A ``scripted:`` file named by the phone would be read by the server, past the gate (the state directory
    is protected): only the models of ``state_update.models`` may be chosen."""
    offered = script(tmp_path / "s.json", [{"text": "the configured model answered"}])
    server_factory.append(srv := start_server(home, offered))
    secret = script(home / "private.json", [{"text": "SECRET-FROM-THE-STATE-DIRECTORY"}])
    client = await connect(srv)
    try:
        for model in (f"scripted:{secret}", "openai:gpt-4.1", 42):
            intent = UserIntent(payload=UserIntentPayload.model_validate({"text": "hello", "model": model}))
            error = (await client.request(intent, expect_type="error")).to_dict()["payload"]
            assert error["code"] == "invalid_payload" and error["ref_id"] == intent.id, error
            assert "not one this desktop offers" in error["message"] and f"scripted:{offered}" in error["message"]
            assert "SECRET" not in json.dumps(error)
        intent = UserIntent(payload=UserIntentPayload.model_validate({"text": "hello", "model": f"scripted:{offered}"}))
        result = await client.request(intent, expect_type="agent_result")
    finally:
        await client.aclose()
    assert result.to_dict()["payload"]["answer"] == "the configured model answered"


async def test_a_server_stopped_mid_run_tells_the_phone_the_run_ended_and_why(home: Path, tmp_path: Path) -> None:
    """The phone got no agent_result before the link closed, and after reconnecting only 'idle'."""
    marker = tmp_path / "finished"
    steps = [{"tool": "execute_cli", "args": {"command": f"sleep 30; touch {marker}"}}, {"text": "slept"}]
    server = start_server(home, script(tmp_path / "s.json", steps))
    try:
        client = await connect(server)
        try:
            intent = UserIntent(payload=UserIntentPayload(text="sleep"))
            client.send(intent)
            await client.next_message("agent_progress", timeout=30)
            await asyncio.sleep(0.5)
            stopping = asyncio.create_task(asyncio.to_thread(server.stop))
            result = await client.next_message("agent_result", timeout=20)
            await stopping
        finally:
            await client.aclose()
    finally:
        server.stop()
    payload = result.to_dict()["payload"]
    assert payload["ref_id"] == intent.id and payload["status"] == "cancelled", payload
    assert "shutting down" in payload["answer"], payload
    assert not marker.exists()
