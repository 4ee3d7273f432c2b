"""The enforcement wrapper: the only way a tool runs, for the agent and for ``tool_call`` messages alike.

``GuardedToolset.call`` asks the pure gate, then runs the tool on the host, asks the user first, sends an
``execute_cli`` command to the sandbox, or refuses. Every call is audited before and after and lands in the
session's action history; a bad argument or a failing tool becomes an outcome, never an exception.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import sys
import time
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pydantic

from contop.core.errors import NotAvailableError, ToolError
from contop.core.text import storable, storable_text
from contop.security.audit import AuditEntry, AuditLog
from contop.security.catalog import KNOWN_TOOLS
from contop.security.decision import Decision, GateContext, Platform, ToolCall
from contop.security.gate import decide
from contop.security.sandbox import SandboxBackend, default_workspace
from contop.tools.cli import DEFAULT_TIMEOUT_S, choose_shell, command_timeout
from contop.tools.context import ActionRecord, ToolContext

logger = logging.getLogger(__name__)

ToolFn = Callable[..., Awaitable[Any]]
OutcomeStatus = Literal["success", "error", "rejected", "blocked", "invalid_args"]
ExecutedOn = Literal["host", "sandbox", "none"]
CONFIRM_TIMEOUT_S = 60.0
CONFIRM_BACKSTOP_S = 1.0  # past the confirmer's own timeout, for a confirmer that never returns
FORCE_HOST_REASON = "blocked_force_host"
SANDBOXED_TOOL = "execute_cli"
_SUMMARY_CHARS = 200


@dataclass(frozen=True, slots=True)
class GateLists:
    """The user-editable security lists, read fresh for every call (settings hot-reload)."""

    restricted_paths: tuple[str, ...] = ()
    forbidden_commands: tuple[str, ...] = ()
    destructive_patterns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfirmationRequest:
    """What the phone shows when a call needs the user's approval."""

    call_id: str
    tool: str
    detail: str  # the command, or the arguments as JSON
    reason: str  # the gate's reason, or FORCE_HOST_REASON
    voice_message: str
    timeout: float = CONFIRM_TIMEOUT_S
    force_host: bool = False
    gate_reason: str = ""


class Confirmer(Protocol):
    """Asks the user; ``False`` on deny. The wrapper treats a timeout or an exception (disconnect) as a deny."""

    async def confirm(self, request: ConfirmationRequest) -> bool: ...


@dataclass(slots=True)
class ToolOutcome:
    """The result of one guarded call, as the agent and the phone get it."""

    call_id: str
    tool: str
    status: OutcomeStatus
    result: Any = None
    message: str = ""
    decision: Decision | None = None
    executed_on: ExecutedOn = "none"
    backend: str = ""
    duration_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the phone (``tool_result`` payload) and for logs."""
        decision = self.decision
        return {
            "call_id": self.call_id,
            "tool": self.tool,
            "status": self.status,
            "result": self.result,
            "message": self.message,
            "decision": decision.verdict if decision else None,
            "reason": decision.reason if decision else "",
            "executed_on": self.executed_on,
            "backend": self.backend,
            "duration_ms": self.duration_ms,
            **self.extra,
        }

    def for_model(self) -> Any:
        """What goes back to the model: the tool's own result when it ran, otherwise a clear explanation."""
        if self.status in ("success", "error") and self.result is not None:
            return self.result
        return {"status": self.status, "message": self.message}


