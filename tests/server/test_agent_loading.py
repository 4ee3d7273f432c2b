"""The agent loads in the background once a real ``contop serve`` answers; what a phone sees while it loads.

A conversation history held by another program (a DB browser) makes the load wait SQLite's 5 s busy timeout, which
gives these tests a load that is still under way when the phone asks, stops, or the server stops.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contop.agent.history import SessionStore
from contop.client.client import ContopClient
from contop.testing.server import ServerProcess

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ServerProcess(home).start().stop()
    store = SessionStore(home / "data" / "sessions.db")
    store.open()
    store.save_sync("s-1", [])
    store.close()
    return home


@pytest.fixture
def held_history(home: Path) -> Iterator[Path]:
    """The conversation history, locked by another program for as long as the test runs."""
    db = home / "data" / "sessions.db"
    other = sqlite3.connect(db, isolation_level=None)
    try:
        for statement in ("PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE", "SELECT count(*) FROM sessions"):
            other.execute(statement).fetchall()
        yield db
    finally:
        other.close()


def scripted(tmp_path: Path, text: str) -> dict[str, str]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": text}]))
    return {"CONTOP_EXECUTION_MODEL": f"scripted:{script}"}


def held_line(db: Path) -> str:
    return f"WARNING contop.agent.history: sessions database {db} is held by another program"


async def messages_until(client: ContopClient, deadline: float) -> list[dict[str, Any]]:
    """Everything the desktop sent until ``deadline`` (monotonic time)."""
    seen: list[dict[str, Any]] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.append(dict((await client.next_message(timeout=left)).to_dict()))
        except TimeoutError:
            break
    return seen


def test_a_request_stopped_while_the_agent_loads_never_runs(home: Path, held_history: Path, tmp_path: Path) -> None:
    """The phone pressed Stop before the agent had loaded: it is told the request stopped without doing anything,
    and the request does not start once the agent is there (it did, with the phone already told "idle")."""
    server = ServerProcess(home, env=scripted(tmp_path, "ran although it was stopped")).start()
    try:
        url = server.pair(connection_type="temp")["url"]

        async def ask_then_stop() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            client = ContopClient(url, device_id="early-phone", video=False)
            await client.connect()
            try:
                client.send({"type": "user_intent", "id": "early-1", "payload": {"text": "hello"}})
                client.send({"type": "user_intent", "id": "early-2", "payload": {"text": "and again"}})
                await asyncio.sleep(0.3)
                client.send({"type": "execution_stop", "id": "stop-1", "payload": {}})
                result = dict((await client.next_message("agent_result", "error", timeout=10)).to_dict())
                second = dict((await client.next_message("agent_result", "error", timeout=10)).to_dict())
                assert second["type"] == "agent_result" and second["payload"]["ref_id"] == "early-2", second
                assert second["payload"]["status"] == "cancelled", second  # one Stop ends both
                # The load ends about 5 s after the start, when SQLite gives up on the held history; anything the
                # stopped request did would follow it.
                await asyncio.to_thread(server.wait_for_log, held_line(held_history))
                later = await messages_until(client, time.monotonic() + 1.5)
                return result, later
            finally:
                await client.aclose()

        result, later = asyncio.run(ask_then_stop())
    finally:
        assert server.stop() == 0
    assert result["type"] == "agent_result", result
    assert result["payload"]["ref_id"] == "early-1"
    assert result["payload"]["status"] == "cancelled"
    assert "Stopped at your request" in result["payload"]["answer"]
    assert "nothing was done" in result["payload"]["answer"]
    assert not [m for m in later if m["type"] in ("agent_result", "agent_progress")], later
    assert not [m for m in later if m["type"] == "state_update" and m["payload"].get("ai_state") == "executing"]


def test_the_server_stops_without_waiting_for_a_load_under_way(home: Path, held_history: Path) -> None:
    """Stopping while the agent still loads does not wait for the load: the desktop app kills a server that takes
    more than 2 s, and the shutdown steps after the agent's (the host's sleep settings, the tunnel) must run."""
    server = ServerProcess(home).start()  # the load starts as it starts serving, and waits for the history
    assert server.stop() == 0
    log = server.log()
    assert "the agent was still loading when the server stopped; not waiting for it" in log, log
    assert "Application shutdown complete" in log
    assert held_line(held_history) not in log  # the process ended before the load's 5 s wait did


def broken_pydantic_ai(tmp_path: Path, flag: Path) -> dict[str, str]:
    """An environment in which ``import pydantic_ai`` fails while ``flag`` exists, as a broken install does, and
    imports the real package once it is gone."""
    shadow = tmp_path / "shadow"
    (shadow / "pydantic_ai").mkdir(parents=True)
    (shadow / "pydantic_ai" / "__init__.py").write_text(
        "import importlib, os, sys, time\n"
        f"if os.path.exists({str(flag)!r}):\n"
        "    time.sleep(1.5)  # a request waits for the load meanwhile\n"
        "    raise ImportError('pydantic_ai is damaged (test)')\n"
        f"sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != {str(shadow)!r}]\n"
        "del sys.modules['pydantic_ai']\n"
        "sys.modules['pydantic_ai'] = importlib.import_module('pydantic_ai')\n"
    )
    return {"PYTHONPATH": str(shadow)}


def test_an_agent_that_cannot_load_is_explained_and_tried_again(home: Path, tmp_path: Path) -> None:
    """A load that fails (a damaged install) is told to the phone as such, and the next request tries again
    instead of meeting the same failure until the server restarts."""
    flag = tmp_path / "broken"
    flag.write_text("")
    env = {**broken_pydantic_ai(tmp_path, flag), **scripted(tmp_path, "the agent works now")}
    server = ServerProcess(home, env=env).start()
    try:
        url = server.pair(connection_type="temp")["url"]

        async def ask(client: ContopClient, ref: str) -> dict[str, Any]:
            client.send({"type": "user_intent", "id": ref, "payload": {"text": "hello"}})
            return dict((await client.next_message("agent_result", "error", timeout=30)).to_dict())

        async def session() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            client = ContopClient(url, device_id="phone", video=False)
            await client.connect()
            try:
                client.send({"type": "user_intent", "id": "i-1", "payload": {"text": "hello"}})
                # Meanwhile manual control is not refused as if a task ran: nothing drives the mouse yet (this
                # server has no display, so it is refused for that).
                move = {"action": "mouse_move", "x": 10, "y": 10}
                client.send({"type": "manual_control", "id": "m-1", "payload": move})
                moved = dict((await client.next_message("error", timeout=30)).to_dict())
                assert moved["payload"]["ref_id"] == "m-1", moved
                assert moved["payload"].get("reason") != "agent_running", moved
                first = dict((await client.next_message("agent_result", "error", timeout=30)).to_dict())
                idle = dict((await client.next_message("state_update", timeout=10)).to_dict())
                assert idle["payload"]["ai_state"] == "idle", idle  # the phone does not stay "executing"
                client.send({"type": "session_context", "id": "c-1", "payload": {"session_id": "s-1"}})
                context = dict((await client.next_message("error", timeout=30)).to_dict())
                flag.unlink()  # the install is repaired
                await asyncio.sleep(2.2)  # past the pause between attempts
                return first, context, await ask(client, "i-2")
            finally:
                await client.aclose()

        first, context, repaired = asyncio.run(session())
        log = server.log()
    finally:
        assert server.stop() == 0
    for failed, ref in ((first, "i-1"), (context, "c-1")):
        assert failed["type"] == "error", failed
        assert failed["payload"]["code"] == "not_available", failed
        assert failed["payload"]["ref_id"] == ref
        assert "the desktop's agent could not be started" in failed["payload"]["message"]
        assert "pydantic_ai is damaged (test)" in failed["payload"]["message"]
    assert repaired["type"] == "agent_result", repaired
    assert repaired["payload"]["answer"] == "the agent works now"
    assert "the execution agent could not be started" in log
