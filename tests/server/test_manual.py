"""Manual control and device control: pure mapping checks, then the phone's protocol over real WebRTC against a
real ``contop serve`` whose DISPLAY is the test X session."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.core.messages import FAST, ManualControlPayload, parse_phone_message
from contop.platform.geometry import Rect
from contop.server.device_control import ACTIONS
from contop.server.manual import ManualInputError, key_of, point, video_geometry
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.platform.conftest import RecorderApp, recorder, xsession  # noqa: F401 - fixtures
from tests.server.nullpeer import NullPeer

VIDEO = video_geometry(Rect(0, 0, 1920, 1080), 1280)


def test_video_geometry_matches_the_streamed_frame() -> None:
    assert (VIDEO.shot_width, VIDEO.shot_height) == (1280, 720)
    assert point(ManualControlPayload(action="mouse_move", x=640.0, y=360.0), VIDEO) == (960, 540)
    odd = video_geometry(Rect(0, 0, 1366, 768), 1280)
    assert (odd.shot_width % 2, odd.shot_height % 2) == (0, 0)


class RecordingSession:
    """A session that keeps what manual control sends it."""

    def __init__(self, session_id: str = "s1") -> None:
        self.id = session_id
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def on_end(self, callback: Any) -> None:
        pass


async def test_a_pointer_stream_without_a_display_gets_one_error_not_hundreds(monkeypatch: pytest.MonkeyPatch) -> None:
    from contop.core.errors import NotAvailableError
    from contop.core.messages import Envelope
    from contop.server import manual

    attempts = []

    def no_display(display: str | None) -> Any:
        attempts.append(display)
        raise NotAvailableError("no usable display")

    monkeypatch.setattr(manual, "open_desktop", no_display)

    control, session = manual.ManualControl(lambda _session: (1280, None), display=":99"), RecordingSession()

    def message(action: str, **fields: Any) -> Envelope:
        return Envelope.model_validate({"type": "manual_control", "id": f"m{len(session.sent)}-{time.monotonic()}",
                                        "payload": {"action": action, **fields}})  # fmt: skip

    for i in range(300):
        await control.on_manual_control(session, message("mouse_move", x=i, y=5))
    assert len(session.sent) == 1 and session.sent[0].payload.code == "not_available"
    assert len(attempts) == 1  # the failure is remembered, not retried for every move
    for _ in range(3):  # anything else still gets its own answer
        await control.on_manual_control(session, message("click", x=10, y=10))
    assert len(session.sent) == 4 and all(m.payload.code == "not_available" for m in session.sent)
    assert len(attempts) == 1
    monkeypatch.setattr(manual, "MOVE_ERROR_INTERVAL_S", 0.0)
    monkeypatch.setattr(manual, "NO_DESKTOP_RETRY_S", 0.0)
    await control.on_manual_control(session, message("mouse_move", x=1, y=5))
    assert len(session.sent) == 5 and len(attempts) == 2  # after the intervals: tried again, reported again
    await control.aclose()


class _RecordingDesk:
    """A desktop whose adapter records the button events it is asked for (no display)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.adapter = self
        self.capturer = self

    def monitor_rect(self) -> Rect:
        return Rect(0, 0, 1920, 1080)

    def move_mouse(self, x: int, y: int) -> None:
        pass

    def mouse_down(self, button: str) -> None:
        self.events.append(("down", button))

    def mouse_up(self, button: str) -> None:
        self.events.append(("up", button))


class _Hooks:
    def mark_connected(self, device_id: str, connected: bool, path: Any = None) -> None:
        pass

    def seen(self, device_id: str) -> None:
        pass


def _open_session(device_id: str = "phone") -> Any:
    from contop.transport.router import Router
    from contop.transport.session import Session, Timing

    session = Session(device_id=device_id, device_name=device_id, connection_type="temp", router=Router(),
                      hooks=_Hooks(), timing=Timing(heartbeat=60, check=60))  # fmt: skip
    session.attach(NullPeer())  # type: ignore[arg-type]
    session.link_open()
    return session


