"""Routing and the session's queue without a network: the pure parts, with a fake peer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from contop.core.messages import RELIABLE, AgentText, Envelope, TextPayload, UserIntent, UserIntentPayload
from contop.transport.manager import SessionManager
from contop.transport.router import Router
from contop.transport.session import OUTBOX_SIZE, Session, SessionState, Timing


class FakePeer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.open = True

    def send(self, channel: str, text: str) -> bool:
        if not self.open:
            return False
        self.sent.append((channel, text))
        return True

    def take_unsent(self) -> list[str]:
        return []

    def unacked_age(self) -> float:
        return 0.0

    async def aclose(self) -> None:
        self.open = False


class Hooks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def mark_connected(self, device_id: str, connected: bool, path: object = None) -> None:
        self.calls.append((device_id, connected))

    def seen(self, device_id: str) -> None:
        pass


def make_session(
    router: Router | None = None, on_open: Callable[[Session], None] | None = None
) -> tuple[Session, FakePeer, Hooks]:
    hooks = Hooks()
    session = Session(
        device_id="d", device_name="D", connection_type="permanent", router=router or Router(), hooks=hooks,
        timing=Timing(heartbeat=60, check=60), on_open=on_open,
    )  # fmt: skip
    peer = FakePeer()
    session.attach(peer)  # type: ignore[arg-type]
    return session, peer, hooks


def sent_types(peer: FakePeer) -> list[str]:
    return [json.loads(text)["type"] for _, text in peer.sent]


def test_register_rules() -> None:
    router = Router()

    async def handler(session: Session, message: Envelope) -> None:
        return None

    router.register("user_intent", handler)
    with pytest.raises(ValueError, match="already"):
        router.register("user_intent", handler)
    router.register("user_intent", handler, replace=True)
    with pytest.raises(ValueError, match="not a message the phone sends"):
        router.register("agent_result", handler)
    assert router.registered() == ["user_intent"]


async def test_unregistered_type_is_not_available_and_a_crash_is_internal() -> None:
    router = Router()

    async def broken(session: Session, message: Envelope) -> None:
        raise RuntimeError("bug")

    router.register("new_session", broken)
    session, peer, _ = make_session(router)
    session.link_open()
    await router.dispatch(session, UserIntent(id="u1", payload=UserIntentPayload(text="hi")))
    await router.dispatch(session, Envelope.model_validate({"type": "new_session", "id": "n1", "payload": {}}))
    errors = [json.loads(text)["payload"] for _, text in peer.sent if json.loads(text)["type"] == "error"]
    assert [(e["code"], e["ref_id"]) for e in errors] == [("not_available", "u1"), ("internal", "n1")]
    await session.aclose()


async def test_queue_while_lost_is_bounded_and_flushed_in_order() -> None:
    session, _peer, hooks = make_session()
    session.link_open()
    assert hooks.calls == [("d", True)]
    session.link_lost("test")
    assert session.state is SessionState.LOST and hooks.calls[-1] == ("d", False)
    for n in range(OUTBOX_SIZE + 5):
        session.send(AgentText(payload=TextPayload(text=str(n))))
    assert len(session.outbox) == OUTBOX_SIZE
    assert json.loads(session.outbox[0])["payload"]["text"] == "5"  # the oldest were dropped

    successor, new_peer, _ = make_session(on_open=lambda new: new.take_over_from(session))
    successor.link_open()  # the manager hands over here, then the queue is flushed
    texts = [json.loads(t)["payload"]["text"] for c, t in new_peer.sent if c == RELIABLE and "agent_text" in t]
    assert texts == [str(n) for n in range(5, OUTBOX_SIZE + 5)]
    assert not successor.outbox and session.state is SessionState.REPLACED
    await successor.aclose()
    await session.aclose()


async def test_confirmation_without_a_phone_is_a_no() -> None:
    session, _, _ = make_session()
    assert await session.confirm(tool="execute_cli", command="rm x", timeout=1) is False  # never opened
    await session.aclose()


async def test_aclose_is_idempotent_and_cancels_owned_tasks() -> None:
    session, _, _ = make_session()
    session.link_open()
    task = session.spawn(asyncio.sleep(3600))
    await session.aclose()
    await session.aclose()
    assert task.cancelled() and session.state is SessionState.CLOSED


class FakeChannel:
    """Enough of RTCDataChannel for the writer: readyState, bufferedAmount and the low-water event."""

    def __init__(self) -> None:
        self.readyState = "open"
        self.bufferedAmount = 0
        self.bufferedAmountLowThreshold = 0
        self.sent: list[str] = []
        self._low: Callable[[], None] | None = None

    def on(self, event: str, callback: Callable[[], None]) -> None:
        assert event == "bufferedamountlow"
        self._low = callback

    def send(self, text: str) -> None:
        self.sent.append(text)
        self.bufferedAmount += len(text)

    def drain(self) -> None:
        self.bufferedAmount = 0
        assert self._low is not None
        self._low()


def test_writers_hold_back_reliable_and_drop_fast_when_the_buffer_is_full() -> None:
    from contop.transport.peer import ChannelWriter

    reliable_channel, fast_channel = FakeChannel(), FakeChannel()
    reliable = ChannelWriter(reliable_channel, high_water=100, drop_when_full=False)  # type: ignore[arg-type]
    fast = ChannelWriter(fast_channel, high_water=100, drop_when_full=True)  # type: ignore[arg-type]
    for writer in (reliable, fast):
        assert writer.write("x" * 150)  # goes out: the buffer was empty
        assert writer.write("second")  # over the high-water mark now
    assert reliable_channel.sent == ["x" * 150] and fast_channel.sent == ["x" * 150]
    assert fast.dropped == 1  # a stale pointer move is not worth delaying anything for
    reliable_channel.drain()
    assert reliable_channel.sent == ["x" * 150, "second"]  # held back, sent once the buffer drained
    reliable_channel.readyState = "closed"
    assert reliable.write("late") is False  # the session queues it instead


async def test_shutdown_closes_every_session_even_when_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    manager = SessionManager(router=Router(), hooks=Hooks(), certificate=None)
    good, _, good_hooks = make_session()
    bad, _, _ = make_session()
    good.link_open()
    bad.link_open()

    async def broken(code: int = 1000, reason: str | None = None) -> None:
        raise RuntimeError("a bug while closing")

    bad.aclose = broken  # type: ignore[method-assign]
    manager._current.update({"good": good, "bad": bad})
    await manager.aclose()
    assert good.state is SessionState.CLOSED
    assert good_hooks.calls[-1] == ("d", False)  # its device is saved as disconnected before shutdown goes on
    assert "closing the session of d failed" in caplog.text and "a bug while closing" in caplog.text
