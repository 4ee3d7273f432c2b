"""The sessions store: conversations kept per session, restored after a restart, images stripped."""

from __future__ import annotations

import sqlite3
import time
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


def test_old_rows_are_deleted_at_start(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SessionStore(path)
    store.open()
    store.save_sync("old", [ModelRequest(parts=[UserPromptPart("x")])])
    store.save_sync("new", [ModelRequest(parts=[UserPromptPart("y")])])
    store._db().execute("UPDATE sessions SET updated_at = ? WHERE session_id = 'old'", (time.time() - 8 * 86400,))
    store.close()
    again = SessionStore(path)
    assert again.open() == 1
    assert not again.exists_sync("old") and again.exists_sync("new")
    assert again._db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


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


async def test_the_conversation_store_is_readable_by_its_owner_only(env: Env) -> None:
    env.script([{"text": "ok"}])
    await run_intent(env.service(), "a private question", RecordingEvents(), session_id="s-private")
    files = sorted((env.state / "data").glob("sessions.db*"))
    assert [f.name for f in files][:1] == ["sessions.db"] and len(files) >= 2  # with its -wal (and -shm)
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path.name
