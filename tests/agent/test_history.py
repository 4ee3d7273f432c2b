"""The sessions store: conversations kept per session, restored after a restart, images stripped."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_ai.messages import BinaryContent, ModelRequest, ModelResponse, TextPart, UserPromptPart

from contop.agent.events import RecordingEvents
from contop.agent.history import STRIPPED_NOTE, SessionStore
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(60)


async def test_history_is_reused_and_restored_from_a_fresh_store(env: Env) -> None:
    env.script([{"text": "first answer"}], "one.json")
    service = env.service()
    first = await run_intent(service, "remember the word tulip", RecordingEvents(), session_id="s-1")
    assert first.session_id == "s-1"
    env.close()
    env.store = None  # a server restart: a new store on the same file
    env.script([{"text": "second answer"}], "two.json")
    env.record.unlink()
    service = env.service()
    await run_intent(service, "what was the word?", RecordingEvents(), session_id="s-1")
    seen = env.received()[0]["parts"]
    texts = [p["text"] for p in seen]
    assert "remember the word tulip" in texts and "first answer" not in texts  # responses are not request parts
    assert texts[-1] == "what was the word?"
    # new_session: forgotten
    await service.forget("s-1")
    env.record.unlink()
    env.script([{"text": "third"}], "three.json")
    await run_intent(service, "fresh", RecordingEvents(), session_id="s-1")
    assert [p["text"] for p in env.received()[0]["parts"]] == ["fresh"]


async def test_images_are_stripped_before_storing(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions.db")
    store.open()
    image = BinaryContent(data=b"\x89PNG" + b"0" * 5000, media_type="image/png")
    await store.save(
        "s", [ModelRequest(parts=[UserPromptPart(content=["see", image])]), ModelResponse(parts=[TextPart("ok")])]
    )
    restored = await store.load("s")
    assert restored[0].parts[0].content == ["see", STRIPPED_NOTE]  # type: ignore[union-attr]
    raw = sqlite3.connect(tmp_path / "sessions.db").execute("SELECT messages FROM sessions").fetchone()[0]
    assert len(raw) < 2000
    store.close()


async def test_a_conversation_holding_a_lone_surrogate_is_still_stored(tmp_path: Path) -> None:
    # A model may write "\ud800" in its JSON; the conversation was lost ("could not store the conversation").
    store = SessionStore(tmp_path / "sessions.db")
    store.open()
    asked = ModelRequest(parts=[UserPromptPart(content="open r\udce9sum\udce9.txt")])
    await store.save("s", [asked, ModelResponse(parts=[TextPart("done \ud83d")])])
    restored = await store.load("s")
    assert restored[0].parts[0].content == "open r\ufffdsum\ufffd.txt"  # type: ignore[union-attr]
    assert restored[1].parts[0].content == "done \ufffd"  # type: ignore[union-attr]
    store.close()


def test_old_rows_are_deleted_at_start(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SessionStore(path)
    store.open()
    store.save_sync("old", [ModelRequest(parts=[UserPromptPart("x")])])
    store.save_sync("new", [ModelRequest(parts=[UserPromptPart("y")])])
    store.close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("UPDATE sessions SET updated_at = ? WHERE session_id = 'old'", (time.time() - 8 * 86400,))
    again = SessionStore(path)
    assert again.open() == 1
    assert not again.exists_sync("old") and again.exists_sync("new")
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


@pytest.mark.parametrize("sweep_s", [0.0, 3600.0])
def test_a_running_server_neither_resumes_nor_keeps_a_conversation_past_7_days(tmp_path: Path, sweep_s: float) -> None:
    path = tmp_path / "sessions.db"
    store = SessionStore(path, sweep_s=sweep_s)
    store.open()
    store.save_sync("old", [ModelRequest(parts=[UserPromptPart("secret plans")])])
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:  # 8 days pass, the server runs on
        db.execute("UPDATE sessions SET updated_at = ? WHERE session_id = 'old'", (time.time() - 8 * 86400,))
    assert store.load_sync("old") == [] and not store.exists_sync("old")
    store.save_sync("new", [ModelRequest(parts=[UserPromptPart("y")])])
    store.load_sync("new")
    with contextlib.closing(sqlite3.connect(path)) as db:
        left = {row[0] for row in db.execute("SELECT session_id FROM sessions")}
    assert left == ({"new"} if sweep_s == 0 else {"old", "new"})  # deleted by the next sweep, hourly by default
    store.close()


def test_a_corrupt_database_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "data" / "sessions.db"
    path.parent.mkdir()
    path.write_bytes(b"this is not sqlite at all" * 100)
    store = SessionStore(path)
    store.open()
    aside = list(path.parent.glob("sessions.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not sqlite")
    assert "moved to" in caplog.text
    store.save_sync("s", [ModelRequest(parts=[UserPromptPart("x")])])
    assert store.load_sync("s")[0].parts[0].content == "x"  # type: ignore[union-attr]
    store.close()


async def test_model_call_log_is_written_without_keys(env: Env) -> None:
    env.settings = env.settings.model_copy(update={"openai_api_key": "sk-never-logged-1234"})
    env.script([{"tool": "get_action_history", "args": {}}, {"text": "ok"}])
    result = await run_intent(env.service(), "x", RecordingEvents(), session_id="abcdef0123456789")
    assert result.status == "completed"
    logs = list((env.state / "logs").glob("llm-abcdef01-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert '"event": "response"' in text and "get_action_history" in text and "sk-never" not in text
    requests = [json.loads(line) for line in text.splitlines() if '"event": "request"' in line]
    assert [r["n"] for r in requests] == [1, 2]
    assert all(r["tools"] > 20 for r in requests), requests  # the tools the model was offered, not 0
    assert requests[0]["messages"] == 1 and requests[1]["messages"] == 3, requests  # the prompt; + call, result
    assert logs[0].stat().st_mode & 0o777 == 0o600  # it holds the prompts


async def test_service_open_owns_the_store(tmp_path: Path) -> None:
    from contop.agent.run import AgentService
    from contop.core.settings import Settings

    service = AgentService.open(state_dir=tmp_path, settings=Settings)
    assert service.store is not None and (tmp_path / "data" / "sessions.db").exists()
    await service.aclose()
    with pytest.raises(RuntimeError):
        service.store.load_sync("x")


def test_stored_history_keeps_the_last_turns_whole() -> None:
    from contop.agent.history import cap_turns

    messages: list[ModelRequest | ModelResponse] = []
    for i in range(5):
        messages += [ModelRequest(parts=[UserPromptPart(f"q{i}")]), ModelResponse(parts=[TextPart(f"a{i}")])]
    kept = cap_turns(messages, 2)
    assert [m.parts[0].content for m in kept] == ["q3", "a3", "q4", "a4"]  # type: ignore[union-attr]
    assert cap_turns(messages, 10) == messages


async def test_a_turn_full_of_screenshots_is_kept_with_its_request(env: Env) -> None:
    """Each image a tool returns reaches the model as a request holding the tool's result and the image as a
    user-prompt part. Those must not count as turns: 45 screenshots in one request made the stored conversation
    start at the 6th screenshot's result, without its call and without what the user had asked."""
    from PIL import Image

    Image.new("RGB", (32, 24), "red").save(env.work / "shot.png")
    look = {"tool": "read_image", "args": {"path": str(env.work / "shot.png")}}
    env.script([look] * 45 + [{"text": "looked 45 times"}], "look.json")
    first = await run_intent(env.service(), "look at it many times", RecordingEvents(), session_id="s-1")
    assert first.status == "completed", first.answer
    env.script([{"text": "it was red"}], "next.json")
    env.record.unlink()
    await run_intent(env.service(), "what colour was it?", RecordingEvents(), session_id="s-1")
    texts = [p["text"] for p in env.received()[0]["parts"]]
    assert texts[0] == "look at it many times"  # the earlier request is there, from its start
    assert texts[-1] == "what colour was it?"


