"""Typing that must stop: a long text whose caller is cancelled (the agent's stop, a timeout, a vanished phone), and
a text being typed when Away Mode locks the desk, which must never reach the lock screen's PIN field. A real Xvfb, the
real lock overlay and a Tk window that records what it receives."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.core.errors import ToolError
from contop.platform.geometry import Rect, ScreenGeometry
from contop.server.away import AwayModeController, AwayTiming
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from contop.tools import desktop as desktop_mod
from contop.tools.context import ToolContext
from contop.tools.gui import execute_gui
from tests.server.test_away import PIN, make_store

from .x11 import RecorderApp, desk_env, recorder, xctx, xsession  # noqa: F401 - fixtures

pytestmark = [pytest.mark.x11, pytest.mark.slow, pytest.mark.timeout(120)]

SCREEN = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))
# Distinct CJK characters: none is in the keymap, so each stretch of them waits for keycodes to be bound, and the
# text types slowly (tens of milliseconds a character), as a long text in any script the keymap lacks does.
CJK = "".join(chr(0x4E00 + i * 7) for i in range(400))


def typed(recorder: RecorderApp) -> str:
    return recorder.last_text() or ""


async def focus_entry(ctx: ToolContext, recorder: RecorderApp) -> None:
    ex, ey = recorder.center("entry")
    sx, sy = SCREEN.to_shot(ex, ey)
    await execute_gui(ctx, "click", x=sx, y=sy)


async def wait_for_text(recorder: RecorderApp, predicate: Any, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while not predicate(typed(recorder)):
        assert time.monotonic() < deadline, f"text never matched; it is {typed(recorder)!r}"
        await asyncio.sleep(0.02)
    return typed(recorder)


async def settled(recorder: RecorderApp, quiet: float = 0.5) -> str:
    """The field's text once it has not changed for ``quiet`` seconds (the client has caught up)."""
    last, since = typed(recorder), time.monotonic()
    while time.monotonic() - since < quiet:
        await asyncio.sleep(0.05)
        now = typed(recorder)
        if now != last:
            last, since = now, time.monotonic()
    return last


async def test_a_cancelled_type_stops_within_a_keystroke(xctx: ToolContext, recorder: RecorderApp) -> None:
    await focus_entry(xctx, recorder)
    task = asyncio.create_task(execute_gui(xctx, "type", text=CJK))
    await wait_for_text(recorder, lambda t: len(t) >= 20)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 1.0  # the cancel waits for the thread to have stopped, briefly
    at_cancel = await settled(recorder)
    assert CJK.startswith(at_cancel)  # what was typed is the text's start, nothing garbled
    await asyncio.sleep(2.0)  # the old code went on typing here, for seconds, into whatever had the focus
    assert typed(recorder) == at_cancel
    assert len(at_cancel) < len(CJK)

    # The keyboard is free again: the next text types in full.
    await execute_gui(xctx, "type", text="ok")
    await wait_for_text(recorder, lambda t: t == at_cancel + "ok")


async def test_away_mode_stops_the_typing_before_its_lock_screen_takes_the_keyboard(
    xctx: ToolContext, recorder: RecorderApp, desk_env: XSession, tmp_path: Path
) -> None:
    """A text ending in the PIN and Enter, being typed when Away Mode engages: the old code typed the rest into the
    lock screen, which unlocked the desk."""
    ctl = AwayModeController(
        make_store(tmp_path / "home"),
        env=desk_env.child_env(),
        idle_source=lambda: 0.0,
        timing=AwayTiming(poll_interval=3600, relock_delay=0.2),
    )
    text = CJK[:150] + PIN + "\n"
    await focus_entry(xctx, recorder)
    task = asyncio.create_task(execute_gui(xctx, "type", text=text))
    try:
        await wait_for_text(recorder, lambda t: len(t) >= 10)
        status = await ctl.engage("api")
        assert status["away_mode"] is True and status["overlay_active"] is True
        [error] = await asyncio.gather(asyncio.wait_for(task, 10), return_exceptions=True)
        await asyncio.sleep(1.0)  # what the old code typed into the lock screen would have been handled by now
        status = ctl.status()
        assert status["away_mode"] is True, "the typed PIN unlocked the desk"
        assert status["failed_attempts"] == 0 and status["last_unlock"] is None

        # The tool says honestly how far it got, and every key it sent went to the field, none after.
        assert isinstance(error, desktop_mod.TypingStopped), error
        assert error.typed is not None and 10 <= error.typed < 150 and error.total == len(text)
        assert f"after {error.typed} of {len(text)} characters" in str(error) and "Away Mode" in str(error)
        assert await settled(recorder) == text[: error.typed]

        # New keys are refused while Away Mode holds the keyboard, by the gate itself too (the tools' own check of
        # the lock screen comes first; manual control and a check racing the lock screen rely on the gate).
        with pytest.raises(ToolError, match="Away Mode"):
            await execute_gui(xctx, "type", text="1")
        desk = await desktop_mod.desktop()
        with pytest.raises(desktop_mod.KeyboardLocked):
            await desktop_mod.run(desk.adapter.type_text, "1")
        with pytest.raises(desktop_mod.KeyboardLocked):
            await desktop_mod.run(desk.adapter.press_key, "enter")
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ctl.disengage("phone")
        await ctl.aclose()
    assert not desktop_mod.keyboard.locked
    await execute_gui(xctx, "type", text="ok")
    await wait_for_text(recorder, lambda t: t.endswith("ok"))


