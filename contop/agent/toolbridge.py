"""The model's tools: thin wrappers generated from the ``GuardedToolset``, so every call goes through the gate.

Names, descriptions and argument schemas come from the toolset's functions (signature minus the context);
the wrapper only reports progress and hands the call to ``GuardedToolset.call``. Tool functions themselves are
never given to pydantic-ai.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
import typing
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic
from pydantic_ai import FunctionToolset, RunContext, Tool, ToolReturn
from pydantic_ai.messages import BinaryContent
from pydantic_ai.toolsets import ToolsetTool

from contop.agent.events import ProgressStatus, RunEvents
from contop.security.enforce import ConfirmationRequest, Confirmer, GuardedToolset, ToolOutcome
from contop.tools.context import ToolContext

log = logging.getLogger(__name__)

_DETAIL_CHARS = 240
STOPPED_WAITING = "Stopped while it waited for your approval, so it did not run."
IMAGE_NOTE = "The image is attached below."


class WaitingForApproval:
    """The run's confirmer, remembering which calls have not been approved: a stop then says those steps never
    ran, rather than that they were cut off half done.

    A call stays marked until its answer is "yes". A lost link answers every open question "no" as it stops the
    run, and the "no" can reach the confirmer before the stop reaches the run (Python 3.11's ``wait_for`` returns
    a result that arrived with its cancellation): the step is then still in flight, but it never ran.
    """

    def __init__(self, inner: Confirmer) -> None:
        self.inner = inner
        self.calls: set[str] = set()

    async def confirm(self, request: ConfirmationRequest) -> bool:
        self.calls.add(request.call_id)
        answer = await self.inner.confirm(request)
        if answer:
            self.calls.discard(request.call_id)
        return answer

    def settled(self, call_id: str) -> None:
        """The call's step has its outcome: it is no longer one a stop could cut off."""
        self.calls.discard(call_id)


@dataclass(frozen=True, slots=True)
class Cut:
    """A step a stop left unfinished: ``waiting`` when it was still waiting for approval (so it did not run)."""

    tool: str
    waiting: bool = False


@dataclass
class RunState:
    """What one run's tool wrappers share: where to send events, step counting, the tool summary."""

    toolset: GuardedToolset
    ctx: ToolContext
    events: RunEvents
    model: str
    backend: str
    step: int = 0  # steps started
    finished: int = 0  # steps that ran to an outcome (a stopped one did not)
    summary: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Steps reported as running and not yet finished: step → tool. What a stop leaves in flight.
    in_flight: dict[int, str] = field(default_factory=dict)
    # Agent-level tools that are not tools of the toolset (generate_plan): name → handler(args, call_id).
    extra: dict[str, Callable[[dict[str, Any], str], Awaitable[Any]]] = field(default_factory=dict)
    # The run's conversation so far (the framework's own list), once it has started: a run that stops stores it.
    messages: Callable[[], list[Any]] | None = None
    approvals: WaitingForApproval | None = None  # the toolset's confirmer, when the run has one
    call_ids: dict[int, str] = field(default_factory=dict)  # step in flight → its call id

    def tool_summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (tool, status), count in sorted(self.summary.items()):
            out.setdefault(tool, {})[status] = count
        return out

    async def progress(self, step: int, tool: str, detail: str, status: ProgressStatus) -> None:
        """Report a step; every step goes through here (tools, the planner), so this also keeps what is in flight."""
        if status == "running":
            self.in_flight[step] = tool
        elif self.in_flight.pop(step, None) is not None and status != "cancelled":
            self.finished += 1
        await self.events.emit(
            "agent_progress",
            {"step": step, "tool": tool, "detail": detail, "status": status, "model": self.model,
             "backend": self.backend},
        )  # fmt: skip

    async def stop_in_flight(self, detail: str, why: str = "") -> list[Cut]:
        """The run ended with steps still in flight (stopped, timed out, failed): each gets its final
        ``agent_progress`` (``cancelled``) and counts as cancelled in the summary. Returns them, in order; a step
        still waiting for approval is told apart, as it did not run at all. ``why`` is the reason of a stop the
        user did not ask for (the phone's link was lost): a step that waited is said to have lost its approval
        to it, not to have been stopped by the user."""
        waiting = self.approvals.calls if self.approvals is not None else set()
        unapproved = f"{why[:1].upper()}{why[1:]} while it waited for your approval, so it did not run." if why else ""
        cut = []
        for step, tool in sorted(self.in_flight.items()):
            unasked = self.call_ids.get(step) in waiting
            cut.append(Cut(tool, unasked))
            self.summary[(tool, "cancelled")] += 1
            await self.progress(step, tool, (unapproved or STOPPED_WAITING) if unasked else detail, "cancelled")
        return cut


