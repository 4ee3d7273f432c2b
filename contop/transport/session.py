"""One session per phone connection: its peer, outgoing queue, pending confirmations and the running execution.

The session turns channel traffic into typed messages for the router, keeps the phone's liveness (a heartbeat
on the reliable channel, so a vanished phone is noticed in seconds, not after ICE's 30 s consent timeout), and
implements the connection-loss rules of the transport reference: the execution is killed at once, pending
confirmations are rejected, outgoing messages are queued and flushed when the device reconnects. A newer
connection of the same device takes over the queue, the pending confirmations and the running execution.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from contop.core.messages import (
    FAST,
    RELIABLE,
    AgentConfirmationRequest,
    AgentConfirmationResponse,
    AgentStatus,
    AgentStatusPayload,
    Channel,
    ConfirmationRequestPayload,
    Envelope,
    Error,
    InvalidMessage,
    Keepalive,
    KeepalivePayload,
    is_pointer_move,
    read_phone_message,
)

if TYPE_CHECKING:
    from contop.transport.peer import Peer
    from contop.transport.router import Router

log = logging.getLogger(__name__)

OUTBOX_SIZE = 1000
CONFIRM_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Timing:
    """How the session watches the phone.

    The server sends ``keepalive`` every ``heartbeat`` seconds on the reliable channel. A phone is gone when that
    data stays unacknowledged by its SCTP stack for ``ack_timeout`` (a quiet but live phone always acknowledges,
    so this needs nothing from the phone's code) and its stack has sent nothing at all for ``link_silence`` —
    noticed within heartbeat + ack_timeout + check seconds. The second condition keeps a phone on a lossy link:
    one of our packets lost three times in a row waits 1 + 2 + 4 s for SCTP's retransmission, while the phone
    goes on acknowledging (with gap reports) each keepalive sent after it. ``link_silence`` must be longer than
    ``heartbeat`` plus the phone's delayed-acknowledgement time (200 ms at most).
    Application silence alone never closes the connection (a backgrounded phone may stay quiet): after
    ``silence_warning`` seconds without any message the seed's "missed keepalives" warning is logged and sent.
    """

    heartbeat: float = 2.0
    ack_timeout: float = 6.0
    link_silence: float = 3.0
    check: float = 0.5
    silence_warning: float = 90.0  # the seed's 3 missed 30 s keepalives
    connect: float = 30.0  # a negotiation that has not opened both channels by then is abandoned
    move_error_interval: float = 1.0  # at most one error per second for failed mouse_moves (a stream of them)
    seen_interval: float = 5.0  # the device registry hears that the phone is active at most this often


# Not sent again after a lost link: the questions were just answered "no" (_reject_pending), a heartbeat only
# mattered to the connection that died, and so did the state of its video track (the next connection has its own).
_STALE_AFTER_LOSS = frozenset({"agent_confirmation_request", "keepalive"})
_STALE_STATUSES = frozenset({"video_unavailable", "video_resumed"})


def _worth_resending(text: str) -> bool:
    try:
        message = json.loads(text)
        kind = message.get("type")
        status = message.get("payload", {}).get("status_type") if kind == "agent_status" else None
    except (ValueError, AttributeError):
        return True
    return kind not in _STALE_AFTER_LOSS and status not in _STALE_STATUSES


class SessionState(StrEnum):
    CONNECTING = "connecting"
    OPEN = "open"
    LOST = "lost"  # the link died; the queue waits for the device to come back
    REPLACED = "replaced"  # a newer connection of the same device took over
    CLOSED = "closed"


_ENDED = frozenset({SessionState.LOST, SessionState.REPLACED, SessionState.CLOSED})


class Execution(Protocol):
    """Whatever runs for a session (an agent run); filled by other parts through ``Session.set_execution``."""

    def cancel(self, reason: str = "") -> None:
        """Stop now (connection lost, execution_stop, revoke, shutdown); ``reason`` is for the user, empty when they
        asked (execution_stop)."""

    def adopt(self, session: Session) -> None:
        """Continue, reporting to ``session`` from now on (the same device reconnected)."""


class SessionHooks(Protocol):
    """What the session tells the server (the pairing service's device registry fits)."""

    def mark_connected(self, device_id: str, connected: bool, path: Any = None) -> None: ...

    def seen(self, device_id: str) -> None:
        """The phone sent something (its devices entry says when it was last active)."""


class Closable(Protocol):
    """The signaling socket, as far as the session needs it."""

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@dataclass
class _Pending:
    future: asyncio.Future[bool]
    request: AgentConfirmationRequest  # re-sent to a connection that takes over, with the time left
    deadline: float  # loop time at which the desktop stops waiting for the answer

    def resent(self, now: float) -> str:
        """The request again, its ``timeout_s`` now the time left: a freshly loaded phone app counts down from it."""
        payload = self.request.payload.model_copy(update={"timeout_s": round(max(0.0, self.deadline - now), 1)})
        return self.request.model_copy(update={"payload": payload}).to_json()


class Session:
    def __init__(
        self,
        *,
        device_id: str,
        device_name: str,
        connection_type: str,
        router: Router,
        hooks: SessionHooks,
        timing: Timing,
        path: Any = None,
        signaling: Closable | None = None,
        on_open: Callable[[Session], None] | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.device_id = device_id
        self.device_name = device_name
        self.connection_type = connection_type
        self.path = path
        self.signaling = signaling
        self.state = SessionState.CONNECTING
        self.peer: Peer | None = None
        self.execution: Execution | None = None
        self.outbox: deque[str] = deque(maxlen=OUTBOX_SIZE)
        self.pending: dict[str, _Pending] = {}
        self.successor: Session | None = None
        self.extra: dict[str, Any] = {}  # per-connection data other parts attach (e.g. a tool context)
        self.last_inbound = time.monotonic()
        self._seen_reported = float("-inf")
        self.opened_at: float | None = None
        self._router = router
        self._hooks = hooks
        self._timing = timing
        self._on_open = on_open
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[Any] | None = None
        self._last_move_error = float("-inf")
        self._closed_event = asyncio.Event()
        self._end_callbacks: list[Callable[[Session], None]] = []

    def __repr__(self) -> str:
        return f"<Session {self.id[:8]} device={self.device_id!r} {self.state}>"

    # --- sending -----------------------------------------------------------------------------------------------

    def current(self) -> Session:
        """The connection that now speaks for this device (self, or the one that replaced it)."""
        session = self
        while session.successor is not None:
            session = session.successor
        return session

    def send(self, message: Envelope, channel: Channel = RELIABLE) -> None:
        """Send now, or queue while the phone is away (fast-channel messages are dropped instead)."""
        self.current()._send_text(message.to_json(), channel)

    def _send_text(self, text: str, channel: Channel) -> None:
        if self.state is SessionState.OPEN and self.peer is not None and self.peer.send(channel, text):
            return
        if channel == FAST or self.state is SessionState.CLOSED:
            return
        if len(self.outbox) == self.outbox.maxlen:
            log.warning("outgoing queue of %s is full; dropping the oldest message", self.device_id)
        self.outbox.append(text)

    def flush(self) -> None:
        """Send what is queued, now that the link is open (the manager does it before greeting the phone)."""
        while self.outbox and self.state is SessionState.OPEN and self.peer is not None:
            if not self.peer.send(RELIABLE, self.outbox[0]):
                return
            self.outbox.popleft()

    # --- confirmations -----------------------------------------------------------------------------------------

    async def confirm(
        self,
        *,
        tool: str,
        command: str = "",
        reason: str = "",
        voice_message: str = "",
        timeout: float = CONFIRM_TIMEOUT_S,  # noqa: ASYNC109 (a protocol value the phone is told, not a deadline)
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Ask the phone to approve; False on deny, timeout, connection loss or when no phone is connected."""
        target = self.current()
        if target.state is not SessionState.OPEN:
            return False
        payload = ConfirmationRequestPayload(
            tool=tool, command=command, reason=reason, voice_message=voice_message, timeout_s=float(timeout)
        )
        for key, value in (extra or {}).items():
            setattr(payload, key, value)
        request = AgentConfirmationRequest(payload=payload)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        text = request.to_json()
        target.pending[request.id] = _Pending(future, request, asyncio.get_running_loop().time() + timeout)
        target._send_text(text, RELIABLE)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            log.info("confirmation %s timed out after %.0f s", request.id, timeout)
            expired = AgentStatusPayload(
                status_type="confirmation_expired",
                message=f"{tool} was not approved within {timeout:.0f} s, so it did not run",
                ref_id=request.id,
            )
            self.send(AgentStatus(payload=expired))
            return False
        finally:
            self.current().pending.pop(request.id, None)
            target.pending.pop(request.id, None)

    def _answer_confirmation(self, message: AgentConfirmationResponse) -> None:
        request_id = message.payload.request_id
        pending = self.current().pending.pop(request_id, None)
        if pending is None:
            self.send(
                Error.reply(
                    "invalid_payload",
                    f"no confirmation is pending with request_id {request_id!r} (answered, expired or unknown)",
                    message.id,
                )
            )
            return
        if not pending.future.done():
            pending.future.set_result(bool(message.payload.approved))

    def _reject_pending(self) -> None:
        for pending in self.pending.values():
            if not pending.future.done():
                pending.future.set_result(False)
        self.pending.clear()

    # --- execution slot ----------------------------------------------------------------------------------------

    def set_execution(self, execution: Execution | None) -> Execution | None:
        """Install the running execution; returns the previous one (the caller decides whether to cancel it)."""
        target = self.current()
        previous, target.execution = target.execution, execution
        return previous

    def clear_execution(self, execution: Execution) -> None:
        """Forget ``execution`` if it is still the current one (called by the execution when it ends)."""
        target = self.current()
        if target.execution is execution:
            target.execution = None

    def _kill_execution(self, reason: str) -> None:
        execution, self.execution = self.execution, None
        if execution is not None:
            try:
                execution.cancel(reason)
            except Exception:
                log.exception("cancelling the execution of %s failed", self.device_id)

    # --- end of the connection ---------------------------------------------------------------------------------

    def on_end(self, callback: Callable[[Session], None]) -> None:
        """``callback(self)`` runs once when this connection ends (lost, replaced or closed), at once if it already
        has: for what the phone holds that nobody else would let go of (a mouse button pressed mid-drag)."""
        if self.state in _ENDED:
            self._call_end(callback)
        else:
            self._end_callbacks.append(callback)

    def _ended(self) -> None:
        callbacks, self._end_callbacks = self._end_callbacks, []
        for callback in callbacks:
            self._call_end(callback)

    def _call_end(self, callback: Callable[[Session], None]) -> None:
        try:
            callback(self)
        except Exception:
            log.exception("an end-of-connection callback of %s failed", self.device_id)

    # --- tasks -------------------------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` owned by this session (and by its successor after a hand-over); cancelled on close."""
        owner = self.current()
        task = asyncio.get_running_loop().create_task(coro, name=name)
        owner._tasks.add(task)
        task.add_done_callback(owner._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session task %s failed", task.get_name(), exc_info=task.exception())

    # --- inbound -----------------------------------------------------------------------------------------------

    def handle_inbound(self, channel: Channel, data: str | bytes) -> None:
        """Called by the peer for every channel message."""
        now = self.last_inbound = time.monotonic()
        if now - self._seen_reported >= self._timing.seen_interval:
            self._seen_reported = now
            self._hooks.seen(self.device_id)
        try:
            message = read_phone_message(data, channel)  # contop-fast takes pointer traffic only
        except InvalidMessage as exc:
            self._reply_error(channel, exc.to_error(), move=exc.pointer_move)
            return
        except Exception:  # never into aiortc's handler: it would close the whole connection
            log.exception("could not read a message from %s", self.device_id)
            self._reply_error(channel, Error.reply("invalid_message", "the desktop could not read this message"))
            return
        if isinstance(message, Keepalive):
            if message.payload.ref_id is None:  # the phone's own heartbeat: answer; answers are not answered
                self.send(Keepalive(payload=KeepalivePayload(ref_id=message.id)))
            return
        if isinstance(message, AgentConfirmationResponse):
            self._answer_confirmation(message)
            return
        if channel == FAST and self._router.handler_for(message.type) is None:
            error = Error.reply("not_available", f"{message.type} is not available", message.id)
            self._reply_error(channel, error, move=is_pointer_move(message))
            return
        self.spawn(self._router.dispatch(self, message), name=f"{message.type}:{message.id[:8]}")

    def _reply_error(self, channel: Channel, error: Error, *, move: bool = False) -> None:
        """Answer a bad message on the channel it came on. Every one gets its error, except failed pointer moves
        (one per ``move_error_interval``): a finger dragging would otherwise draw hundreds a second.

        A ``contop-fast`` message is answered on ``contop-fast``, whose writer drops what finds the channel's
        buffer full: a flood of bad messages there is answered as fast as the link carries the errors, the rest
        are dropped, and no more than that small buffer of them waits ahead of ``contop``'s messages.
        """
        if move:
            now = time.monotonic()
            if now - self._last_move_error < self._timing.move_error_interval:
                return
            self._last_move_error = now
        self.current()._send_text(error.to_json(), channel)

    # --- link state (called by the peer and the manager) -------------------------------------------------------

    def attach(self, peer: Peer) -> None:
        self.peer = peer

    def link_open(self) -> None:
        if self.state is not SessionState.CONNECTING:
            return
        self.state = SessionState.OPEN
        self.opened_at = self.last_inbound = time.monotonic()
        log.info("device %s connected (session %s)", self.device_id, self.id[:8])
        if self._on_open is not None:
            self._on_open(self)  # the manager hands over from an older connection of this device here
        self._hooks.mark_connected(self.device_id, True, self.path)
        self.flush()
        self._heartbeat = self.spawn(self._heartbeat_loop(), name="heartbeat")

    def link_lost(self, reason: str) -> None:
        if self.state not in (SessionState.OPEN, SessionState.CONNECTING):
            return
        was_open = self.state is SessionState.OPEN
        self.state = SessionState.LOST
        log.info("device %s: connection lost (%s)", self.device_id, reason)
        self._stop_heartbeat()
        self._kill_execution("the connection to the phone was lost")  # at once: nobody is watching any more
        self._reject_pending()
        self._ended()
        if self.peer is not None:
            self.outbox.extend(text for text in self.peer.take_unsent() if _worth_resending(text))
            self.spawn(self._close_peer(), name="close-peer")
        if was_open:
            self._hooks.mark_connected(self.device_id, False)
        else:  # never connected (ICE failed): the phone waiting on signaling learns it now, not at its own timeout
            self.spawn(self._close_signaling(1008, f"connection not established: {reason}"[:120]), name="close-sig")

    def take_over_from(self, old: Session) -> None:
        """This connection replaces ``old`` (same device): queue, confirmations, execution and tasks move here."""
        old_state = old.state
        old.state = SessionState.REPLACED
        old.successor = self
        old._stop_heartbeat()
        old._ended()
        backlog = old.peer.take_unsent() if old.peer is not None else []
        self.outbox.extendleft(reversed([*old.outbox, *backlog]))
        old.outbox.clear()
        self.pending.update(old.pending)
        old.pending.clear()
        now = asyncio.get_running_loop().time()
        for pending in self.pending.values():
            self.outbox.append(pending.resent(now))  # the new screen has not seen the question yet
        execution, old.execution = old.execution, None
        if execution is not None:
            self.execution = execution
            try:
                execution.adopt(self)
            except Exception:
                log.exception("handing the execution of %s over failed; cancelling it", self.device_id)
                self._kill_execution("it could not be handed over to the reconnected phone")
        for task in list(old._tasks):
            old._tasks.discard(task)
            self._tasks.add(task)
            task.remove_done_callback(old._task_done)
            task.add_done_callback(self._task_done)
        log.info(
            "device %s reconnected: session %s replaces %s (%s)", self.device_id, self.id[:8], old.id[:8], old_state
        )
        self.spawn(old._retire(), name="retire-old-connection")

    async def _retire(self) -> None:
        await self._close_signaling(4002, "replaced by a newer connection of this device")
        await self._close_peer()
        self._closed_event.set()

    def _stop_heartbeat(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _heartbeat_loop(self) -> None:
        warned = False
        next_ping = time.monotonic()
        while self.state is SessionState.OPEN:
            await asyncio.sleep(self._timing.check)
            if self.state is not SessionState.OPEN or self.peer is None:
                return
            now = time.monotonic()
            unacked = self.peer.unacked_age()
            if unacked is not None and unacked >= self._timing.ack_timeout:
                heard = self.peer.heard_age()
                if heard is None or heard >= self._timing.link_silence:
                    self.link_lost(f"the phone acknowledged nothing for {unacked:.1f} s")
                    return
            silent = now - self.last_inbound
            if silent < self._timing.silence_warning:
                warned = False
            elif not warned:
                warned = True
                log.warning("device %s sent nothing for %.0f s", self.device_id, silent)
                status = AgentStatusPayload(
                    status_type="connection_warning", message=f"no message from the phone for {silent:.0f} s"
                )
                self.send(AgentStatus(payload=status))
            if now >= next_ping:
                next_ping = now + self._timing.heartbeat
                self.send(Keepalive())

    # --- closing -----------------------------------------------------------------------------------------------

    async def _close_peer(self) -> None:
        peer = self.peer
        if peer is not None:
            try:
                await peer.aclose()
            except Exception:
                log.exception("closing the peer of %s failed", self.device_id)

    async def _close_signaling(self, code: int, reason: str) -> None:
        ws, self.signaling = self.signaling, None
        if ws is None:
            return
        try:
            await ws.close(code=code, reason=reason)
        except Exception:  # already closed by the phone, or mid-handshake
            log.debug("closing signaling of %s", self.device_id, exc_info=True)

    async def aclose(self, *, code: int = 1001, reason: str = "server closing the session") -> None:
        """Close everything this connection owns (idempotent): execution, confirmations, tasks, peer, signaling."""
        if self.state is SessionState.CLOSED:
            return
        was_open = self.state is SessionState.OPEN
        self.state = SessionState.CLOSED
        self._stop_heartbeat()
        self._kill_execution(f"the connection was closed ({reason})")
        self._reject_pending()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ended()  # after its handlers stopped: what they pressed has been pressed
        await self._close_signaling(code, reason)
        await self._close_peer()
        if was_open:
            self._hooks.mark_connected(self.device_id, False)
        self._closed_event.set()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()


class SessionConfirmer:
    """Adapts a session to a security layer's ``Confirmer`` (any object with ``tool``, ``detail``, ``reason``…)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def confirm(self, request: Any) -> bool:
        extra = {
            "call_id": getattr(request, "call_id", None),
            "force_host": bool(getattr(request, "force_host", False)),
        }
        return await self.session.confirm(
            tool=request.tool,
            command=getattr(request, "detail", ""),
            reason=getattr(request, "reason", ""),
            voice_message=getattr(request, "voice_message", ""),
            timeout=float(getattr(request, "timeout", CONFIRM_TIMEOUT_S)),
            extra=extra,
        )