def test_the_gate_stops_what_entered_before_the_lock_and_refuses_the_rest() -> None:
    """The gate without X: a call that entered before the lock is told to stop and waited for; one after is refused;
    an unlock by one holder leaves it locked while another holds it."""
    gate = desktop_mod.KeyboardGate()
    job = desktop_mod._KeyJob()
    gate.enter(job)
    left = threading.Event()

    def typing() -> None:
        job.stop.wait(10)
        time.sleep(0.1)  # the last keystroke goes out
        gate.leave(job)
        left.set()

    thread = threading.Thread(target=typing, daemon=True)
    thread.start()
    first, second = object(), object()
    gate.lock(first)
    gate.lock(second)
    assert job.stop.is_set() and job.reason == desktop_mod.STOPPED_BY_AWAY
    assert gate.wait_idle(2) and left.is_set()
    with pytest.raises(desktop_mod.KeyboardLocked):
        gate.enter(desktop_mod._KeyJob())
    gate.unlock(first)
    with pytest.raises(desktop_mod.KeyboardLocked):
        gate.enter(desktop_mod._KeyJob())
    gate.unlock(second)
    gate.enter(desktop_mod._KeyJob())
    assert not gate.wait_idle(0.05)  # that one holds it until it leaves


SERVER_PIN = "8642"


def manual(action: str, **payload: Any) -> dict[str, Any]:
    return {"type": "manual_control", "id": str(uuid.uuid4()), "payload": {"action": action, **payload}}


@pytest.fixture
async def phone(desk_env: XSession, tmp_path: Path) -> AsyncIterator[tuple[ContopClient, ServerProcess]]:
    server = await asyncio.to_thread(ServerProcess(tmp_path / "server-home", env=dict(desk_env.env)).start)
    try:
        pin = await asyncio.to_thread(server.request, "POST", "/api/away-mode/pin", json={"pin": SERVER_PIN})
        pin.raise_for_status()
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="typing-phone", video=False) as client:
            yield client, server
    finally:
        await asyncio.to_thread(server.request, "POST", "/api/away-mode/disengage")
        await asyncio.to_thread(server.stop)


async def test_the_phones_typing_stops_before_the_lock_screen_comes_up(
    phone: tuple[ContopClient, ServerProcess], xctx: ToolContext, recorder: RecorderApp
) -> None:
    """Manual control's text, through a real server, when Away Mode is engaged from the admin API meanwhile."""
    client, server = phone
    await focus_entry(xctx, recorder)
    text = CJK[:150] + SERVER_PIN + "\n"
    message = manual("type", text=text)
    client.send(message)
    await wait_for_text(recorder, lambda t: len(t) >= 10)
    engaged = await asyncio.to_thread(server.request, "POST", "/api/away-mode/engage")
    assert engaged.status_code == 200, engaged.text
    await asyncio.sleep(3.0)
    status = (await asyncio.to_thread(server.request, "GET", "/api/away-mode/status")).json()
    assert status["away_mode"] is True, "the typed PIN unlocked the desk"
    assert status["failed_attempts"] == 0

    reply = await client.next_message("error", timeout=5)
    payload = reply.payload.model_dump()
    assert payload["ref_id"] == message["id"] and payload["code"] == "not_available", payload
    assert "Away Mode" in payload["message"] and f"of {len(text)} characters" in payload["message"], payload
    count = int(payload["message"].split("after ", 1)[1].split(" of ", 1)[0])
    assert 10 <= count < 150
    assert await settled(recorder) == text[:count]
