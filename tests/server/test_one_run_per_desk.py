"""One agent run per desktop, whichever paired device asks: a real ``contop serve`` with the scripted model and
two Python clients over real WebRTC, each a phone paired on its own. Two agents would drive one mouse and keyboard
at once, so a second device is refused with the name of the one whose task runs, and every phone hears when the
desk is taken and freed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.testing.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# Ignores SIGTERM (its sleep inherits that), so a stopped run takes the kill grace (0.5 s) to end: long enough
# for another phone's request to arrive while it is ending.
STUBBORN = "trap '' TERM; sleep 30"


def _msg(type_: str, **payload: Any) -> dict[str, Any]:
    return {"type": type_, "id": f"{type_}-{id(payload)}", "payload": payload}


@contextlib.asynccontextmanager
async def _desk(tmp_path: Path, steps: list[dict[str, Any]]) -> AsyncIterator[ServerProcess]:
    """A real server replaying ``steps`` (the scripted model). Each run reads the script anew and replays it from
    its start: ``_script`` changes what the next run does."""
    _script(tmp_path, steps)
    server = await asyncio.to_thread(
        ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{tmp_path / 'script.json'}"}).start
    )
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def _script(tmp_path: Path, steps: list[dict[str, Any]]) -> Path:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(steps))
    return script


@contextlib.asynccontextmanager
async def _phone(server: ServerProcess, device_id: str, name: str) -> AsyncIterator[ContopClient]:
    """A device paired with its own code, connected; it has read the desktop's greeting."""
    url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
    client = ContopClient(url, device_id=device_id, device_name=name, video=False)
    await client.connect()
    try:
        await client.next_message("state_update", timeout=10)
        yield client
    finally:
        await client.aclose()


async def _state(client: ContopClient, until: Callable[[dict[str, Any]], bool], seen: list[str] | None = None) -> Any:
    """The first ``state_update`` payload for which ``until`` holds; the types of what came before go to ``seen``."""
    async with asyncio.timeout(30):
        async for message in client.messages():
            data = message.to_dict()
            if message.type == "state_update" and until(data["payload"]):
                return data["payload"]
            if seen is not None and message.type != "keepalive":
                seen.append(message.type)
    raise AssertionError("connection closed before the state_update")


def _busy(payload: dict[str, Any]) -> bool:
    return payload.get("desk_busy") is not None


def _free(payload: dict[str, Any]) -> bool:
    return payload.get("desk_busy") is None


async def test_a_second_device_is_refused_while_a_task_runs_and_every_phone_hears_of_it(tmp_path: Path) -> None:
    steps = [{"tool": "execute_cli", "args": {"command": "sleep 3"}}, {"text": "slept"}]
    async with _desk(tmp_path, steps) as server, _phone(server, "phone-a", "Pixel 7") as a:
        async with _phone(server, "tablet-b", "Galaxy Tab") as b:
            a.send(_msg("user_intent", text="sleep a while"))
            own = await _state(a, lambda p: p["ai_state"] == "executing")
            assert own["desk_busy"] is None, own  # the run is this phone's own: it has its Stop and its answer
            other = await _state(b, _busy)
            assert other["desk_busy"] == {"device": "Pixel 7"} and other["ai_state"] == "idle", other
            await a.next_message("agent_progress", timeout=30)

            intent = _msg("user_intent", text="and me")
            b.send(intent)
            refused = (await b.next_message("error", timeout=10)).to_dict()["payload"]
            assert refused["code"] == "busy" and refused["ref_id"] == intent["id"], refused
            assert refused["message"] == (
                "A task from Pixel 7 is running on this desktop; wait for its answer or stop it from that device."
            )

            assert (await a.next_message("agent_result", timeout=30)).to_dict()["payload"]["answer"] == "slept"
            seen: list[str] = []
            freed = await _state(b, _free, seen)
            assert freed["ai_state"] == "idle", freed
            assert not {"agent_progress", "agent_result", "agent_text"} & set(seen), seen  # nothing of A's run

            # The desk is free: the other device's request runs now, and the first phone hears of it in turn.
            _script(tmp_path, [{"text": "tablet's turn"}])
            b.send(_msg("user_intent", text="and me, now"))
            assert (await b.next_message("agent_result", timeout=30)).to_dict()["payload"]["answer"] == "tablet's turn"
            assert (await _state(a, _busy))["desk_busy"] == {"device": "Galaxy Tab"}
            assert (await _state(a, _free))["ai_state"] == "idle"