def _detail(name: str, args: Mapping[str, Any]) -> str:
    if name == SANDBOXED_TOOL and isinstance(args.get("command"), str):
        return str(args["command"])
    try:
        return json.dumps(dict(args), ensure_ascii=False, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return repr(dict(args))


def _summary(result: Any, message: str) -> str:
    if isinstance(result, dict):
        text = str(result.get("stdout") or result.get("stderr") or result.get("message") or result.get("status", ""))
    elif result is None:
        text = message
    else:
        text = str(result)
    text = " ".join(text.split())
    return text[:_SUMMARY_CHARS]


class GuardedToolset:
    """Holds the tool functions (``name -> async fn(ctx, **args)``) and runs them only through the gate."""

    def __init__(
        self,
        tools: Mapping[str, ToolFn],
        *,
        lists: Callable[[], GateLists],
        confirmer: Confirmer | None = None,
        audit: AuditLog | None = None,
        sandbox: SandboxBackend | None = None,
        platform: Platform | None = None,
        windows_paths: bool | None = None,
        confirm_timeout: float = CONFIRM_TIMEOUT_S,
    ) -> None:
        self._tools = dict(tools)
        self._lists = lists
        self.confirmer = confirmer
        self._audit = audit
        self._sandbox = sandbox
        windows = sys.platform == "win32"
        # On Windows the command runs in Git Bash when installed (POSIX syntax, Windows paths), else in cmd.
        shell_kind = choose_shell(windows=True, env=os.environ).kind if windows else "bash"
        self._platform: Platform = platform or ("cmd" if shell_kind == "cmd" else "posix")
        self._windows_paths = windows if windows_paths is None else windows_paths
        self._confirm_timeout = confirm_timeout
        self._adapters: dict[tuple[str, str], pydantic.TypeAdapter[Any]] = {}

    def names(self) -> list[str]:
        return sorted(self._tools)

    def signature(self, name: str) -> inspect.Signature:
        """The tool's signature and typing, for building model tool schemas (not for calling)."""
        return inspect.signature(self._tools[name])

    def doc(self, name: str) -> str:
        return inspect.getdoc(self._tools[name]) or ""

    def gate_context(self, ctx: ToolContext, *, force_host: bool = False) -> GateContext:
        lists = self._lists()
        return GateContext(
            cwd=ctx.cwd,
            home=ctx.home,
            state_dir=str(ctx.state_dir),
            restricted_paths=tuple(lists.restricted_paths),
            forbidden_commands=tuple(lists.forbidden_commands),
            destructive_patterns=tuple(lists.destructive_patterns),
            platform=self._platform,
            force_host=force_host,
            windows_paths=self._windows_paths,
            tmpdir=os.environ.get("TMPDIR", ""),  # the agent's shell inherits the server's environment
        )

    async def call(self, name: str, args: Mapping[str, Any] | None, ctx: ToolContext, *, call_id: str) -> ToolOutcome:
        started = time.monotonic()
        arguments = dict(args or {})
        detail = _detail(name, arguments)
        try:
            gate_ctx = self.gate_context(ctx)
            # The tools that walk folders skip the same restricted locations the gate judged this call with.
            ctx.restricted_paths = gate_ctx.restricted_paths
            # In a thread: a decision may read the script a command runs (up to 64 KiB) and judge all of it.
            decision = await asyncio.to_thread(decide, ToolCall(name=name, args=arguments), gate_ctx)
        except Exception as exc:  # a gate bug must fail closed
            logger.exception("security gate failed on %s", name)
            decision = Decision(verdict="block", route="sandbox", confirm=False, reason=f"gate error: {exc}")
        start = AuditEntry(
            event="tool_start", session_id=ctx.session_id, tool_used=name, classified_command=detail,
            user_prompt=ctx.user_prompt, decision=decision.verdict, route=decision.route, reason=decision.reason,
            call_id=call_id,
        )  # fmt: skip
        outcome = ToolOutcome(call_id=call_id, tool=name, status="error", decision=decision)
        if self._audit is not None:  # fail closed: nothing runs that the audit log could not record
            problem = await asyncio.wrap_future(self._audit.record(start))
            if problem is not None:
                outcome.status = "blocked"
                outcome.message = (
                    f"Refused: the audit log cannot be written ({problem}), and nothing runs unrecorded. "
                    f"Free some disk space in {self._audit.logs_dir.parent} and try again."
                )
                self._finish(outcome, arguments, ctx, started)
                return outcome
        try:
            await self._dispatch(outcome, arguments, ctx, decision, detail)
        except asyncio.CancelledError:
            outcome.status, outcome.message = "error", "cancelled"
            self._finish(outcome, arguments, ctx, started)
            raise
        self._finish(outcome, arguments, ctx, started)
        return outcome

    # --- routing -----------------------------------------------------------------------------------------------

    async def _dispatch(
        self, outcome: ToolOutcome, args: dict[str, Any], ctx: ToolContext, decision: Decision, detail: str
    ) -> None:
        fn = self._tools.get(outcome.tool)
        if fn is None:
            outcome.status, outcome.message = "blocked", _missing_tool(outcome.tool)
            return
        try:
            validated = self._validate(outcome.tool, fn, args)
        except ToolError as exc:
            outcome.status, outcome.message = "invalid_args", str(exc)
            return
        if decision.verdict == "safe":
            await self._run_host(outcome, fn, validated, ctx)
        elif decision.verdict == "confirm":
            request = ConfirmationRequest(
                call_id=outcome.call_id, tool=outcome.tool, detail=detail, reason=decision.reason,
                voice_message=f"May I run {outcome.tool}? {decision.reason}", timeout=self._confirm_timeout,
                gate_reason=decision.reason,
            )  # fmt: skip
            asked = time.monotonic()
            if await self._ask(request):
                await self._run_host(outcome, fn, validated, ctx)
            else:
                outcome.status = "rejected"
                # A "no" that comes when the wait is over is no answer at all: the user may not have seen it.
                unanswered = time.monotonic() - asked >= request.timeout - 0.05
                why = (
                    f"Nobody answered the approval request within {request.timeout:.0f} s"
                    if unanswered
                    else "The user did not approve this call"
                )
                outcome.message = f"{why} ({decision.reason}); it was skipped. Continue without it or try another way."
        else:
            await self._blocked(outcome, fn, validated, ctx, decision, detail)

    async def _blocked(
        self,
        outcome: ToolOutcome,
        fn: ToolFn,
        args: dict[str, Any],
        ctx: ToolContext,
        decision: Decision,
        detail: str,
    ) -> None:
        sandbox = self._sandbox
        if outcome.tool == SANDBOXED_TOOL and sandbox is not None and sandbox.available():
            timeout, timeout_note = command_timeout(args.get("timeout", DEFAULT_TIMEOUT_S))
            try:
                result = await sandbox.run(
                    str(args["command"]), timeout=timeout, workspace=default_workspace(ctx.state_dir)
                )
            except Exception as exc:
                logger.exception("sandbox run failed")
                outcome.status, outcome.message = "error", f"The sandbox failed: {exc}"
                return
            if timeout_note:
                result["note"] = " ".join(filter(None, (timeout_note, result.get("note", ""))))
            # Tell the model where it ran: paths and network differ from the host.
            result["sandbox_reason"] = (
                f"Blocked on the host ({decision.reason}); ran in the {sandbox.name} sandbox instead: no network, "
                "read-only system, only /workspace is writable and nothing is visible from the user's files."
            )
            outcome.result, outcome.executed_on, outcome.backend = result, "sandbox", sandbox.name
            outcome.status = "error" if result.get("status") == "error" else "success"
            outcome.message = f"Ran in the {sandbox.name} sandbox because: {decision.reason}"
            return
        why = "no sandbox is available" if outcome.tool == SANDBOXED_TOOL else "this tool cannot run in a sandbox"
        request = ConfirmationRequest(
            call_id=outcome.call_id,
            tool=outcome.tool,
            detail=detail,
            reason=FORCE_HOST_REASON,
            voice_message=(
                f"This was blocked ({decision.reason}) and {why}. Approving runs it on this computer without a sandbox."
            ),
            timeout=self._confirm_timeout,
            force_host=True,
            gate_reason=decision.reason,
        )
        if await self._ask(request):
            outcome.extra["force_host"] = True
            await self._run_host(outcome, fn, args, ctx)
            return
        outcome.status = "blocked"
        outcome.message = f"Refused: {decision.reason} ({why}, and running it unsandboxed was not approved)."

    async def _ask(self, request: ConfirmationRequest) -> bool:
        if self.confirmer is None:
            return False
        try:
            # The confirmer keeps the timeout itself and says so where it asked (the phone is told the approval
            # expired); this later deadline only stops one that never returns. With the same deadline this one
            # fired first and cancelled the confirmer's own, so the phone was never told.
            deadline = request.timeout + CONFIRM_BACKSTOP_S
            return bool(await asyncio.wait_for(self.confirmer.confirm(request), deadline))
        except TimeoutError:
            logger.info("confirmation %s timed out", request.call_id)
            return False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # disconnects and confirmer bugs count as "no"
            logger.warning("confirmation %s failed: %s", request.call_id, exc)
            return False

    async def _run_host(self, outcome: ToolOutcome, fn: ToolFn, args: dict[str, Any], ctx: ToolContext) -> None:
        outcome.executed_on, outcome.backend = "host", "host"
        try:
            result = await fn(ctx, **args)
        except asyncio.CancelledError:
            raise
        except (ToolError, NotAvailableError) as exc:  # their messages are written for the user
            outcome.status, outcome.message = "error", str(exc)
            return
        except Exception as exc:
            logger.exception("tool %s raised", outcome.tool)
            outcome.status, outcome.message = "error", f"{type(exc).__name__}: {exc}"
            return
        outcome.result = result
        failed = isinstance(result, dict) and result.get("status") == "error"
        outcome.status = "error" if failed else "success"

    # --- arguments ---------------------------------------------------------------------------------------------

    def _validate(self, name: str, fn: ToolFn, args: dict[str, Any]) -> dict[str, Any]:
        """Check names against the signature and coerce values to the annotated types (JSON gives strings…)."""
        signature = inspect.signature(fn)
        try:
            signature.bind(None, **args)
        except TypeError as exc:
            raise ToolError(f"Bad arguments for {name}: {exc}") from exc
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # unresolvable annotations: pass values through unchecked
            hints = {}
        validated: dict[str, Any] = {}
        for key, value in args.items():
            if isinstance(value, str) and "\x00" in value:
                # An argument of a process ends at its first NUL (uvloop cuts it there without a word), so what
                # ran would be a prefix the gate never judged: 'chmod -R 777 /\0tmp/x' runs 'chmod -R 777 /'.
                raise ToolError(
                    f"Bad argument '{key}' for {name}: it contains a NUL character (\\0), which a command, a path "
                    "or a program's argument cannot hold; nothing was run."
                )
            hint = hints.get(key)
            if hint is None:
                validated[key] = value
                continue
            adapter = self._adapters.get((name, key))
            if adapter is None:
                adapter = self._adapters[(name, key)] = pydantic.TypeAdapter(hint)
            try:
                validated[key] = adapter.validate_python(value)
            except pydantic.ValidationError as exc:
                first = exc.errors()[0]
                raise ToolError(f"Bad argument '{key}' for {name}: {first.get('msg', 'invalid value')}") from exc
        return validated

    # --- bookkeeping -------------------------------------------------------------------------------------------

    def _finish(self, outcome: ToolOutcome, args: dict[str, Any], ctx: ToolContext, started: float) -> None:
        outcome.duration_ms = int((time.monotonic() - started) * 1000)
        # A file name that is not UTF-8 (os.listdir gives it lone surrogates) would make the result impossible
        # to send to the phone or keep in the conversation: it is shown with U+FFFD, as a terminal shows it.
        outcome.result, outcome.message = storable(outcome.result), storable_text(outcome.message)
        voice = ""
        if isinstance(outcome.result, dict):
            voice = str(outcome.result.get("voice_message", ""))
        history_status = {"invalid_args": "error"}.get(outcome.status, outcome.status)
        try:
            ctx.history.add(
                ActionRecord(
                    tool=outcome.tool,
                    args=dict(args),
                    status=history_status,
                    summary=_summary(outcome.result, outcome.message),
                    duration_ms=outcome.duration_ms,
                )
            )
        except Exception:
            logger.exception("could not record action history")
        decision = outcome.decision
        self._log(
            AuditEntry(
                event="tool_end", session_id=ctx.session_id, tool_used=outcome.tool,
                classified_command=_detail(outcome.tool, args), user_prompt=ctx.user_prompt,
                execution_result=outcome.status, voice_message=voice or outcome.message,
                duration_ms=outcome.duration_ms, decision=decision.verdict if decision else "",
                route=outcome.executed_on, reason=decision.reason if decision else "", call_id=outcome.call_id,
                backend=outcome.backend, extra={"force_host": True} if outcome.extra.get("force_host") else {},
            )
        )  # fmt: skip

    def _log(self, entry: AuditEntry) -> None:
        if self._audit is not None:
            self._audit.record(entry)


# Tools of the reference catalogue this desktop does not have, and what does the job instead.
_INSTEAD = {
    "execute_browser": "drive the browser with observe_screen and execute_gui, or a headless browser via execute_cli",
    "execute_computer_use": "use observe_screen, then execute_gui or execute_accessible",
    "convert_document": "enable the office-documents skill and run its to-pdf workflow (execute_skill)",
}


def _missing_tool(tool: str) -> str:
    """Why a call to a tool this desktop does not have is refused, and what to use instead."""
    if tool not in KNOWN_TOOLS:
        return f"Unknown tool '{tool}': refused."
    instead = _INSTEAD.get(tool, "use execute_cli, execute_gui or execute_accessible")
    return f"'{tool}' is not available on this desktop (it is not built into this version of Contop): {instead}."