def describe_call(tool: str, args: dict[str, Any]) -> str:
    if tool == "execute_cli" and isinstance(args.get("command"), str):
        return clip(f"Running: {args['command']}")
    try:
        text = json.dumps(args, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(args)
    return clip(f"{tool} {text}")


def describe_outcome(outcome: ToolOutcome) -> str:
    """The step's line on the phone. A refusal gets words for the user; the model's explanation (what to do
    instead) stays in the ``tool_result`` message."""
    result = outcome.result
    if outcome.status == "rejected":
        text = "Not approved, so it was skipped."
    elif outcome.status in ("blocked", "invalid_args") or result is None:
        text = outcome.message or outcome.status
    elif isinstance(result, dict):
        text = str(result.get("voice_message") or result.get("stdout") or result.get("message") or outcome.status)
    else:
        text = str(result)
    return clip(" ".join(text.split()))


def clip(text: str, limit: int = _DETAIL_CHARS) -> str:
    """``text`` within ``limit`` characters; a cut one ends at a word with "…", so it does not read as whole."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _phone_payload(outcome: ToolOutcome, step: int) -> dict[str, Any]:
    """The ``tool_result`` of an agent step. Output goes once, at the top as the seed protocol has it; an image
    the tool returned for the model is named, not sent: the phone watches the screen live, and a screenshot in
    base64 (often 200-400 KB) would hold up every message behind it on the reliable channel."""
    payload = outcome.as_dict()
    payload["ref_id"] = outcome.call_id
    payload["step"] = step
    result = outcome.result
    if isinstance(result, dict):
        rest = dict(result)
        for key in ("stdout", "stderr", "exit_code"):
            if key in rest:
                payload[key] = rest.pop(key)
        image = rest.pop("image_b64", None)
        if isinstance(image, str):
            rest["image"] = f"{len(image) * 3 // 4 // 1024} KB image for the agent, not sent to the phone"
        payload["result"] = rest
    return payload


def for_model(outcome: ToolOutcome) -> Any:
    """The outcome as the model gets it; an image in the result (``image_b64``) is sent as an image, not text."""
    value = outcome.for_model()
    if not (isinstance(value, dict) and isinstance(value.get("image_b64"), str)):
        return value
    rest = {k: v for k, v in value.items() if k != "image_b64"}
    try:
        data = base64.b64decode(value["image_b64"], validate=True)
    except (binascii.Error, ValueError):
        rest["note"] = "the tool returned image data that is not valid base64"
        return rest
    media_type = str(value.get("mime_type") or "image/jpeg")
    rest["image"] = IMAGE_NOTE
    return ToolReturn(return_value=rest, content=[BinaryContent(data=data, media_type=media_type)])


async def run_guarded(state: RunState, name: str, args: dict[str, Any], call_id: str) -> Any:
    """One tool step: progress (running), the guarded call, progress (completed/failed), ``tool_result``."""
    state.step += 1
    step = state.step
    await state.progress(step, name, describe_call(name, args), "running")
    state.call_ids[step] = call_id  # kept by a stop, for stop_in_flight to know whether the step still waited
    outcome = await state.toolset.call(name, args, state.ctx, call_id=call_id)
    state.call_ids.pop(step, None)
    if state.approvals is not None:
        state.approvals.settled(call_id)
    state.summary[(name, outcome.status)] += 1
    status: ProgressStatus = "completed" if outcome.status == "success" else "failed"
    await state.progress(step, name, describe_outcome(outcome), status)
    await state.events.emit("tool_result", _phone_payload(outcome, step))
    if outcome.executed_on == "sandbox":
        await state.events.emit(
            "agent_status",
            {"status_type": "sandbox_fallback", "message": outcome.message, "tool": name, "ref_id": call_id},
        )
    result = outcome.result if isinstance(outcome.result, dict) else {}
    if result.get("fallback") == "ocr":  # the screen tools had no accessibility tree and read the screen by OCR
        note = str(result.get("note") or "accessibility unavailable; UI elements found by OCR")
        await state.events.emit(
            "agent_status", {"status_type": "vision_fallback", "message": note, "tool": name, "ref_id": call_id}
        )
    return for_model(outcome)


def args_schema(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    """JSON schema of ``fn``'s arguments after the context, from its annotations and defaults."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: fall back to Any
        hints = {}
    fields: dict[str, Any] = {}
    for index, (param_name, param) in enumerate(signature.parameters.items()):
        if index == 0 or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param_name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param_name] = (annotation, default)
    try:
        model = pydantic.create_model(f"{name}_args", **fields)
        schema = model.model_json_schema()
    except Exception as exc:  # an exotic annotation must not take the whole toolset down
        log.warning("no precise schema for %s (%s); accepting any object", name, exc)
        return {"type": "object", "properties": {}, "additionalProperties": True}
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def _description(doc: str, name: str) -> str:
    return doc.strip() or f"The {name} tool."