def test_a_turn_starts_only_at_a_request_that_answers_no_tool_call() -> None:
    from pydantic_ai.messages import ToolCallPart, ToolReturnPart

    from contop.agent.context import fit_budget
    from contop.agent.history import cap_turns

    messages: list[ModelRequest | ModelResponse] = []
    for i in range(3):
        messages.append(ModelRequest(parts=[UserPromptPart(f"q{i}")]))
        for j in range(3):
            call = f"c{i}{j}"
            messages.append(ModelResponse(parts=[ToolCallPart("read_image", {"path": "x"}, tool_call_id=call)]))
            image = UserPromptPart(["image:", BinaryContent(b"\x89PNG", media_type="image/png")])
            messages.append(
                ModelRequest(parts=[ToolReturnPart("read_image", "see the image", tool_call_id=call), image])
            )
        messages.append(ModelResponse(parts=[TextPart(f"a{i}")]))
    kept = cap_turns(messages, 2)
    assert kept[0] == messages[8] and kept[0].parts[0].content == "q1"  # type: ignore[union-attr]
    assert len(kept) == 16
    # Over a context budget, whole earlier turns go first: the cut is at a request, never at a tool's result.
    trimmed = fit_budget(list(messages), 40)
    assert isinstance(trimmed[0], ModelRequest)
    assert any(isinstance(p, UserPromptPart) and p.content == "q2" for p in trimmed[0].parts)


