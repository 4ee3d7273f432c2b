"""Wiring of the execution agent into the sessions: intents, stop, new and resumed conversations.

The server owns this because it knows both sides: the transport's sessions and router, and the agent service
(which reaches tools only through the security gate). Neither of those imports the other.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from contop.agent.models import resolve_model
from contop.core.errors import ConfigError
from contop.core.messages import (
    SERVER_MESSAGES,
    Envelope,
    Error,
    ErrorPayload,
    GenericMessage,
    Payload,
    SessionContext,
    StateUpdate,
    UserIntent,
)
from contop.security.sandbox import SandboxBackend
from contop.server.proxy_status import device_name, phone_models, push_state, state_payload
from contop.server.state import ServerState
from contop.server.toolcalls import server_audit
from contop.transport.router import Router
from contop.transport.session import Session, SessionConfirmer

if TYPE_CHECKING:
    from contop.agent.run import AgentBusy, AgentService, Execution

log = logging.getLogger(__name__)

STOPPING_WAIT_S = 5.0  # how long a request waits for the end of a run stopped just before it, before "busy"


class SessionEvents:
    """The agent's ``RunEvents`` on a session: each event becomes a typed envelope on the reliable channel.

    ``Session.send`` follows the device's newest connection, so a reconnected phone keeps receiving the run.
    """

    def __init__(self, session: Session, intent_id: str | None = None) -> None:
        self._session = session
        self._intent_id = intent_id

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        if type == "agent_result" and self._intent_id is not None:
            payload = {**payload, "ref_id": self._intent_id}  # which intent this answers (CONTRACTS.md §6)
        model = SERVER_MESSAGES.get(type)
        if model is None:
            log.error("the agent emitted an unknown message type %r", type)
            return
        try:
            message = model.model_validate({"type": type, "payload": payload})
        except ValidationError as exc:
            # A payload off the contract is a bug, but the phone must still hear about the run (above all its
            # agent_result): send it as it is rather than lose it.
            log.error("agent %s payload does not match the protocol: %s", type, exc)
            message = GenericMessage(type=type, payload=Payload.model_validate(payload))
        self._session.send(message)


class SessionExecution:
    """What the session's execution slot holds: cancel on connection loss; a reconnect simply adopts it."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution

    def cancel(self, reason: str = "") -> None:
        self.execution.cancel(reason)

    def adopt(self, session: Session) -> None:
        # Events and confirmations go through Session.current(), which already points at the new connection.
        log.info("execution %s continues on the reconnected session %s", self.execution.session_id[:8], session.id[:8])


def _error(ref: Envelope, code: Literal["busy", "invalid_payload", "not_available"], message: str) -> Error:
    return Error(payload=ErrorPayload(code=code, message=message, ref_id=ref.id))


def _busy_message(state: ServerState, busy: AgentBusy, device_id: str) -> str:
    """Why an intent was refused: this phone's own run is still going, or another device's, named so that the
    user knows whom to ask (this phone has no Stop for it)."""
    if busy.device_id == device_id:
        return str(busy)
    name = device_name(state, busy.device_id)
    return f"A task from {name} is running on this desktop; wait for its answer or stop it from that device."


def _model_refusal(requested: Any, state: ServerState) -> str:
    """Why the phone may not run with ``requested``, or "" when it may (none asked, or one the desktop offers).

    Only the models of ``state_update.models`` can be chosen from the phone: anything else would let it name a
    ``scripted:`` file (read by the server, past the gate) or a provider the owner never set up.
    """
    if not requested:
        return ""
    offered = [m["id"] for m in phone_models(state.settings.get(), state.config.env)]
    if requested in offered:
        return ""
    choices = ", ".join(offered) if offered else "none: no model is configured on the desktop"
    return f"the model {str(requested)[:200]!r} is not one this desktop offers; choose one of its models ({choices})"


