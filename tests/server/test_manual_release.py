"""Manual control at the edges: a held button is let go even when shutdown cuts its release short, and a display
whose outputs are all off makes actions unavailable rather than malformed."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from contop.core.messages import Envelope, parse_phone_message
from contop.testing.xsession import start_xsession
from tests.server.test_manual import RecordingSession, _msg, _open_session, _RecordingDesk


async def test_a_release_cut_short_by_shutdown_still_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The phone's connection ends while it holds a button, and the server stops before the release's X request
    left the executor queue. That request used to be dropped with the cancelled task, after the button had been
    forgotten, so the button stayed down after the server exited (4 SIGTERMs in 16). The executor is made busy
    on purpose (one worker, blocked) so the release is always still queued when shutdown comes."""
    from contop.server import manual

    desk = _RecordingDesk()
    monkeypatch.setattr(manual, "open_desktop", lambda display: desk)
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="busy-desk")
    loop.set_default_executor(executor)
    control = manual.ManualControl(lambda _session: (1280, None))
    session = _open_session()
    await control.on_manual_control(session, parse_phone_message(json.dumps(_msg("mouse_down"))))
    assert desk.events == [("down", "left")]

    gate = threading.Event()
    busy = loop.run_in_executor(None, gate.wait, 10.0)  # a slow X round trip (a capture, say) holds the one worker
    try:
        session.link_lost("the phone vanished")
        await asyncio.sleep(0.2)  # the release took the input lock and queued its mouse_up behind the busy worker
        assert desk.events == [("down", "left")]
        closing = asyncio.ensure_future(control.aclose())  # SIGTERM
        await asyncio.sleep(0.2)
    finally:
        gate.set()
    await asyncio.wait_for(closing, 10)
    await busy
    assert desk.events == [("down", "left"), ("up", "left")]


def _message(action: str, **fields: Any) -> Envelope:
    return Envelope.model_validate({"type": "manual_control", "id": f"{action}-1", "payload": {"action": action,
                                                                                              **fields}})  # fmt: skip


@pytest.mark.x11
@pytest.mark.slow
async def test_actions_with_coordinates_while_every_output_is_off_are_not_available() -> None:
    """A closed lid (every output off): the phone's clicks are fine, the desk just has no screen to put them on,
    so the answer is ``not_available`` (as with no display), not ``invalid_payload``."""
    from contop.server import manual

    if shutil.which("xrandr") is None:
        pytest.skip("needs xrandr (apt-get install x11-xserver-utils)")
    session = await asyncio.to_thread(start_xsession, "1280x720x24", window_manager=False, dbus=False)
    control = manual.ManualControl(lambda _session: (1280, None), display=session.display)
    try:
        # Xvfb turns the output off and then refuses to shrink the screen to 0x0 (xrandr exits 1): no monitor left.
        subprocess.run(
            ["xrandr", "--output", "screen", "--off"], env=session.child_env(), timeout=10, capture_output=True
        )
        phone = RecordingSession("lid-closed")
        actions = [
            _message("click", x=10, y=10),
            _message("mouse_move", x=20, y=20),
            _message("scroll", x=30, y=30, direction="down", clicks=1),
            _message("mouse_down", x=40, y=40),
        ]
        for action in actions:
            await control.on_manual_control(phone, action)
        replies = [(m.payload.code, m.payload.message) for m in phone.sent]
        assert [code for code, _text in replies] == ["not_available"] * len(actions), replies
        assert all("no active monitor" in text for _code, text in replies), replies
    finally:
        await control.aclose()
        session.close()