async def test_the_conversation_store_is_readable_by_its_owner_only(env: Env) -> None:
    env.script([{"text": "ok"}])
    await run_intent(env.service(), "a private question", RecordingEvents(), session_id="s-private")
    files = sorted((env.state / "data").glob("sessions.db*"))
    assert [f.name for f in files][:1] == ["sessions.db"] and len(files) >= 2  # with its -wal (and -shm)
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path.name


def stored(path: Path, session_id: str = "s-1") -> list[str]:
    """The user prompts of a stored conversation, read by a connection of its own."""
    store = SessionStore(path)
    store.open()
    try:
        return [p.content for m in store.load_sync(session_id) for p in m.parts if p.part_kind == "user-prompt"]  # type: ignore[union-attr]
    finally:
        store.close()


def conversation(*prompts: str) -> list[ModelRequest | ModelResponse]:
    out: list[ModelRequest | ModelResponse] = []
    for prompt in prompts:
        out += [ModelRequest(parts=[UserPromptPart(prompt)]), ModelResponse(parts=[TextPart("ok")])]
    return out


@contextlib.contextmanager
def held(path: Path, *statements: str) -> Iterator[sqlite3.Connection]:
    """Another program's connection holding a lock on ``path`` (as a database browser or backup tool does)."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        for statement in statements:
            other.execute(statement).fetchall()
        yield other
    finally:
        other.close()


EXCLUSIVE = ("PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE", "SELECT count(*) FROM sessions")
WRITING = ("BEGIN IMMEDIATE", "UPDATE sessions SET updated_at = updated_at")


@pytest.mark.parametrize("statements", [EXCLUSIVE, WRITING], ids=["exclusive", "write-transaction"])
def test_a_locked_database_is_never_moved_and_is_used_once_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, statements: tuple[str, ...]
) -> None:
    path = tmp_path / "data" / "sessions.db"
    first = SessionStore(path)
    first.open()
    first.save_sync("s-1", conversation("remember tulip", "and rose"))
    first.close()
    caplog.set_level(logging.INFO, "contop.agent.history")
    with held(path, *statements):
        store = SessionStore(path, retry_s=0)
        assert store.open() == 0  # no exception: the server starts
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(path) in warnings[0].message
        assert "held by another program" in warnings[0].message and "not stored" in warnings[0].message
        assert store.load_sync("s-1") == [] and not store.exists_sync("s-1")  # the agent runs without history
        store.save_sync("s-1", conversation("a new question"))  # dropped, no exception
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1  # logged once per outage
    assert sorted(p.name for p in path.parent.iterdir() if "corrupt" in p.name) == []
    # released: the next use opens it; the conversation read as empty while locked is not replaced by less
    store.save_sync("s-1", conversation("a new question"))
    assert "available again" in caplog.text
    assert stored(path) == ["remember tulip", "and rose"]
    assert store.load_sync("s-1")[0].parts[0].content == "remember tulip"  # type: ignore[union-attr]
    store.save_sync("s-1", conversation("remember tulip", "and rose", "and lily"))  # read now: stored as usual
    store.close()
    assert stored(path) == ["remember tulip", "and rose", "and lily"]


def test_a_lock_taken_while_running_makes_the_store_unavailable_not_failing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sessions.db"
    store = SessionStore(path, retry_s=3600)
    store.open()
    store.save_sync("s-1", conversation("q1"))
    with held(path, *WRITING):
        store.save_sync("s-2", conversation("q2"))  # waits SQLite's busy timeout, then gives up without raising
        assert "held by another program" in caplog.text
        assert store.load_sync("s-1") == []
    store.close()
    assert stored(path) == ["q1"] and stored(path, "s-2") == []


@pytest.mark.parametrize("kind", ["directory", "unopenable"])
def test_a_database_path_that_cannot_be_opened_is_reported_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    path = tmp_path / "data" / "sessions.db"
    path.mkdir(parents=True)
    if kind == "unopenable":  # a file SQLite cannot open: its folder has a directory where the -wal goes
        path.rmdir()
        first = SessionStore(path)
        first.open()
        first.save_sync("s-1", conversation("q1"))
        first.close()
        Path(f"{path}-wal").mkdir()
    before = sorted(p.name for p in path.parent.iterdir())
    store = SessionStore(path)
    assert store.open() == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(path) in errors[0].message and "not stored" in errors[0].message, caplog.text
    assert ("is a directory" if kind == "directory" else "cannot be opened") in errors[0].message
    assert "Traceback" not in caplog.text
    assert store.load_sync("s-1") == [] and not store.exists_sync("s-1")
    store.close()
    assert sorted(p.name for p in path.parent.iterdir()) == before  # nothing moved aside or created


async def test_the_agent_answers_while_the_database_is_held(env: Env) -> None:
    path = env.state / "data" / "sessions.db"
    first = SessionStore(path)
    first.open()
    first.close()
    with held(path, *EXCLUSIVE):
        env.store = SessionStore(path, retry_s=3600)
        env.store.open()
        env.script([{"text": "still here"}])
        events = RecordingEvents()
        result = await run_intent(env.service(), "are you there?", events, session_id="s-held")
    assert result.status == "completed" and result.answer == "still here"
    # QA: the request was neither read from nor kept in the history, and nobody was told: the next one forgot it.
    notices = [p for p in events.of("agent_status") if p["status_type"] == "history_unavailable"]
    assert len(notices) == 1, events.of("agent_status")
    assert "held by another program" in notices[0]["message"] and "not stored" in notices[0]["message"], notices


async def test_a_working_history_brings_no_notice(env: Env) -> None:
    env.script([{"text": "fine"}])
    events = RecordingEvents()
    assert (await run_intent(env.service(), "hello", events, session_id="s-ok")).status == "completed"
    assert not [p for p in events.of("agent_status") if p["status_type"] == "history_unavailable"]


async def _until_step(events: RecordingEvents, step: int) -> None:
    for _ in range(500):
        if any(p["step"] == step for p in events.of("agent_progress")):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"step {step} never started")


@pytest.mark.parametrize("parallel", [False, True])
async def test_a_stopped_run_keeps_the_steps_that_ran_in_the_conversation(env: Env, parallel: bool) -> None:
    """Stopped mid-run, the agent must know on the next turn what it already did to the machine: the calls made
    and what the finished ones returned, the one cut off marked as interrupted (in separate turns of the model,
    or two calls of one turn)."""
    marker = env.work / "marker.txt"
    first = {"tool": "execute_cli", "args": {"command": f"echo wrote-the-marker; touch '{marker}'"}}
    second = {"tool": "execute_cli", "args": {"command": "sleep 30", "timeout": 60}}
    env.script([{"tools": [first, second]}] if parallel else [first, second], "one.json")
    service = env.service()
    events = RecordingEvents()
    execution = service.start(
        "write the marker, then wait", device_id="d", events=events, confirmer=None, session_id="s-stop"
    )
    await _until_step(events, 2)
    await asyncio.sleep(0.3)
    assert service.stop("d")
    assert (await execution).status == "cancelled" and marker.exists()
    env.record.unlink()
    env.script([{"text": "You wrote the marker; the wait was stopped."}], "two.json")
    result = await run_intent(service, "what did you run last time?", RecordingEvents(), session_id="s-stop")
    assert result.status == "completed"
    seen = env.received()[0]["parts"]
    assert [p["kind"] for p in seen] == ["user-prompt", "tool-return", "tool-return", "user-prompt"]
    assert "wrote-the-marker" in seen[1]["text"]  # the finished step's output
    assert "interrupted" in seen[2]["text"]  # the one cut off
    assert env.store is not None
    stored = json.dumps([dataclasses.asdict(m) for m in await env.store.load("s-stop")], default=str)
    assert "sleep 30" in stored and "Stopped at your request." in stored
