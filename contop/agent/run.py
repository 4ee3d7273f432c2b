"""The execution agent's run loop: one intent → tool steps through the gate → one ``agent_result``.

``AgentService`` is what the session layer uses::

    agent = AgentService.open(state_dir=root, settings=store.get, env=config.env, audit=audit, sandbox=probe)
    execution = agent.start(text, device_id=..., session_id=..., events=session_events, confirmer=confirmer,
                            overrides=None, frame_b64=payload.get("frame_b64"))   # AgentBusy while one runs here
    agent.stop(device_id)            # execution_stop: cancelled within a second, subprocesses killed
    await agent.forget(session_id)   # drop a stored conversation (new_session keeps it: History reopens it)
    result = await execution         # RunResult; the last event is always agent_result

Events go out through ``RunEvents`` as they happen; the conversation is kept per session_id in the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic_ai import Agent, Tool
from pydantic_ai.exceptions import (
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import (
    BinaryContent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    RetryPromptPart,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    ToolReturnPart,
    UserContent,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from contop.agent import planning
from contop.agent.context import ContextPolicy
from contop.agent.events import RunEvents
from contop.agent.history import SessionStore
from contop.agent.llmlog import LlmLog
from contop.agent.models import ModelSpec, build_model, context_budget_tokens, no_model_answer, resolve_model
from contop.agent.prompts import build_execution_prompt
from contop.agent.skills.runtime import AgentToolContext, SkillRuntime
from contop.agent.skills.store import SkillStore
from contop.agent.toolbridge import Cut, RunState, StaticToolset, WaitingForApproval, guarded_tools
from contop.core.errors import ConfigError, ContopError
from contop.core.settings import API_KEY_ENV, Settings
from contop.core.urlsecrets import hide_url_passwords, url_password
from contop.security.audit import AuditLog, Redactor, StreamRedactor
from contop.security.enforce import Confirmer, GateLists, GuardedToolset, ToolFn
from contop.security.sandbox import SandboxBackend

log = logging.getLogger(__name__)

RunStatus = Literal["completed", "failed", "cancelled", "timeout", "limit", "no_model"]
SandboxProvider = Callable[[], Awaitable[SandboxBackend | None]]
RECORD_ENV = "CONTOP_SCRIPTED_RECORD"  # tests: where the scripted model writes what it received
_MAX_CONTEXTS = 64


class AgentBusy(ContopError):
    """A run is already going on this desktop (the session answers ``error`` code ``busy``).

    ``device_id`` is the device whose run it is: the session tells another phone whose task holds the desk."""

    def __init__(self, message: str, *, device_id: str) -> None:
        super().__init__(message)
        self.device_id = device_id


@dataclass(frozen=True, slots=True)
class Limits:
    max_requests: int = 50
    wall_s: float = 600.0
    model_call_s: float = 120.0  # the longest wait for a model's first output, or for its next piece
    model_answer_s: float = 900.0  # one whole answer: a slow local model writing a long one is not cut at 2 min
    plan_requests: int = 15
    tool_retries: int = 3


@dataclass(frozen=True, slots=True)
class Overrides:
    """Per-intent choices from the phone; ``None`` keeps the setting."""

    execution_model: str | None = None
    thinking_mode: Literal["off", "on"] | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any] | Overrides | None) -> Overrides:
        if data is None:
            return cls()
        if isinstance(data, Overrides):
            return data
        model = data.get("execution_model") or data.get("model")
        thinking = data.get("thinking_mode")
        return cls(
            execution_model=str(model) if model else None,
            thinking_mode=thinking if thinking in ("off", "on") else None,
        )


@dataclass(slots=True)
class RunResult:
    answer: str
    status: RunStatus
    session_id: str
    steps_taken: int = 0
    duration_ms: int = 0
    model: str = ""
    backend: str = ""
    tool_summary: dict[str, dict[str, int]] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "answer": self.answer, "steps_taken": self.steps_taken, "duration_ms": self.duration_ms,
            "model": self.model, "backend": self.backend, "session_id": self.session_id,
            "tool_summary": self.tool_summary, "status": self.status,
        }  # fmt: skip


class Execution:
    """One running intent. ``cancel()`` stops it (subprocesses are killed); ``await execution`` gives the result."""

    def __init__(self, session_id: str, text: str) -> None:
        self.session_id = session_id
        self.text = text
        self.result: RunResult | None = None
        self._task: asyncio.Task[RunResult] | None = None
        self._started = False
        self._stop_before_start = False
        self.stop_reason = ""  # why it was stopped, when not at the user's request
        self.stopping = False  # cancel() was called: its end is on the way

    def _attach(self, task: asyncio.Task[RunResult]) -> None:
        self._task = task

    def cancel(self, reason: str = "") -> None:
        """Stop the run. ``reason`` says why when the user did not ask (the phone's connection was lost, ...)."""
        if reason and not self.stop_reason:
            self.stop_reason = reason
        self.stopping = True
        if not self._started:
            self._stop_before_start = True  # the run sees it first thing and still reports a result
        elif self._task is not None and not self._task.done():
            self._task.cancel()

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def stop_answer(self, ran: int, stopped: list[Cut] | None = None) -> str:
        """The answer of a stopped run: why, and how far it got (``ran`` steps finished, ``stopped`` were cut off:
        a step waiting for approval or a command that was killed did not run)."""
        answer = f"Stopped: {self.stop_reason}." if self.stop_reason else "Stopped at your request."
        return " ".join([answer, *_steps_note(ran, stopped or [])])

    async def wait(self) -> RunResult:
        """The run's result; a cancelled run still reports one (``status='cancelled'``)."""
        assert self._task is not None
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if self._task.cancelled() and self.result is not None:
                current = asyncio.current_task()
                if current is None or not current.cancelling():
                    return self.result
            raise

    def __await__(self) -> Any:
        return self.wait().__await__()

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109 - a wait bounded by the caller
        """Waits up to ``timeout`` seconds for the run to end, however it ends; its result is not this wait's."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=timeout)


class AgentService:
    """The execution agent of one server: settings, tools, sessions store, skills, and the running executions."""

    def __init__(
        self,
        *,
        state_dir: Path,
        settings: Callable[[], Settings],
        env: Mapping[str, str] | None = None,
        audit: AuditLog | None = None,
        sandbox: SandboxProvider | None = None,
        store: SessionStore | None = None,
        tools: Mapping[str, ToolFn] | None = None,
        skills: SkillStore | None = None,
        limits: Limits = Limits(),
    ) -> None:
        if tools is None:
            from contop.tools.registry import all_tools

            tools = all_tools()
        self.state_dir = state_dir
        self._settings = settings
        self._env = dict(env or {})
        self._audit = audit
        self._sandbox = sandbox
        self.store = store
        self.skills = skills if skills is not None else SkillStore(state_dir / "skills")
        self.limits = limits
        self._tools = dict(tools)
        self._model_tools: list[Tool[RunState]] | None = None
        self._model_toolset: StaticToolset | None = None
        self._running: dict[str, Execution] = {}
        self._tasks: set[asyncio.Task[RunResult]] = set()
        self._contexts: OrderedDict[str, AgentToolContext] = OrderedDict()
        self._owns_store = False
        # An error text from the provider may quote the key it was sent (an "incorrect API key: sk-…" answer):
        # what reaches the phone, the model call log and the stored conversation goes through this first.
        self._hide_keys = Redactor(self._api_keys)

    def _api_keys(self) -> list[str]:
        settings = self._settings()
        keys = [settings.effective_api_key(key, self._env) for key in API_KEY_ENV]
        return [*keys, url_password(settings.local_model_base_url)]  # a remote server's password, in its URL

    @classmethod
    def open(
        cls,
        *,
        state_dir: Path,
        settings: Callable[[], Settings],
        env: Mapping[str, str] | None = None,
        audit: AuditLog | None = None,
        sandbox: SandboxProvider | None = None,
    ) -> AgentService:
        """The server's agent: opens ``<state_dir>/data/sessions.db`` (7-day cleanup, corrupt file set aside).

        Call once at startup (it does blocking SQLite work) and ``await service.aclose()`` at shutdown.
        """
        store = SessionStore(state_dir / "data" / "sessions.db")
        store.open()
        service = cls(state_dir=state_dir, settings=settings, env=env, audit=audit, sandbox=sandbox, store=store)
        service._owns_store = True
        return service

    # --- the session layer's API -------------------------------------------------------------------------------

    def start(
        self,
        text: str,
        *,
        device_id: str,
        events: RunEvents,
        confirmer: Confirmer | None,
        session_id: str | None = None,
        overrides: Mapping[str, Any] | Overrides | None = None,
        frame_b64: str | None = None,
        model: Model | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> Execution:
        """Start an intent for ``device_id``; raises ``AgentBusy`` while a run goes on, whichever device started it:
        two agents would drive one mouse and keyboard at once.

        ``session_id`` picks the conversation (stored history is reused/restored); ``None`` starts a new one.
        ``model`` replaces model resolution (tests and benchmarks). ``on_end`` is called once the run has ended,
        however it ended, even when nobody waits for its result any more (the phone's session was closed first).
        """
        running = self.running()
        if running is not None:
            holder, _ = running
            raise AgentBusy("an execution is already running; stop it first or wait for its result", device_id=holder)
        execution = Execution(session_id or new_session_id(), text)
        coro = self._run(execution, events, confirmer, Overrides.of(overrides), frame_b64, model)
        task = asyncio.get_running_loop().create_task(coro, name=f"agent-run-{execution.session_id[:8]}")
        execution._attach(task)
        self._running[device_id] = execution
        self._tasks.add(task)

        def finished(done: asyncio.Task[RunResult]) -> None:
            self._tasks.discard(done)
            if self._running.get(device_id) is execution:
                del self._running[device_id]
            if on_end is not None:
                try:
                    on_end()
                except Exception:
                    log.exception("the end-of-run callback of session %s failed", execution.session_id[:8])

        task.add_done_callback(finished)
        return execution

    def current(self, device_id: str) -> Execution | None:
        return self._running.get(device_id)

    def running(self) -> tuple[str, Execution] | None:
        """The run going on on this desktop and the device that started it, if any; one that is stopping counts
        until it has ended (its processes are still being killed)."""
        for device_id, execution in self._running.items():
            if not execution.done():
                return device_id, execution
        return None

    def stop(self, device_id: str) -> bool:
        """``execution_stop``: cancel the device's running execution; ``False`` when there is none."""
        execution = self._running.get(device_id)
        if execution is None or execution.done():
            return False
        execution.cancel()
        return True

    async def forget(self, session_id: str) -> None:
        """The stored conversation and the working directory of ``session_id`` are dropped. ``new_session`` does not
        call it: the phone's History can reopen the conversation it leaves (until it is 7 days old)."""
        self._contexts.pop(session_id, None)
        if self.store is not None:
            await self.store.delete(session_id)

    async def stop_all(self, reason: str) -> None:
        """Stop every running execution (their subprocesses are killed); each still reports its result, with
        ``reason``, to the phone that asked, which is why the server does this before it closes the sessions."""
        for execution in list(self._running.values()):
            execution.cancel(reason)
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every running execution (their subprocesses are killed), then close the sessions store."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.store is not None and self._owns_store:
            await self.store.aclose()

    # --- pieces ------------------------------------------------------------------------------------------------

    def _lists(self) -> GateLists:
        s = self._settings()
        return GateLists(
            restricted_paths=tuple(s.restricted_paths),
            forbidden_commands=tuple(s.forbidden_commands),
            destructive_patterns=tuple(s.destructive_patterns),
        )

    def tool_context(self, session_id: str) -> AgentToolContext:
        """The session's tool context (working directory, action history), created on first use."""
        ctx = self._contexts.get(session_id)
        if ctx is None:
            home = str(Path.home())
            ctx = AgentToolContext(session_id=session_id, state_dir=self.state_dir, home=home, cwd=home)
            self._contexts[session_id] = ctx
            while len(self._contexts) > _MAX_CONTEXTS:
                self._contexts.popitem(last=False)
        else:
            self._contexts.move_to_end(session_id)
        return ctx

    def model_tools(self, toolset: GuardedToolset) -> list[Tool[RunState]]:
        """The model's tool wrappers, built once (they find the run's toolset in their deps)."""
        if self._model_tools is None:
            self._model_tools = guarded_tools(toolset, self._tools)
        return self._model_tools

    def model_toolset(self, toolset: GuardedToolset) -> StaticToolset:
        """The same wrappers as one toolset whose listing is computed once for every run."""
        if self._model_toolset is None:
            self._model_toolset = StaticToolset(self.model_tools(toolset), max_retries=self.limits.tool_retries)
        return self._model_toolset

    def _resolve(self, settings: Settings, overrides: Overrides) -> ModelSpec | None:
        if overrides.execution_model:
            settings = settings.model_copy(update={"execution_model": overrides.execution_model})
            env = {k: v for k, v in self._env.items() if k != "CONTOP_EXECUTION_MODEL"}
            return resolve_model(settings, env)
        return resolve_model(settings, self._env)

    async def _remember(self, session_id: str, text: str, answer: str) -> None:
        """Store an exchange no model took part in, so the conversation can be reopened and resumed like any."""
        if self.store is None:
            return
        try:
            history = await self.store.load(session_id)
            exchange: list[ModelMessage] = [
                ModelRequest(parts=[UserPromptPart(content=text)]),
                ModelResponse(parts=[TextPart(content=self._hide_keys(answer))]),
            ]
            await asyncio.shield(self.store.save(session_id, [*history, *exchange]))
        except Exception:
            log.exception("could not store the conversation of session %s", session_id[:8])

    # --- the run -----------------------------------------------------------------------------------------------

    async def _run(
        self,
        execution: Execution,
        events: RunEvents,
        confirmer: Confirmer | None,
        overrides: Overrides,
        frame_b64: str | None,
        model: Model | None,
    ) -> RunResult:
        execution._started = True
        keys = self._api_keys()  # once: each event (a streamed token) must not re-read settings.json
        hide = Redactor(lambda: keys)
        events = _KeysHidden(events, hide)
        started = time.monotonic()
        session_id = execution.session_id
        settings = self._settings()
        result = RunResult(answer="", status="failed", session_id=session_id)

        async def finish(answer: str, status: RunStatus) -> RunResult:
            result.answer, result.status = answer, status
            result.duration_ms = int((time.monotonic() - started) * 1000)
            execution.result = result
            await events.emit("agent_result", result.payload())
            return result

        if execution._stop_before_start:
            return await finish(execution.stop_answer(0), "cancelled")
        spec: ModelSpec | None = None
        if model is None:
            try:
                spec = self._resolve(settings, overrides)
                if spec is None:
                    answer = no_model_answer(str(self.state_dir / "settings.json"))
                    await self._remember(session_id, execution.text, answer)
                    return await finish(answer, "no_model")
                record = self._env.get(RECORD_ENV)
                model = build_model(spec, record_path=record)
            except Exception as exc:  # a bad setting, a missing SDK, the SDK refusing its arguments
                if not isinstance(exc, (ConfigError, ImportError)):
                    log.warning("the model could not be set up", exc_info=True)
                await events.emit("agent_status", {"status_type": "model_error", "message": str(exc)})
                answer = f"The model could not be set up: {exc}"
                await self._remember(session_id, execution.text, answer)
                return await finish(answer, "failed")
            result.model, result.backend = spec.label, spec.backend
        else:
            result.model, result.backend = model.model_name, "custom"

        approvals = WaitingForApproval(confirmer) if confirmer is not None else None
        toolset = GuardedToolset(
            self._tools,
            lists=self._lists,
            confirmer=approvals,
            audit=self._audit,
            sandbox=await self._sandbox() if self._sandbox is not None else None,
        )
        ctx = self.tool_context(session_id)
        ctx.user_prompt = execution.text
        enabled = list(settings.enabled_skills)
        ctx.skills = SkillRuntime(self.skills, enabled, toolset)
        state = RunState(
            toolset=toolset, ctx=ctx, events=events, model=result.model, backend=result.backend, approvals=approvals
        )
        budget = context_budget_tokens(spec) if spec is not None else 100_000
        limits = self.limits
        model_settings = ModelSettings(
            timeout=limits.model_call_s,  # the provider's HTTP client: each attempt, and each streamed piece
            first_event_timeout=limits.model_call_s,
            request_timeout=max(limits.model_answer_s, limits.model_call_s),
        )
        thinking = overrides.thinking_mode or settings.thinking_mode
        if thinking == "on":
            model_settings["thinking"] = True
        if spec is not None and spec.via_proxy:  # the proxy keeps one call log per session
            model_settings["extra_headers"] = {"x-contop-session": session_id}

        plan_tool = planning.plan_tool(
            model=model,
            tools=lambda: self.model_tools(toolset),
            limits=UsageLimits(request_limit=self.limits.plan_requests),
            model_settings=model_settings,
            retries=self.limits.tool_retries,
        )
        tools = [*self.model_tools(toolset), plan_tool]
        # Reads and parses every enabled SKILL.md (up to 256 KB each): off the event loop.
        skills_section = await asyncio.to_thread(self.skills.prompt_section, enabled)
        instructions = build_execution_prompt(
            [t.name for t in tools],
            skills_section=skills_section,
            custom=settings.execution_system_prompt,
            conversation_custom=settings.conversation_system_prompt,
        )
        agent: Agent[RunState, str] = Agent(
            model,
            instructions=instructions,
            tools=[plan_tool],
            toolsets=[self.model_toolset(toolset)],
            deps_type=RunState,
            retries=self.limits.tool_retries,
            model_settings=model_settings,
            capabilities=[ContextPolicy(budget_tokens=budget, vision=spec.vision if spec is not None else True)],
        )
        history: list[ModelMessage] = []
        told: list[str] = []

        async def tell_history_problem() -> None:
            """Once per run, the phone hears that the history could not be read or written (held by another
            program, say): otherwise the next request silently forgets this one."""
            problem = self.store.unavailable if self.store is not None else None
            if problem and not told:
                told.append(problem)
                message = f"Conversation history: {problem}"
                await events.emit("agent_status", {"status_type": "history_unavailable", "message": message})

        if self.store is not None:
            history = await self.store.load(session_id)
            await tell_history_problem()
        prompt: str | list[UserContent] = execution.text
        if frame_b64 and (spec is None or spec.vision):
            frame = _decode_frame(frame_b64)
            if frame is not None:
                prompt = [execution.text, frame]
        llm_log = LlmLog(self.state_dir / "logs", session_id, redact=hide, tools=len(tools))

        def fallback_history(answer: str) -> list[ModelMessage]:
            """What a run that did not complete stores: its conversation so far, or at least prompt and answer."""
            so_far = state.messages() if state.messages is not None else []
            if len(so_far) > len(history):
                return _interrupted(so_far, hide(answer))
            return [
                *history,
                ModelRequest(parts=[UserPromptPart(content=execution.text)]),
                ModelResponse(parts=[TextPart(content=hide(answer))]),
            ]

        async def save(messages: list[ModelMessage]) -> None:
            if self.store is None:
                return
            try:
                hidden = await asyncio.to_thread(_hide_in_messages, messages, hide)
                await asyncio.shield(self.store.save(session_id, hidden))
            except Exception:
                log.exception("could not store the conversation of session %s", session_id[:8])
            await tell_history_problem()

        async def close_counts(detail: str) -> list[Cut]:
            """Close the steps still in flight (``detail`` says why on the phone) and count; returns their tools. A
            step still waiting for approval names the reason of a stop the user did not ask for (a lost link)."""
            stopped = await state.stop_in_flight(detail, execution.stop_reason)
            result.steps_taken = state.finished
            result.tool_summary = state.tool_summary()
            return stopped

        wall = asyncio.timeout(self.limits.wall_s)
        try:
            return await self._guarded_drive(
                agent, prompt, state, history, llm_log, events, wall, finish, save, fallback_history, close_counts,
                execution, spec,
            )  # fmt: skip
        finally:
            llm_log.close()

    async def _guarded_drive(
        self,
        agent: Agent[RunState, str],
        prompt: str | list[UserContent],
        state: RunState,
        history: list[ModelMessage],
        llm_log: LlmLog,
        events: RunEvents,
        wall: asyncio.Timeout,
        finish: Callable[[str, RunStatus], Awaitable[RunResult]],
        save: Callable[[list[ModelMessage]], Awaitable[None]],
        fallback_history: Callable[[str], list[ModelMessage]],
        close_counts: Callable[[str], Awaitable[list[Cut]]],
        execution: Execution,
        spec: ModelSpec | None,
    ) -> RunResult:
        """The run proper, with every way it can end turned into one ``agent_result``."""
        unreachable = unreachable_hint(spec)
        try:
            async with wall:
                output, messages = await self._drive(agent, prompt, state, history, llm_log, events)
        except asyncio.CancelledError:
            stopped = await close_counts("Stopped before it finished.")
            answer = execution.stop_answer(state.finished, stopped)
            llm_log.error(0, None, answer)  # the log's last request otherwise seems to wait for its answer forever
            await save(fallback_history(answer))
            await finish(answer, "cancelled")
            raise
        except TimeoutError as exc:
            stopped = await close_counts("Stopped before it finished: the time ran out.")
            if wall.expired():
                answer = f"I stopped because the task took longer than {_duration(self.limits.wall_s)}."
                status: RunStatus = "timeout"
            else:
                answer = f"The model did not answer in time ({exc or 'request timeout'}); I stopped here."
                status = "failed"
                await events.emit("agent_status", {"status_type": "model_error", "message": answer})
            answer = " ".join([answer, *_steps_note(state.finished, stopped)])
            await save(fallback_history(answer))
            return await finish(answer, status)
        except UsageLimitExceeded:
            await close_counts("Stopped before it finished: the request limit was reached.")
            answer = (
                f"I stopped after {self.limits.max_requests} model requests without finishing; "
                f"{state.finished} step(s) ran. Ask me to continue if you want more."
            )
            await save(fallback_history(answer))
            return await finish(answer, "limit")
        except Exception as exc:
            stopped = await close_counts("Stopped before it finished: the run failed.")
            failure = self._hide_keys(model_failure(exc))
            refused = local_refusal(exc, spec)
            message = self._hide_keys(refused) if refused else failure
            log.warning("agent run failed: %s", f"{message} ({failure})" if refused else message)
            if isinstance(exc, ModelConnectionError) and not isinstance(exc, ModelTimeoutError) and unreachable:
                if getattr(exc, "phase", None) in ("read", "write"):  # it answered: the link broke mid-way
                    message = f"{message} (the connection to the model broke while it was answering; try again)"
                else:
                    message = f"{message} ({unreachable})"
            llm_log.error(0, None, message)
            await events.emit("agent_status", {"status_type": "model_error", "message": message[:500]})
            answer = f"The model failed, so I stopped: {message[:300]}"
            if state.finished or stopped:
                answer += f" ({' '.join(_steps_note(state.finished, stopped))})"
            await save(fallback_history(answer))
            return await finish(answer, "failed")
        await close_counts("Stopped before it finished.")  # none is left in flight by a run that completed
        await save(messages)
        return await finish(output, "completed")

    async def _drive(
        self,
        agent: Agent[RunState, str],
        prompt: str | list[UserContent],
        state: RunState,
        history: list[ModelMessage],
        llm_log: LlmLog,
        events: RunEvents,
    ) -> tuple[str, list[ModelMessage]]:
        requests = 0
        sent_at: float | None = None
        async with agent.iter(
            prompt,
            deps=state,
            message_history=history or None,
            usage_limits=UsageLimits(request_limit=self.limits.max_requests),
        ) as run:
            state.messages = lambda: run.ctx.state.message_history
            async for node in run:
                if Agent.is_model_request_node(node):
                    requests += 1
                    # The history so far and the request this node sends.
                    sent = len(run.ctx.state.message_history) + 1
                    sent_at = llm_log.request(requests, state.model, sent)
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            await _relay(event, events)
                elif Agent.is_call_tools_node(node):
                    if sent_at is not None:
                        llm_log.response(requests, sent_at, node.model_response)
                    async with node.stream(run.ctx) as stream:
                        async for tool_event in stream:
                            if isinstance(tool_event, FunctionToolResultEvent):
                                await _report_retry(tool_event, events)
            if run.result is None:
                raise RuntimeError("the run ended without a result")
            return str(run.result.output), run.result.all_messages()


NOT_FINISHED = "This step did not finish: the run was stopped first, so it may have done part of its work."


def _interrupted(messages: list[ModelMessage], answer: str) -> list[ModelMessage]:
    """A stopped run's conversation as it stood, then its answer: on the next turn the model knows what it already
    did to the machine. The framework keeps the results of the calls that finished (a request it marks
    interrupted) and gives the unfinished ones a result when the conversation is loaded again; calls of a turn
    that never began running get theirs here, as providers require."""
    out = list(messages)
    last = out[-1]
    if isinstance(last, ModelResponse):
        calls = [part for part in last.parts if isinstance(part, ToolCallPart)]
        if not calls:
            out[-1] = dataclasses.replace(last, parts=[*last.parts, TextPart(content=answer)])
            return out
        out.append(ModelRequest(parts=[ToolReturnPart(c.tool_name, NOT_FINISHED, c.tool_call_id) for c in calls]))
    out.append(ModelResponse(parts=[TextPart(content=answer)]))
    return out


_STREAMED = ("agent_text", "agent_thinking")  # payload {"text": piece}: a key may be split across two pieces


class _KeysHidden:
    """A ``RunEvents`` passing everything on with the API keys it knows replaced (``Redactor``).

    Streamed text goes through a ``StreamRedactor`` per type, so a key split across two pieces is hidden too; what
    it holds back is passed on before any other event (the run's result included), so nothing is reordered."""

    def __init__(self, inner: RunEvents, hide: Redactor) -> None:
        self._inner = inner
        self._hide = hide
        self._streams: dict[str, StreamRedactor] = {}

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        streamed = type in _STREAMED and isinstance(payload.get("text"), str) and len(payload) == 1
        await self._flush(but=type if streamed else None)
        if not streamed:
            await self._inner.emit(type, self._hide(payload))
            return
        stream = self._streams.get(type)
        if stream is None:
            stream = self._streams[type] = self._hide.stream()
        if text := stream.feed(payload["text"]):
            await self._inner.emit(type, {"text": text})

    async def _flush(self, but: str | None) -> None:
        for type, stream in self._streams.items():
            if type != but and (text := stream.flush()):
                await self._inner.emit(type, {"text": text})


_PART_FIELDS = ("content", "args")  # the text of a part: prompts, answers, thinking, tool results and arguments


def _hide_in_messages(messages: list[ModelMessage], hide: Redactor) -> list[ModelMessage]:
    """The conversation as stored (and sent to the model on later turns): API keys replaced in every part, and in
    the message's own text fields (a response records the ``provider_url`` it came from, which holds a local
    model server's password)."""
    hidden: list[ModelMessage] = []
    for message in messages:
        parts = []
        for part in message.parts:
            changes = {name: hide(getattr(part, name)) for name in _PART_FIELDS if hasattr(part, name)}
            changed = {k: v for k, v in changes.items() if v != getattr(part, k)}
            parts.append(dataclasses.replace(part, **changed) if changed else part)
        own = {
            field.name: hide(value)
            for field in dataclasses.fields(message)
            if field.name != "parts" and isinstance(value := getattr(message, field.name), str | dict | list)
        }
        own = {k: v for k, v in own.items() if v != getattr(message, k)}
        hidden.append(dataclasses.replace(message, parts=parts, **own))  # type: ignore[arg-type]
    return hidden


_TOOL_RETRIES = re.compile(r"Tool '([^']+)' exceeded max retries count of (\d+)")


def model_failure(exc: BaseException) -> str:
    """What made a run fail, for the phone. The framework's words for a model that keeps calling a tool wrongly
    tell a developer to raise a limit, with a link to its documentation; the user can do neither."""
    text = str(exc)
    if isinstance(exc, UnexpectedModelBehavior):
        if found := _TOOL_RETRIES.search(text):
            tool, retries = found.group(1), int(found.group(2))
            return (
                f"the model called {tool} wrongly {retries + 1} times in a row (a tool this desktop does not have, "
                "or arguments the tool refused), so I stopped; try again, or rephrase the request"
            )
        if text.startswith("Exceeded maximum output retries"):
            return "the model's answers did not take a usable form, even after being told what was wrong; try again"
    return f"{type(exc).__name__}: {text}"


def local_refusal(exc: BaseException, spec: ModelSpec | None) -> str | None:
    """What to do when the local OpenAI-compatible server refused the request (HTTP 401 or 403), or None for any
    other failure. The framework's words ("status_code: 401, model_name: …, body: …") name neither the server nor
    the setting that gives it its API key."""
    if spec is None or spec.provider != "openai-compatible" or not isinstance(exc, ModelHTTPError):
        return None
    if exc.status_code not in (401, 403):
        return None
    url = hide_url_passwords(spec.base_url)
    how = "set local_model_api_key (or LOCAL_MODEL_API_KEY) to its API key"
    if spec.api_key:
        return f"the model server at {url} refused the API key it was sent ({exc.status_code}): {how}"
    return f"the model server at {url} refused the request ({exc.status_code}): {how}"


def unreachable_hint(spec: ModelSpec | None) -> str:
    """What to do when nothing answers at the model's address: the address, and what should be listening there."""
    if spec is None:
        return ""
    url = hide_url_passwords(spec.base_url)
    if spec.via_proxy:
        return (
            f"the {spec.provider} subscription proxy at {url} did not answer: start it with "
            f"`contop proxy {spec.provider}` or from the desktop app"
        )
    if spec.base_url:
        return (
            f"nothing answered at {url}: start your local model server (Ollama: `ollama serve`), "
            "or fix local_model_base_url"
        )
    return f"{spec.provider} could not be reached: check this computer's internet connection"


def _steps_note(ran: int, cut: list[Cut]) -> list[str]:
    """How far a run that did not complete got: the steps that ran, the ones cut off in flight, and those that
    still waited for approval (they never ran)."""
    note = [f"{ran} step(s) had run before the stop."] if ran else []
    stopped = [c.tool for c in cut if not c.waiting]
    waiting = [c.tool for c in cut if c.waiting]
    if len(stopped) == 1:
        note.append(f"The step in progress ({stopped[0]}) was stopped before it finished.")
    elif stopped:
        note.append(f"The {len(stopped)} steps in progress ({', '.join(stopped)}) were stopped before they finished.")
    if len(waiting) == 1:
        note.append(f"The step waiting for your approval ({waiting[0]}) did not run.")
    elif waiting:
        note.append(f"The {len(waiting)} steps waiting for your approval ({', '.join(waiting)}) did not run.")
    return note


async def _relay(event: Any, events: RunEvents) -> None:
    """Thinking and text as they stream in."""
    if isinstance(event, PartStartEvent):
        part = event.part
        if isinstance(part, ThinkingPart) and part.content:
            await events.emit("agent_thinking", {"text": part.content})
        elif isinstance(part, TextPart) and part.content:
            await events.emit("agent_text", {"text": part.content})
    elif isinstance(event, PartDeltaEvent):
        delta = event.delta
        if isinstance(delta, ThinkingPartDelta) and delta.content_delta:
            await events.emit("agent_thinking", {"text": delta.content_delta})
        elif isinstance(delta, TextPartDelta) and delta.content_delta:
            await events.emit("agent_text", {"text": delta.content_delta})


async def _report_retry(event: FunctionToolResultEvent, events: RunEvents) -> None:
    """A call the framework bounced back to the model (unknown tool, arguments that are not valid JSON)."""
    part = event.part
    if not (isinstance(part, RetryPromptPart) or getattr(part, "outcome", None) == "retried"):
        return
    retry = getattr(part, "retry", None)
    cause = getattr(retry, "cause", "") if retry is not None else ""
    content = part.content if isinstance(part.content, str) else str(part.content)
    message = f"The model made an invalid call to '{part.tool_name}' ({cause or 'rejected'}): {content[:200]}"
    await events.emit(
        "agent_status",
        {"status_type": "model_error", "message": message + " It was told and may try again.",
         "tool": part.tool_name, "ref_id": part.tool_call_id},
    )  # fmt: skip


def _decode_frame(frame_b64: str) -> BinaryContent | None:
    import base64
    import binascii

    data = frame_b64.split(",", 1)[1] if frame_b64.startswith("data:") else frame_b64
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        log.info("user_intent frame is not valid base64; ignored")
        return None
    media = "image/png" if raw.startswith(b"\x89PNG") else "image/jpeg"
    return BinaryContent(data=raw, media_type=media)


def new_session_id() -> str:
    return str(uuid.uuid4())


def _duration(seconds: float) -> str:
    """'10 minutes', '1 minute', '90 seconds': a time limit as the user reads it."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    whole = round(seconds)
    return f"{whole} second{'s' if whole != 1 else ''}" if whole >= 1 else f"{seconds:g} seconds"
