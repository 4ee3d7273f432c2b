"""Session behaviour with real peers: hand-over to a reconnecting device, connection loss, the outgoing queue,
the heartbeat, and a phone killed mid-session."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from aiortc.rtcsctptransport import DataChunk, parse_packet

from contop.client import ContopClient
from contop.core.messages import (
    AgentConfirmationResponse,
    AgentText,
    ConfirmationResponsePayload,
    Envelope,
    Error,
    Keepalive,
    TextPayload,
    UserIntent,
    UserIntentPayload,
)
from contop.testing.server import ServerProcess
from contop.transport.session import Session, SessionState, Timing
from tests.transport.conftest import LocalServer, devices, pair

pytestmark = pytest.mark.slow


class FakeExecution:
    """Stands in for an agent run: records what the session does to it."""

    def __init__(self) -> None:
        self.cancelled = False
        self.reason = ""
        self.adopted: list[Session] = []

    def cancel(self, reason: str = "") -> None:
        self.cancelled = True
        self.reason = reason

    def adopt(self, session: Session) -> None:
        self.adopted.append(session)


class Harness:
    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.executions: list[FakeExecution] = []
        self.confirmations: list[bool] = []
        self.started = asyncio.Event()
        manager = server.state.sessions
        assert manager is not None
        self.manager = manager
        manager.router.register("user_intent", self.on_intent, replace=True)  # the test stands in for the agent

    async def on_intent(self, session: Session, message: Envelope) -> None:
        assert isinstance(message, UserIntent)
        execution = FakeExecution()
        session.set_execution(execution)
        self.executions.append(execution)
        self.started.set()
        if message.payload.text == "ask":
            self.confirmations.append(await session.confirm(tool="execute_cli", command="rm -rf x", timeout=30))

    def session(self, device_id: str) -> Session:
        session = self.manager.get(device_id)
        assert session is not None
        return session


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_reconnecting_device_takes_over_the_running_execution(local_server: LocalServer) -> None:
    harness = Harness(local_server)
    url = (await local_server.pair())["url"]
    first = ContopClient(url, device_id="phone-h")
    second = ContopClient(url, device_id="phone-h")
    try:
        await first.connect()
        first.send(UserIntent(payload=UserIntentPayload(text="work")))
        await asyncio.wait_for(harness.started.wait(), 5)
        old = harness.session("phone-h")
        [execution] = harness.executions
        await second.connect()
        new = harness.session("phone-h")
        assert new is not old and old.state is SessionState.REPLACED
        assert execution.adopted == [new] and not execution.cancelled
        assert new.execution is execution
        # Whatever still holds the old session reaches the phone on the new connection.
        old.send(AgentText(payload=TextPayload(text="from the old reference")))
        got = await second.next_message("agent_text", timeout=5)
        assert isinstance(got, AgentText) and got.payload.text == "from the old reference"
        await asyncio.wait_for(first.wait_closed(), 5)
    finally:
        await first.aclose()
        await second.aclose()


async def test_connection_loss_kills_execution_rejects_confirmations_and_queues(local_server: LocalServer) -> None:
    harness = Harness(local_server)
    url = (await local_server.pair())["url"]
    first = ContopClient(url, device_id="phone-l")
    await first.connect()
    first.send(UserIntent(payload=UserIntentPayload(text="ask")))
    request = await first.next_message("agent_confirmation_request", timeout=5)
    session = harness.session("phone-l")
    assert len(session.pending) == 1 and request.id in session.pending
    await first.aclose()  # the phone goes away without answering
    await eventually(lambda: session.state is SessionState.LOST)
    [execution] = harness.executions
    assert execution.cancelled and execution.reason == "the connection to the phone was lost"  # not "your request"
    await eventually(lambda: harness.confirmations == [False])

    for n in range(3):
        session.send(AgentText(payload=TextPayload(text=f"queued-{n}")))
    assert len(session.outbox) == 3
    async with ContopClient(url, device_id="phone-l") as second:
        # What waited comes first, then the greeting: the state after it (the phone settles a lost request by it).
        kinds = []
        while "state_update" not in kinds:
            message = await second.next_message("agent_text", "state_update", "agent_status", timeout=5)
            kinds.append(message.type if message.type != "agent_text" else message.payload.text)  # type: ignore[attr-defined]
        assert kinds == ["queued-0", "queued-1", "queued-2", "state_update"]
        assert harness.session("phone-l").outbox == type(session.outbox)()


async def test_what_a_vanished_phone_never_acknowledged_reaches_it_after_it_reconnects(
    local_server: LocalServer,
) -> None:
    """The phone walks out of Wi-Fi: messages sent in the seconds before the server notices were handed to SCTP
    and never arrived. They are sent again, in order, on its next connection (a message that did arrive after
    all is dropped by the client, which remembers ids)."""
    harness = Harness(local_server)
    harness.manager.timing = Timing(heartbeat=0.2, ack_timeout=1.0, check=0.1, link_silence=0.6)
    url = (await local_server.pair())["url"]
    first = ContopClient(url, device_id="phone-w")
    await first.connect()
    session = harness.session("phone-w")
    session.send(AgentText(payload=TextPayload(text="before")))
    assert (await first.next_message("agent_text", timeout=5)).payload.text == "before"  # type: ignore[attr-defined]
    assert first.pc is not None and first.pc.sctp is not None

    async def black_hole(data: bytes) -> None:
        return None

    first.pc.sctp.transport._send_data = black_hole  # type: ignore[method-assign]  # no SACK leaves the phone
    first._on_message = lambda channel, data: None  # type: ignore[method-assign]  # nor does anything reach its app
    for n in range(5):
        session.send(AgentText(payload=TextPayload(text=f"in-flight-{n}")))
    await eventually(lambda: session.state is SessionState.LOST, timeout=10)
    session.send(AgentText(payload=TextPayload(text="queued-after")))
    try:
        async with ContopClient(url, device_id="phone-w") as second:
            texts = []
            while len(texts) < 6:
                message = await second.next_message("agent_text", timeout=5)
                texts.append(message.payload.text)  # type: ignore[attr-defined]
            assert texts == [f"in-flight-{n}" for n in range(5)] + ["queued-after"]
    finally:
        await first.aclose()


async def test_a_phone_on_a_lossy_link_is_not_taken_for_a_vanished_one(local_server: LocalServer) -> None:
    """One packet to the phone is lost again and again for 2.5 s, far past ack_timeout (on a real link: lost three
    times in a row, SCTP tries after 1, 2, then 4 s). The phone's stack acknowledges each keepalive sent after it
    (with a gap report) all along, so the session stays open and the message arrives in order."""
    harness = Harness(local_server)
    harness.manager.timing = Timing(heartbeat=0.2, ack_timeout=1.0, check=0.1, link_silence=0.6)
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-lossy") as phone:
        session = harness.session("phone-lossy")
        assert phone.pc is not None and phone.pc.sctp is not None
        sctp = phone.pc.sctp
        receive = sctp._handle_data
        dropped: list[float] = []

        async def lossy(data: bytes) -> None:
            chunks = parse_packet(data)[3]
            mine = any(isinstance(c, DataChunk) and b"lost-for-a-while" in c.user_data for c in chunks)
            if mine and (not dropped or time.monotonic() - dropped[0] < 2.5):
                dropped.append(time.monotonic())
                return
            await receive(data)

        sctp._handle_data = lossy  # type: ignore[method-assign]
        session.send(AgentText(payload=TextPayload(text="lost-for-a-while")))
        session.send(AgentText(payload=TextPayload(text="after")))
        first = await phone.next_message("agent_text", timeout=15)
        second = await phone.next_message("agent_text", timeout=5)
        assert [first.payload.text, second.payload.text] == ["lost-for-a-while", "after"]  # type: ignore[attr-defined]
        assert len(dropped) >= 2 and dropped[-1] - dropped[0] > 1.5  # really lost for longer than ack_timeout
        assert session.state is SessionState.OPEN and harness.session("phone-lossy") is session


async def test_a_message_sent_again_is_handled_once(local_server: LocalServer) -> None:
    client = ContopClient((await local_server.pair())["url"])  # not connected: messages are fed by hand
    text = AgentText(payload=TextPayload(text="once")).to_json()
    client._on_message("contop", text)
    client._on_message("contop", text)
    assert client._inbox.qsize() == 1


async def test_pending_confirmation_moves_to_the_new_connection(local_server: LocalServer) -> None:
    harness = Harness(local_server)
    url = (await local_server.pair())["url"]
    first = ContopClient(url, device_id="phone-c")
    second = ContopClient(url, device_id="phone-c")
    try:
        await first.connect()
        first.send(UserIntent(payload=UserIntentPayload(text="ask")))
        request = await first.next_message("agent_confirmation_request", timeout=5)
        await asyncio.sleep(1.5)
        await second.connect()
        again = await second.next_message("agent_confirmation_request", timeout=5)
        assert again.id == request.id  # the same question, shown on the new screen
        # with the time left to answer it: a freshly loaded phone app counts down from what it is told
        full, left = request.to_dict()["payload"]["timeout_s"], again.to_dict()["payload"]["timeout_s"]
        assert full - 3 < left <= full - 1.5, (full, left)
        answer = {"approved": True, "request_id": again.id}
        second.send({"type": "agent_confirmation_response", "id": "r-1", "payload": answer})
        await eventually(lambda: harness.confirmations == [True])
    finally:
        await first.aclose()
        await second.aclose()


async def test_heartbeat_keeps_quiet_phones_warns_about_them_and_drops_vanished_ones(
    local_server: LocalServer,
) -> None:
    harness = Harness(local_server)
    harness.manager.timing = Timing(heartbeat=0.2, ack_timeout=1.0, check=0.1, link_silence=0.6, silence_warning=0.8)
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-a") as alive:
        await asyncio.sleep(2.0)
        assert harness.session("phone-a").state is SessionState.OPEN
        assert (await alive.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"

    # A phone whose code never answers (a backgrounded tab) is still acknowledged by its SCTP stack: it stays.
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-q", answer_heartbeat=False) as quiet:
        warning = await quiet.next_message("agent_status", timeout=5)
        assert warning.payload.status_type == "connection_warning"  # type: ignore[attr-defined]
        await asyncio.sleep(1.5)
        assert harness.session("phone-q").state is SessionState.OPEN

    # A phone that vanished acknowledges nothing: dropped after ack_timeout, without waiting for ICE consent.
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-v") as vanished:
        assert vanished.pc is not None and vanished.pc.sctp is not None

        async def black_hole(data: bytes) -> None:
            return None

        vanished.pc.sctp.transport._send_data = black_hole  # type: ignore[method-assign]
        started = time.monotonic()
        await eventually(lambda: harness.session("phone-v").state is SessionState.LOST, timeout=5)
        assert time.monotonic() - started < 2.5


async def test_unregistered_fast_channel_traffic_is_not_answered_per_message(local_server: LocalServer) -> None:
    harness = Harness(local_server)
    harness.manager.router.unregister("manual_control")  # as in a build without manual control
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-f") as client:
        for n in range(200):
            move = {"type": "manual_control", "id": f"m{n}", "payload": {"action": "mouse_move", "x": n, "y": 1}}
            client.send(move, "contop-fast")
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"
        errors = []
        while not client._inbox.empty():
            message = client._inbox.get_nowait()
            if isinstance(message, Error):
                errors.append(message)
        assert 1 <= len(errors) <= 3 and errors[0].payload.code == "not_available"


async def test_only_pointer_traffic_is_taken_on_the_fast_channel(local_server: LocalServer) -> None:
    """contop-fast is unordered and drops what it cannot deliver: an intent or an approval sent there is refused
    with an error naming the right channel, and nothing runs."""
    harness = Harness(local_server)
    ran: list[str] = []

    async def record(session: Any, message: Any) -> None:
        ran.append(message.type)

    harness.manager.router.register("user_intent", record, replace=True)
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-c") as client:
        intent = {"type": "user_intent", "id": "i-1", "payload": {"text": "delete everything"}}
        client.send(intent, "contop-fast")
        error = await client.next_message("error", timeout=5)
        assert isinstance(error, Error) and error.payload.code == "invalid_message"
        assert error.payload.ref_id == "i-1" and "reliable channel 'contop'" in error.payload.message
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"
        client.send({**intent, "id": "i-2"})  # the same intent on the reliable channel runs
        await eventually(lambda: ran == ["user_intent"], timeout=5)


async def test_an_unanswered_confirmation_expires_and_the_phone_is_told(local_server: LocalServer) -> None:
    harness = Harness(local_server)
    answers: list[bool] = []

    async def ask(session: Any, message: Any) -> None:
        answers.append(await session.confirm(tool="execute_cli", command="rm -rf build", timeout=0.3))

    harness.manager.router.register("user_intent", ask, replace=True)
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone-e") as client:
        client.send(UserIntent(payload=UserIntentPayload(text="clean")))
        request = await client.next_message("agent_confirmation_request", timeout=5)
        assert request.to_dict()["payload"]["timeout_s"] == 0.3  # the phone counts it down
        status = await client.next_message("agent_status", timeout=5)
        payload = status.to_dict()["payload"]
        assert payload["status_type"] == "confirmation_expired" and payload["ref_id"] == request.id
        assert "execute_cli was not approved within 0 s" in payload["message"]
        assert answers == [False]
        late = AgentConfirmationResponse(payload=ConfirmationResponsePayload(approved=True, request_id=request.id))
        error = await client.request(late, expect_type="error", timeout=5)
        assert isinstance(error, Error) and "expired" in error.payload.message and answers == [False]


PHONE_SCRIPT = """
import asyncio, sys
from contop.client import ContopClient

