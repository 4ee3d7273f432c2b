"""Two phones in manual control at once, through a real ``contop serve``, real WebRTC clients and the recorder app on
the test X session: while one phone holds a mouse button down (a drag), the other's input is refused and named,
and the drag stays whole; once the button is let go (released, or its phone's link dropped), the other works."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.core.messages import FAST
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.platform.conftest import RecorderApp, recorder, xsession  # noqa: F401 - fixtures
from tests.server.test_manual import VIDEO, _button1_down, _msg, _until

pytestmark = [pytest.mark.x11, pytest.mark.slow, pytest.mark.timeout(120)]

HOLDER = "Phone A"


async def _phone(server: ServerProcess, device_id: str, name: str) -> ContopClient:
    url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
    client = ContopClient(url, device_id=device_id, device_name=name, video=False)
    await client.connect()
    client.send({"type": "set_manual_mode", "id": f"mode-{device_id}", "payload": {"enabled": True}})
    return client


@pytest.fixture
async def phones(xsession: XSession, tmp_path: Path) -> AsyncIterator[tuple[ContopClient, ContopClient]]:
    env = {"DISPLAY": xsession.display, "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"]}
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=env).start)
    clients: list[ContopClient] = []
    try:
        clients.append(await _phone(server, "phone-a", HOLDER))
        clients.append(await _phone(server, "phone-b", "Phone B"))
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()
        await asyncio.to_thread(server.stop)
        if _button1_down(xsession.display):  # leave the shared X session as we found it
            from Xlib import X
            from Xlib import display as xdisplay
            from Xlib.ext import xtest

            d = xdisplay.Display(xsession.display)
            xtest.fake_input(d, X.ButtonRelease, 1)
            d.sync()
            d.close()


def _shot(recorder: RecorderApp, name: str, dy: int = 0) -> dict[str, float]:
    """The video-frame point of a widget's centre (``dy`` native pixels lower), as the phone would send it."""
    x, y = recorder.center(name)
    vx, vy = VIDEO.to_shot(x, y + dy)
    return {"x": vx, "y": vy}


def _pressed(events: list[dict[str, Any]], name: str) -> bool:
    return any(e["event"] == "pressed" and e["name"] == name for e in events)


async def _refused(phone: ContopClient, message: dict[str, Any]) -> str:
    reply = await phone.request(message, expect_type="error", timeout=10)
    payload = reply.payload.model_dump()
    assert reply.type == "error" and payload["code"] == "busy", payload
    return str(payload["message"])


async def _tap_alpha(phone: ContopClient, recorder: RecorderApp) -> None:
    """Phone B taps the Alpha button as the phone app does (the cursor moved there on the fast channel, then a
    click), and Alpha is pressed."""
    alpha = _shot(recorder, "Alpha")
    phone.send(_msg("mouse_move", **alpha), FAST)
    phone.send(_msg("click", **alpha))
    await asyncio.to_thread(recorder.wait_for, lambda ev: _pressed(ev, "Alpha"))


async def test_a_tap_from_another_phone_does_not_end_a_drag(
    phones: tuple[ContopClient, ContopClient], xsession: XSession, recorder: RecorderApp
) -> None:
    """QA: phone A long-pressed L on the canvas; phone B's tap on a button was merged into A's drag (the pointer
    dragged to B's target, the press released there) and B's target was never pressed."""
    a, b = phones
    a.send(_msg("mouse_down", **_shot(recorder, "canvas")))
    await _until(lambda: _button1_down(xsession.display), 10, "phone A's press never arrived")
    a.send(_msg("mouse_move", **_shot(recorder, "canvas", dy=20)), FAST)
    await asyncio.to_thread(recorder.wait_for, lambda ev: any(e["event"] == "drag" for e in ev))

    alpha = _shot(recorder, "Alpha")
    refused = [
        _msg("mouse_move", **alpha),
        _msg("click", **alpha),
        _msg("mouse_down", **alpha),
        _msg("mouse_up", **alpha),
        _msg("scroll", **alpha, direction="down", clicks=1),
        _msg("key_combo", keys="Escape"),  # would cancel A's drag in most apps
        _msg("type", text="b"),
    ]
    replies = [asyncio.ensure_future(_refused(b, message)) for message in refused]  # sent in this order
    await asyncio.sleep(0.5)  # anything that slipped through reaches the recorder by now
    events = recorder.events()
    assert _button1_down(xsession.display), "phone B's input released phone A's button"
    assert not [e for e in events if e["event"] in ("release", "key", "wheel")], events[-10:]
    assert not _pressed(events, "Alpha") and recorder.last_text() in (None, "")
    assert all(e["widget"] == "canvas" for e in events if e["event"] == "button"), events[-10:]
    for text in await asyncio.gather(*replies):
        assert text.startswith("another device holds a mouse button:") and HOLDER in text, text

    # Phone A's own release still works: it ends the drag where A put it.
    end = _shot(recorder, "canvas", dy=40)
    a.send(_msg("mouse_up", **end))
    events = await asyncio.to_thread(recorder.wait_for, lambda ev: any(e["event"] == "release" for e in ev))
    release = next(e for e in events if e["event"] == "release")
    assert (release["x"], release["y"]) == VIDEO.to_native(end["x"], end["y"]) and release["num"] == 1

    await _tap_alpha(b, recorder)  # A let go: B works again

    # A presses again and its link drops mid-drag: the server lets go of the button, and B works again.
    a.send(_msg("mouse_down", **_shot(recorder, "canvas")))
    await _until(lambda: _button1_down(xsession.display), 10, "phone A's second press never arrived")
    text = await _refused(b, _msg("click", **_shot(recorder, "Beta")))
    assert HOLDER in text, text
    await a.aclose()
    await _until(lambda: not _button1_down(xsession.display), 20, "button 1 still down after phone A vanished")
    beta = _shot(recorder, "Beta")
    b.send(_msg("click", **beta))
    await asyncio.to_thread(recorder.wait_for, lambda ev: _pressed(ev, "Beta"))


async def test_leaving_manual_mode_lets_go_of_a_held_button(
    phones: tuple[ContopClient, ContopClient], xsession: XSession, recorder: RecorderApp
) -> None:
    """A phone that leaves manual mode without a mouse_up (an older app) must not keep the button down, and so
    every other device refused as "busy", until its link ends."""
    a, b = phones
    a.send(_msg("mouse_down", **_shot(recorder, "canvas")))
    await _until(lambda: _button1_down(xsession.display), 10, "phone A's press never arrived")
    assert HOLDER in await _refused(b, _msg("click", **_shot(recorder, "Beta")))
    a.send({"type": "set_manual_mode", "id": "mode-off-a", "payload": {"enabled": False}})
    await _until(lambda: not _button1_down(xsession.display), 10, "button 1 still down after A left manual mode")
    await _tap_alpha(b, recorder)