def guarded_tools(
    toolset: GuardedToolset, functions: Mapping[str, Callable[..., Any]], *, exclude: frozenset[str] = frozenset()
) -> list[Tool[RunState]]:
    """One pydantic-ai tool per toolset tool; each one only forwards to ``run_guarded``.

    ``functions`` is the mapping the toolset was built from: it is read for type hints only (the toolset's
    ``signature`` keeps annotations as strings), never called.
    """
    tools: list[Tool[RunState]] = []
    for name in toolset.names():
        if name in exclude:
            continue

        def make(tool_name: str) -> Callable[..., Awaitable[Any]]:
            async def forward(run_ctx: RunContext[RunState], **kwargs: Any) -> Any:
                call_id = run_ctx.tool_call_id or f"{tool_name}-{run_ctx.deps.step + 1}"
                return await run_guarded(run_ctx.deps, tool_name, kwargs, call_id)

            return forward

        tools.append(
            Tool.from_schema(
                make(name),
                name=name,
                description=_description(toolset.doc(name), name),
                json_schema=args_schema(functions[name], name),
                takes_ctx=True,
            )
        )
    return tools


class StaticToolset(FunctionToolset[RunState]):
    """The guarded tool wrappers as one toolset whose listing is computed once and reused by every step and run.

    ``FunctionToolset`` rebuilds the definition of every tool at every model request (a copy of the run
    context per tool), which costs about a millisecond per step with our thirty tools. Nothing in the listing
    depends on the step: the wrappers have no ``prepare`` function and the retry budget is fixed here.
    """

    def __init__(self, tools: list[Tool[RunState]], *, max_retries: int) -> None:
        if any(tool.prepare is not None for tool in tools):
            raise ValueError("StaticToolset caches its listing: its tools cannot have a prepare function")
        super().__init__(tools, max_retries=max_retries, id="contop")
        self._listing: dict[str, ToolsetTool[RunState]] | None = None

    async def get_tools(self, ctx: RunContext[RunState]) -> dict[str, ToolsetTool[RunState]]:
        if self._listing is None:
            self._listing = await super().get_tools(ctx)
        return dict(self._listing)