async def main():
    client = ContopClient(sys.argv[1], device_id="phone-k", video=False)
    await client.connect()
    print("READY", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_phone_killed_mid_session_is_noticed_within_10_seconds(server: ServerProcess) -> None:
    url = pair(server)["url"]
    proc = subprocess.Popen(
        [sys.executable, "-c", PHONE_SCRIPT, url], stdout=subprocess.PIPE, start_new_session=True, text=True
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)  # type: ignore[union-attr]
        assert line.strip() == "READY"
        assert devices(server)["devices"][0]["connected"] is True
        await asyncio.sleep(1)
        os.killpg(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        while devices(server)["devices"][0]["connected"]:
            assert time.monotonic() - killed < 10, "the server did not notice the phone was gone"
            await asyncio.sleep(0.2)
        body = devices(server)
        assert [e["type"] for e in body["events"]] == ["connected", "disconnected"]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_a_cancelled_negotiation_leaves_nothing_behind(local_server: LocalServer) -> None:
    """The server shuts down (or the task answering an offer is cancelled) while the answer is being made: the
    half-made session is closed and forgotten at once, not kept until shutdown."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    manager = local_server.state.sessions
    assert manager is not None
    probing = asyncio.Event()

    async def slow_video() -> None:
        probing.set()
        await asyncio.sleep(30)  # a display probe that hangs

    manager._video = slow_video
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.createDataChannel("contop")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        task = asyncio.ensure_future(
            manager.connect(pc.localDescription.sdp, device_id="phone-x", device_name="X", connection_type="permanent")
        )
        await asyncio.wait_for(probing.wait(), 10)
        [session] = manager._connecting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert manager._connecting == set() and session.state is SessionState.CLOSED
    finally:
        await pc.close()


def test_what_is_not_sent_again_after_a_lost_link() -> None:
    from contop.core.messages import (
        AgentConfirmationRequest,
        AgentStatus,
        AgentStatusPayload,
        ConfirmationRequestPayload,
    )
    from contop.transport.session import _worth_resending

    def status(kind: str) -> str:
        return AgentStatus(payload=AgentStatusPayload(status_type=kind, message="m")).to_json()

    assert _worth_resending(AgentText(payload=TextPayload(text="step 3")).to_json())
    assert _worth_resending(status("sandbox_fallback"))
    assert not _worth_resending(status("video_unavailable"))  # about the dead connection's video track
    assert not _worth_resending(status("video_resumed"))
    assert not _worth_resending(Keepalive().to_json())
    ask = AgentConfirmationRequest(payload=ConfirmationRequestPayload(tool="execute_cli"))
    assert not _worth_resending(ask.to_json())  # answered "no" when the link was lost