async def test_the_same_device_is_still_told_its_own_run_is_going(tmp_path: Path) -> None:
    steps = [{"tool": "execute_cli", "args": {"command": "sleep 3"}}, {"text": "slept"}]
    async with _desk(tmp_path, steps) as server, _phone(server, "phone-a", "Pixel 7") as a:
        a.send(_msg("user_intent", text="sleep a while"))
        await a.next_message("agent_progress", timeout=30)
        a.send(_msg("user_intent", text="again"))
        refused = (await a.next_message("error", timeout=10)).to_dict()["payload"]
        assert refused["code"] == "busy", refused
        assert refused["message"] == "an execution is already running; stop it first or wait for its result"
        assert (await a.next_message("agent_result", timeout=30)).to_dict()["payload"]["answer"] == "slept"


async def test_a_request_from_another_device_waits_for_a_stopped_run_to_end(tmp_path: Path) -> None:
    """The run is stopped from its phone and takes a moment to end: the other device's request, sent meanwhile,
    runs after it instead of being refused busy."""
    steps = [{"tool": "execute_cli", "args": {"command": STUBBORN}}, {"text": "never"}]
    async with _desk(tmp_path, steps) as server, _phone(server, "phone-a", "Pixel 7") as a:
        async with _phone(server, "tablet-b", "Galaxy Tab") as b:
            a.send(_msg("user_intent", text="sleep"))
            await a.next_message("agent_progress", timeout=30)
            await _state(b, _busy)
            _script(tmp_path, [{"text": "after"}])  # what the next run does
            await asyncio.sleep(0.5)  # the command has started and set its trap
            a.send(_msg("execution_stop"))
            await asyncio.sleep(0.15)  # the stop has reached the desktop; the run's command ignores it for 0.5 s
            b.send(_msg("user_intent", text="now something else"))
            reply = (await b.next_message("agent_result", "error", timeout=30)).to_dict()
            assert reply["type"] == "agent_result" and reply["payload"]["answer"] == "after", reply  # not "busy"
            stopped = (await a.next_message("agent_result", timeout=30)).to_dict()["payload"]
            assert stopped["status"] == "cancelled", stopped


async def test_the_other_phones_hear_the_desk_is_free_when_the_running_phone_goes_away(tmp_path: Path) -> None:
    """The phone whose task runs disconnects: its run is stopped, and nobody waits for its result any more; the
    other phones must still be told when it has ended, or their Manual button would wait forever."""
    steps = [{"tool": "execute_cli", "args": {"command": "sleep 20"}}, {"text": "never"}]
    async with _desk(tmp_path, steps) as server, _phone(server, "tablet-b", "Galaxy Tab") as b:
        async with _phone(server, "phone-a", "Pixel 7") as a:
            a.send(_msg("user_intent", text="sleep long"))
            await a.next_message("agent_progress", timeout=30)
            assert (await _state(b, _busy))["desk_busy"] == {"device": "Pixel 7"}
        assert (await _state(b, _free))["ai_state"] == "idle"  # the connection's end stopped the run


async def test_two_phones_of_one_name_are_told_apart(tmp_path: Path) -> None:
    """QA: two phones of one model both call themselves "Linux · Chrome", so "a task from Linux · Chrome is
    running" did not say which, and could name the reader's own name. The later one is listed and named as
    "Linux · Chrome (2)", and keeps that name when it reconnects."""
    steps = [{"tool": "execute_cli", "args": {"command": "sleep 3"}}, {"text": "slept"}]
    async with _desk(tmp_path, steps) as server, _phone(server, "phone-a", "Linux · Chrome") as a:
        async with _phone(server, "phone-b", "Linux · Chrome") as b:
            b.send(_msg("user_intent", text="sleep a while"))
            other = await _state(a, _busy)
            assert other["desk_busy"] == {"device": "Linux · Chrome (2)"}, other
            a.send(intent := _msg("user_intent", text="and me"))
            refused = (await a.next_message("error", timeout=10)).to_dict()["payload"]
            assert refused["ref_id"] == intent["id"] and refused["message"].startswith(
                "A task from Linux · Chrome (2) is running on this desktop"
            ), refused
            await b.next_message("agent_result", timeout=30)
        async with _phone(server, "phone-b", "Linux · Chrome"):  # the same phone again
            devices = (await asyncio.to_thread(server.request, "GET", "/api/devices")).json()["devices"]
    assert sorted(d["device_name"] for d in devices) == ["Linux · Chrome", "Linux · Chrome (2)"], devices