@pytest.mark.parametrize("ending", ["lost", "closed", "replaced"])
async def test_a_button_held_by_a_phone_is_released_when_its_connection_ends(
    monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    from contop.core.messages import Envelope
    from contop.server import manual

    desk = _RecordingDesk()
    monkeypatch.setattr(manual, "open_desktop", lambda display: desk)
    control = manual.ManualControl(lambda _session: (1280, None))
    session, other = _open_session(), _open_session("other-phone")

    def message(action: str, **fields: Any) -> Envelope:
        return parse_phone_message(json.dumps(_msg(action, **fields)))

    # The other phone's press and release come first: while this one holds a button, the other's are refused.
    await control.on_manual_control(other, message("mouse_down", button="middle"))
    await control.on_manual_control(other, message("mouse_up", button="middle"))
    await control.on_manual_control(session, message("mouse_down", x=10, y=10))
    await control.on_manual_control(session, message("mouse_down", button="right"))
    assert desk.events == [("down", "middle"), ("up", "middle"), ("down", "left"), ("down", "right")]
    if ending == "lost":
        session.link_lost("the phone vanished")
    elif ending == "closed":
        await session.aclose(code=4001, reason="pairing revoked")
    else:
        _open_session().take_over_from(session)
    deadline = time.monotonic() + 5
    while len(desk.events) < 6:
        assert time.monotonic() < deadline, desk.events
        await asyncio.sleep(0.01)
    assert sorted(desk.events[4:]) == [("up", "left"), ("up", "right")]
    await other.aclose()  # it let go of what it pressed: nothing more to release
    await control.aclose()
    assert len(desk.events) == 6


class _SlowDesk(_RecordingDesk):
    """A desktop whose geometry and Away Mode checks take uneven time, as X round trips in threads do."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)

    def monitor_rect(self) -> Rect:
        time.sleep(self.rng.uniform(0, 0.004))
        return Rect(0, 0, 1920, 1080)

    def away_overlay_active(self) -> bool:
        time.sleep(self.rng.uniform(0, 0.004))
        return False

    def move_mouse(self, x: int, y: int) -> None:
        self.events.append(("move", f"{x},{y}"))

    def press_key(self, combo: str) -> None:
        self.events.append(("key", combo))

    def type_text(self, text: str) -> None:
        self.events.append(("type", text))


@pytest.mark.parametrize("seed", range(3))
async def test_one_phones_actions_happen_in_the_order_it_sent_them(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    from contop.server import manual

    desk = _SlowDesk(seed)
    monkeypatch.setattr(manual, "open_desktop", lambda display: desk)
    monkeypatch.setattr(manual, "GEOMETRY_TTL_S", 0.0)  # every action asks for the geometry again
    control, session = manual.ManualControl(lambda _session: (1920, None)), RecordingSession()
    sent, expected = [], []
    for i in range(20):  # a press and its release, then a letter as text and one as a key, as a phone sends them
        sent += [_msg("mouse_down", x=10 * i, y=5), _msg("mouse_up", x=10 * i + 5, y=5)]
        sent += [_msg("type", text=chr(97 + i)), _msg("key_combo", keys=chr(65 + i))]
        expected += [("move", f"{10 * i},5"), ("down", "left"), ("move", f"{10 * i + 5},5"), ("up", "left")]
        expected += [("type", chr(97 + i)), ("key", chr(65 + i))]
    # one task per message, as the session starts them
    await asyncio.gather(*(control.on_manual_control(session, parse_phone_message(json.dumps(m))) for m in sent))
    assert desk.events == expected
    assert not session.sent
    await control.aclose()
    assert desk.events == expected  # nothing left held


async def test_shutdown_releases_what_is_still_held(monkeypatch: pytest.MonkeyPatch) -> None:
    from contop.server import manual

    desk = _RecordingDesk()
    monkeypatch.setattr(manual, "open_desktop", lambda display: desk)
    control = manual.ManualControl(lambda _session: (1280, None))
    await control.on_manual_control(_open_session(), parse_phone_message(json.dumps(_msg("mouse_down"))))
    await control.aclose()
    assert desk.events == [("down", "left"), ("up", "left")]


def test_bad_coordinates_and_keys_are_refused() -> None:
    with pytest.raises(ManualInputError, match="outside"):
        point(ManualControlPayload(action="click", x=1280.0, y=0.0), VIDEO)
    with pytest.raises(ManualInputError, match="needs x and y"):
        point(ManualControlPayload(action="click"), VIDEO)
    assert key_of(ManualControlPayload.model_validate({"action": "key_combo", "keys": ["ctrl", "c"]})) == "ctrl+c"
    with pytest.raises(ManualInputError, match="needs 'keys'"):
        key_of(ManualControlPayload.model_validate({"action": "key_combo", "keys": " "}))
    assert set(ACTIONS) == {"keep_awake_on", "keep_awake_off", "wake", "lock_screen"}


def _pointer(display: str) -> tuple[int, int]:
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        p = d.screen().root.query_pointer()
        return int(p.root_x), int(p.root_y)
    finally:
        d.close()


def _msg(action: str, **payload: Any) -> dict[str, Any]:
    import uuid

    return {"type": "manual_control", "id": str(uuid.uuid4()), "payload": {"action": action, **payload}}


@pytest.fixture
async def phone(xsession: XSession, tmp_path: Path) -> AsyncIterator[tuple[ContopClient, ServerProcess]]:
    env = {"DISPLAY": xsession.display, "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"]}
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=env).start)
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        client = ContopClient(url, device_id="manual-phone", video=False)
        await client.connect()
        try:
            yield client, server
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.x11
@pytest.mark.slow
async def test_manual_control_over_webrtc(
    phone: tuple[ContopClient, ServerProcess], xsession: XSession, recorder: RecorderApp
) -> None:
    client, _server = phone
    client.send({"type": "set_manual_mode", "id": "m1", "payload": {"enabled": True}})
    # A burst of moves on the fast channel (the client drops what would queue up), then one more: it must win.
    for i in range(20):
        client.send(_msg("mouse_move", x=100 + i, y=100 + i), FAST)
    await asyncio.sleep(0.3)
    assert client.send(_msg("mouse_move", x=131, y=77), FAST)
    target = VIDEO.to_native(131, 77)
    deadline = time.monotonic() + 10
    while _pointer(xsession.display) != target:
        assert time.monotonic() < deadline, f"pointer at {_pointer(xsession.display)}, expected {target}"
        await asyncio.sleep(0.01)

    cx, cy = recorder.center("canvas")
    vx, vy = VIDEO.to_shot(cx, cy)
    client.send(_msg("click", x=vx, y=vy))
    events = await asyncio.to_thread(
        recorder.wait_for, lambda ev: any(e["event"] == "button" and e["num"] == 1 for e in ev)
    )
    hit = next(e for e in events if e["event"] == "button" and e["num"] == 1)
    assert (hit["x"], hit["y"]) == VIDEO.to_native(vx, vy) and hit["widget"] == "canvas"

    ex, ey = recorder.center("entry")
    client.send(_msg("click", x=VIDEO.to_shot(ex, ey)[0], y=VIDEO.to_shot(ex, ey)[1]))
    client.send(_msg("type", text="manuel ✓"))
    await asyncio.to_thread(recorder.wait_for, lambda ev: recorder.last_text() == "manuel ✓")
    client.send(_msg("key_combo", keys=["ctrl", "a"]))
    await asyncio.to_thread(
        recorder.wait_for, lambda ev: any(e["event"] == "key" and e["keysym"] == "a" and e["state"] & 4 for e in ev)
    )
    client.send(_msg("scroll", x=vx, y=vy, direction="down", clicks=2))
    await asyncio.to_thread(recorder.wait_for, lambda ev: sum(e.get("num") == 5 for e in ev) >= 2)

    for bad, code in (
        (_msg("click", x=5000, y=10), "invalid_payload"),
        (_msg("click", x=float("inf"), y=10), "invalid_payload"),  # JSON's 1e400 (and Python's Infinity)
        (_msg("mouse_down", x=float("nan"), y=10), "invalid_payload"),
        (_msg("key_combo", keys="ctrl+nosuchkey"), "invalid_payload"),
        (_msg("levitate", x=1, y=1), "invalid_payload"),
        (_msg("type", text=""), "invalid_payload"),
    ):
        reply = await client.request(bad, expect_type="error", timeout=10)
        assert reply.type == "error" and reply.payload.code == code, reply  # type: ignore[attr-defined]
        assert reply.payload.ref_id == bad["id"]  # type: ignore[attr-defined]


@pytest.mark.x11
@pytest.mark.slow
async def test_presses_and_releases_sent_back_to_back_leave_no_button_down(
    phone: tuple[ContopClient, ServerProcess], xsession: XSession
) -> None:
    # QA: sent at once, a release could be carried out before its press, leaving the button held (a drag).
    client, _server = phone
    for i in range(20):
        client.send(_msg("mouse_down", x=100 + i, y=100))
        client.send(_msg("mouse_up", x=120 + i, y=100))
    target = VIDEO.to_native(139, 100)
    await _until(lambda: _pointer(xsession.display) == target, 10, "the last release never came")
    await asyncio.sleep(0.3)
    assert not _button1_down(xsession.display)


@pytest.mark.x11
@pytest.mark.slow
async def test_the_pointer_follows_the_video_the_phone_watches(xsession: XSession, tmp_path: Path) -> None:
    """The phone's coordinates are pixels of the frame it sees. A phone that connected with a 640-wide video
    keeps that size when the setting changes to 1280 (its track is made at connect), so its touches must still
    be mapped from 640, not from the new setting."""
    env = {"DISPLAY": xsession.display, "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"]}
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=env).start)

    async def set_width(width: int) -> None:
        current = (await asyncio.to_thread(server.request, "GET", "/api/settings")).json()
        reply = await asyncio.to_thread(server.request, "PUT", "/api/settings", json={**current, "video_width": width})
        assert reply.status_code == 200 and reply.json()["video_width"] == width, reply.text

    try:
        await set_width(640)
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="watching-phone") as client:
            frame = await asyncio.wait_for(client.frames.get(), 20)
            assert frame.width == 640
            await set_width(1280)
            small = video_geometry(Rect(0, 0, 1920, 1080), 640)
            for x, y in ((320, 180), (600, 40)):
                client.send(_msg("mouse_move", x=x, y=y), FAST)
                target = small.to_native(x, y)
                deadline = time.monotonic() + 10
                while _pointer(xsession.display) != target:
                    assert time.monotonic() < deadline, f"pointer at {_pointer(xsession.display)}, expected {target}"
                    await asyncio.sleep(0.02)
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.x11
@pytest.mark.slow
async def test_device_control_keep_awake_persists(phone: tuple[ContopClient, ServerProcess]) -> None:
    client, server = phone
    on = {"type": "device_control", "id": "dc-1", "payload": {"action": "keep_awake_on"}}
    reply = await client.request(on, expect_type="device_control_result", timeout=15)
    assert reply.type == "device_control_result"
    payload = reply.payload.model_dump()
    assert payload["status"] == "success" and payload["ref_id"] == "dc-1" and payload["keep_host_awake"] is True
    settings = json.loads((server.home / "settings.json").read_text())
    assert settings["keep_host_awake"] is True

    wake = await client.request(
        {"type": "device_control", "id": "dc-2", "payload": {"action": "wake"}}, expect_type="device_control_result"
    )
    assert wake.payload.model_dump()["status"] == "success", wake

    lock = await client.request(
        {"type": "device_control", "id": "dc-3", "payload": {"action": "lock_screen"}},
        expect_type="device_control_result",
        timeout=30,
    )
    # The test session has no logind session, screen saver service or xdg-screensaver: a clear refusal.
    lock_payload = lock.payload.model_dump()
    assert lock_payload["status"] in ("success", "error") and lock_payload["message"]

    bad = await client.request(
        {"type": "device_control", "id": "dc-4", "payload": {"action": "explode"}}, expect_type="device_control_result"
    )
    assert bad.type == "error" and bad.payload.model_dump()["code"] == "invalid_payload"


def _button1_down(display: str) -> bool:
    from Xlib import X
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        return bool(d.screen().root.query_pointer().mask & X.Button1Mask)
    finally:
        d.close()


async def _until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@pytest.mark.x11
@pytest.mark.slow
async def test_a_phone_that_goes_away_mid_drag_leaves_no_button_down(
    phone: tuple[ContopClient, ServerProcess], xsession: XSession
) -> None:
    client, server = phone
    try:
        # Revoked mid-drag: the server closes the connection and lets go of the button.
        client.send(_msg("mouse_down", x=640, y=360), FAST)
        await _until(lambda: _button1_down(xsession.display), 10, "the phone's press never arrived")
        reply = await asyncio.to_thread(server.request, "DELETE", "/api/pair", params={"device_id": "manual-phone"})
        assert reply.status_code == 200, reply.text
        await _until(lambda: not _button1_down(xsession.display), 10, "button 1 still down after the revocation")

        # The phone just vanishes (browser closed) mid-drag.
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        second = ContopClient(url, device_id="vanishing-phone", video=False)
        await second.connect()
        try:
            second.send(_msg("mouse_down", x=600, y=300), FAST)
            await _until(lambda: _button1_down(xsession.display), 10, "the second phone's press never arrived")
        finally:
            await second.aclose()
        await _until(lambda: not _button1_down(xsession.display), 20, "button 1 still down after the phone vanished")
    finally:
        if _button1_down(xsession.display):  # leave the shared X session as we found it
            from Xlib import X
            from Xlib import display as xdisplay
            from Xlib.ext import xtest

            d = xdisplay.Display(xsession.display)
            xtest.fake_input(d, X.ButtonRelease, 1)
            d.sync()
            d.close()


async def test_no_display_is_not_available_not_a_bad_payload() -> None:
    from contop.core.messages import Envelope
    from contop.server import manual

    control = manual.ManualControl(lambda _session: (1280, None), display="no-such-display")
    session = RecordingSession("s-nodisplay")
    click = Envelope.model_validate(
        {"type": "manual_control", "id": "c1", "payload": {"action": "click", "x": 5, "y": 5}}
    )
    await control.on_manual_control(session, click)
    assert [m.payload.code for m in session.sent] == ["not_available"]
    assert "No desktop available" in session.sent[0].payload.message