class AgentLoader:
    """The server's execution agent, built in a worker thread once the server runs.

    Importing pydantic-ai and the agent's modules is about a third of the server's start-up, and nothing needs
    them before a phone sends its first request. So the server answers (pairing, health, the live screen) without
    waiting for them; ``start`` begins loading as it starts serving, and a request that comes sooner waits for it.
    A load that fails is tried again by the next request that needs the agent, at most every ``RETRY_AFTER_S``.
    """

    RETRY_AFTER_S = 2.0
    CLOSE_WAIT_S = 1.0  # how long shutdown waits for a load under way before it goes on without it

    def __init__(self, state: ServerState, sandbox: Callable[[], Awaitable[SandboxBackend | None]]) -> None:
        self._state = state
        self._sandbox = sandbox
        self._task: asyncio.Task[AgentService] | None = None
        self._failed_at = 0.0  # loop time of the last failed load
        self._closed = False
        self.service: AgentService | None = None

    def _build(self) -> AgentService:  # in a worker thread: imports, and the blocking SQLite open of the history
        from contop.agent.run import AgentService

        state = self._state
        return AgentService.open(
            state_dir=state.config.state_dir.root,
            settings=state.settings.get,
            env=state.config.env,
            audit=server_audit(state),
            sandbox=self._sandbox,
        )

    async def _in_thread(self) -> AgentService:
        """``_build`` in a daemon thread: unlike ``asyncio.to_thread``'s pool, it does not hold up the end of the
        process when the server stops in the middle of a load (a history held by another program takes 5 s)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AgentService] = loop.create_future()

        def settle(outcome: Callable[[], None]) -> None:
            if not future.done():
                outcome()

        def run() -> None:
            try:
                service = self._build()
            except BaseException as exc:  # handed to the waiting requests, as to_thread would
                # SystemExit or KeyboardInterrupt raised by an import would end the server's loop from the task
                error = exc if isinstance(exc, Exception) else RuntimeError(f"{type(exc).__name__}: {exc}")
                outcome = lambda: future.set_exception(error)  # noqa: E731
            else:
                outcome = lambda: future.set_result(service)  # noqa: E731
            try:
                loop.call_soon_threadsafe(settle, outcome)
            except RuntimeError:  # the loop has ended: the server is gone, and the process with it
                pass

        threading.Thread(target=run, name="agent-load", daemon=True).start()
        return await future

    async def _load(self) -> AgentService:
        try:
            service = await self._in_thread()
        except Exception:
            self._failed_at = asyncio.get_running_loop().time()
            log.exception("the execution agent could not be started")
            raise
        if self._closed:  # the server stopped while this loaded: nobody else will close it
            await service.aclose()
            raise ConnectionError("the server stopped while the agent was loading")
        if gc.get_freeze_count():
            # The serving process froze what it held at start (tune_for_latency): the agent's modules, loaded
            # since, join it, so that the collector does not walk them again at every older-generation pass.
            gc.freeze()
        self.service = self._state.agent = service
        return service

    def start(self) -> None:
        """Begin loading (from the app's start-up, on the event loop); idempotent. After a failed load, begin again
        once ``RETRY_AFTER_S`` have passed."""
        task = self._task
        if self._closed or (task is not None and not self._failed(task)):
            return
        loop = asyncio.get_running_loop()
        if task is not None and loop.time() - self._failed_at < self.RETRY_AFTER_S:
            return
        self._task = loop.create_task(self._load(), name="agent-load")

    @staticmethod
    def _failed(task: asyncio.Task[AgentService]) -> bool:
        return task.done() and (task.cancelled() or task.exception() is not None)

    async def get(self) -> AgentService:
        """The agent, once loaded. A failed load raises ``AgentUnavailable`` here, for the request that needed it."""
        self.start()
        assert self._task is not None
        try:
            return await asyncio.shield(self._task)
        except Exception as exc:
            raise AgentUnavailable(
                f"the desktop's agent could not be started ({type(exc).__name__}: {str(exc)[:300]}); its log says "
                f"more, and the next request tries again"
            ) from exc

    def stop(self, device_id: str) -> bool:
        return self.service is not None and self.service.stop(device_id)

    async def stop_all(self, reason: str) -> None:
        if self.service is not None:  # not loaded yet: nothing can be running
            await self.service.stop_all(reason)

    async def aclose(self) -> None:
        self._closed = True
        task = self._task
        if task is None:
            return
        # A thread cannot be cancelled. The shutdown steps after this one (the hosts' sleep settings, the tunnel)
        # must not wait for a slow load: the desktop app kills a server that takes 2 s to stop. A load that ends
        # later closes what it opened itself (``_load``).
        await asyncio.wait({task}, timeout=self.CLOSE_WAIT_S)
        if not task.done():
            log.info("the agent was still loading when the server stopped; not waiting for it")
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # its end is expected: not "unretrieved"
            return
        if self._failed(task) or self.service is None:
            return
        await self.service.aclose()


class AgentUnavailable(Exception):
    """The agent could not be loaded; the message is for the phone."""


class WaitingIntent:
    """An intent waiting in the session's execution slot until it can start (the agent still loading): a stop, a
    lost link or a shutdown meanwhile cancels it, as they would cancel the run it is about to become."""

    waiting = True  # not a run: manual control goes on meanwhile (contop.server.manual)

    def __init__(self) -> None:
        self.cancelled = False
        self.reason = ""
        self.requests = 1  # a second request of the phone's while the first waits joins it: one Stop ends both

    def cancel(self, reason: str = "") -> None:
        self.cancelled = True
        self.reason = self.reason or reason

    def adopt(self, session: Session) -> None:
        pass  # the request goes on and reports through Session.current(), the reconnected phone


def install_agent(
    state: ServerState, router: Router, sandbox: Callable[[], Awaitable[SandboxBackend | None]]
) -> AgentLoader:
    agent = AgentLoader(state, sandbox)
    state.on_startup(agent.start)
    state.on_shutdown(agent.aclose)
    try:  # said at start too, not only to the first phone that asks something
        spec = resolve_model(state.settings.get(), state.config.env)
        log.info("execution model: %s", spec.label if spec is not None else "none configured (the agent says how)")
    except ConfigError as exc:
        log.warning("the execution model cannot be used: %s", exc)
    # The conversation each device continues with its next intent (set by agent_result and session_context).
    conversations: dict[str, str] = {}
    # A session_context still being checked, per device: the intent (or New) the phone sends right after it waits
    # for the answer, so it never runs under a conversation that does not exist.
    checking: dict[str, asyncio.Future[None]] = {}

    async def context_checked(device_id: str) -> None:
        pending = checking.get(device_id)
        if pending is not None:
            await asyncio.shield(pending)

    async def on_intent(session: Session, message: Envelope) -> None:
        assert isinstance(message, UserIntent)
        owner = session.current()
        extra = message.payload.model_extra or {}
        overrides = {
            "execution_model": extra.get("model") or extra.get("execution_model"),
            "thinking_mode": "on" if extra.get("thinking") is True else extra.get("thinking_mode"),
        }
        refused = _model_refusal(overrides["execution_model"], state)
        if refused:
            owner.send(_error(message, "invalid_payload", refused))
            return
        # A stop or a lost link while this waits (for the agent to load, for a stopped run to end) must stop it, as
        # it would stop the run it is about to become.
        waiting: WaitingIntent | None = None
        if isinstance(owner.execution, WaitingIntent):
            waiting = owner.execution
            waiting.requests += 1
        elif owner.execution is None:
            waiting = WaitingIntent()
            owner.set_execution(waiting)
        unavailable: AgentUnavailable | None = None
        try:
            await context_checked(owner.device_id)
            service = await agent.get()
            running = service.running()
            if running is not None and running[1].stopping:
                # Stopped just before (from this phone or another): its processes are being killed. The request
                # waits for that end, not "busy".
                await running[1].settle(STOPPING_WAIT_S)
        except AgentUnavailable as exc:
            unavailable = exc
        finally:
            if waiting is not None:
                waiting.requests -= 1
                if not waiting.requests:
                    owner.clear_execution(waiting)
        if unavailable is not None:
            owner.send(_error(message, "not_available", str(unavailable)))
            owner.send(StateUpdate(payload=state_payload(state, owner)))  # not "executing" any more
            return
        if waiting is not None and waiting.cancelled:
            why = f"Stopped: {waiting.reason}." if waiting.reason else "Stopped at your request."
            await SessionEvents(owner, message.id).emit(
                "agent_result",
                {"answer": f"{why} It had not started: nothing was done.", "status": "cancelled",
                 "session_id": conversations.get(owner.device_id)},
            )  # fmt: skip
            owner.send(StateUpdate(payload=state_payload(state, owner)))
            return
        from contop.agent.run import AgentBusy  # loaded by now: get() returned its service

        events = SessionEvents(owner, message.id)
        device_id = owner.device_id

        def ended() -> None:  # the other phones hear that the desk is free, even if this session is gone by then
            push_state(state, but=device_id)

        try:
            execution = service.start(
                message.payload.text,
                device_id=device_id,
                events=events,
                confirmer=SessionConfirmer(owner),
                session_id=conversations.get(device_id),
                overrides=overrides,
                frame_b64=message.payload.frame_b64,
                on_end=ended,
            )
        except AgentBusy as exc:
            owner.send(_error(message, "busy", _busy_message(state, exc, device_id)))
            return
        conversations[device_id] = execution.session_id
        slot = SessionExecution(execution)
        owner.set_execution(slot)
        owner.send(StateUpdate(payload=state_payload(state, owner)))  # executing
        push_state(state, but=device_id)  # the other phones: the desk is busy, with a run that is not theirs

        async def finish() -> None:
            try:
                await execution.wait()
            except Exception as exc:
                log.exception("agent run failed")
                if execution.result is None:  # the phone must not wait for an answer forever
                    await events.emit(
                        "agent_result",
                        {"answer": f"The run failed unexpectedly: {exc}", "status": "failed",
                         "session_id": execution.session_id},
                    )  # fmt: skip
            finally:
                owner.clear_execution(slot)
                owner.send(StateUpdate(payload=state_payload(state, owner)))  # idle again

        owner.spawn(finish(), name=f"agent-wait-{execution.session_id[:8]}")

    async def on_stop(session: Session, message: Envelope) -> None:
        owner = session.current()
        slot = owner.execution
        if isinstance(slot, WaitingIntent):  # its request has not started yet: it stops before it does
            slot.cancel()
            owner.clear_execution(slot)
        elif not agent.stop(owner.device_id):
            log.debug("execution_stop with nothing running")
            owner.send(StateUpdate(payload=state_payload(state, owner)))  # the phone stops waiting for a stop

    async def on_new_session(session: Session, message: Envelope) -> None:
        device_id = session.current().device_id
        await context_checked(device_id)  # a reopened conversation checked after this New must not win over it
        conversations.pop(device_id, None)

    async def on_context(session: Session, message: Envelope) -> None:
        assert isinstance(message, SessionContext)
        owner = session.current()
        wanted = message.payload.session_id
        if not wanted:
            return  # conversation turns from the phone are not needed: the server keeps the history
        previous = checking.get(owner.device_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        checking[owner.device_id] = done  # before any wait: an intent sent right after this one waits for it
        try:
            if previous is not None:
                await asyncio.shield(previous)  # two in a row: the later one wins
            try:
                service = await agent.get()
            except AgentUnavailable as exc:
                owner.send(_error(message, "not_available", str(exc)))
                return
            found = service.store is not None and await service.store.exists(wanted)
        finally:
            done.set_result(None)
            if checking.get(owner.device_id) is done:
                del checking[owner.device_id]
        if found:
            conversations[owner.device_id] = wanted
        else:
            # Not the conversation open before either: the phone shows what follows under the one it reopened.
            conversations.pop(owner.device_id, None)
            if service.store is not None and service.store.unavailable:  # held by another program, unreadable…
                why = "the desktop cannot read its conversation history right now (its log says why); try again later"
            elif service.store is not None and service.store.moved_aside is not None:
                why = (
                    f"no stored conversation {wanted!r}: the conversation history was damaged and was moved aside "
                    f"to {service.store.moved_aside.name} (in the state directory's data folder), "
                    "so earlier conversations cannot be reopened"
                )
            else:
                why = f"no stored conversation {wanted!r} (older than 7 days?)"
            owner.send(_error(message, "invalid_payload", why + "; the next request starts a new conversation"))

    router.register("user_intent", on_intent)
    router.register("execution_stop", on_stop)
    router.register("new_session", on_new_session)
    router.register("session_context", on_context)
    return agent
