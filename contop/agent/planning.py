"""``generate_plan``: a planning sub-run with the same tools (minus itself), whose plan the user approves.

The sub-run shares the run's toolset, so its look-around calls go through the gate and show up as steps.
The plan is sent for approval through the run's ``Confirmer`` with ``reason="plan_approval"``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Callable
from typing import Any

from pydantic_ai import Agent, RunContext, Tool
from pydantic_ai.exceptions import UsageLimitExceeded
from pydantic_ai.messages import AgentStreamEvent
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from contop.agent.context import ContextPolicy
from contop.agent.prompts import build_planning_prompt
from contop.agent.toolbridge import RunState
from contop.security.enforce import CONFIRM_BACKSTOP_S, ConfirmationRequest

log = logging.getLogger(__name__)

PLAN_TOOL = "generate_plan"
PLAN_APPROVAL = "plan_approval"
APPROVAL_TIMEOUT_S = 120.0
_DESCRIPTION = (
    "Make a step-by-step plan for a long or risky task and ask the user to approve it on the phone. A helper "
    "looks around with read-only tool calls first (at most 15 model calls). Returns the plan and whether the "
    "user approved it; follow an approved plan, and stop and explain when it was refused."
)
_SCHEMA = {
    "type": "object",
    "properties": {"task_description": {"type": "string", "description": "The task to plan, in full."}},
    "required": ["task_description"],
}


async def ask_approval(state: RunState, call_id: str, plan: str) -> bool:
    confirmer = state.toolset.confirmer
    if confirmer is None:
        return False
    request = ConfirmationRequest(
        call_id=call_id,
        tool=PLAN_TOOL,
        detail=plan,
        reason=PLAN_APPROVAL,
        voice_message="Here is my plan. Shall I go ahead?",
        timeout=APPROVAL_TIMEOUT_S,
    )
    try:
        # the confirmer's own timeout tells the phone the approval expired; this one only stops a stuck confirmer
        return bool(await asyncio.wait_for(confirmer.confirm(request), APPROVAL_TIMEOUT_S + CONFIRM_BACKSTOP_S))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a timeout or a disconnect is a "no"
        log.info("plan approval %s not given: %s", call_id, exc or type(exc).__name__)
        return False


async def _streamed(_ctx: RunContext[RunState], events: AsyncIterable[AgentStreamEvent]) -> None:
    """Makes the planner's model requests streamed, like the main run's, and reads them to the end.

    Only a streamed request is held to ``first_event_timeout``, which covers the provider SDK's retries too, so a
    model server that hangs fails the planner after one no-output limit with the main call's "without producing any
    output". A plain request had only the HTTP client's timeout, which the SDK retries twice (three limits), and
    a whole-answer deadline. The SDK's retries of a 429 or a 5xx still happen inside the first deadline."""
    async for _event in events:
        pass


def plan_tool(
    *,
    model: Model,
    tools: Callable[[], list[Tool[RunState]]],
    limits: UsageLimits,
    model_settings: ModelSettings,
    retries: int,
) -> Tool[RunState]:
    async def generate_plan(ctx: RunContext[RunState], task_description: str) -> dict[str, Any]:
        state = ctx.deps
        call_id = ctx.tool_call_id or f"plan-{state.step + 1}"
        state.step += 1
        step = state.step
        await state.progress(step, PLAN_TOOL, f"Planning: {task_description}"[:160], "running")
        helpers = tools()
        planner: Agent[RunState, str] = Agent(
            model,
            instructions=build_planning_prompt([t.name for t in helpers]),
            tools=helpers,
            deps_type=RunState,
            retries=retries,
            model_settings=model_settings,
            capabilities=[ContextPolicy()],
        )
        try:
            run = await planner.run(task_description, deps=state, usage_limits=limits, event_stream_handler=_streamed)
            plan = str(run.output).strip()
        except UsageLimitExceeded:
            plan = ""
        if not plan:
            result: dict[str, Any] = {
                "status": "error", "approved": False,
                "message": "The planner used its budget without producing a plan; plan the task yourself.",
            }  # fmt: skip
            status = "error"
        else:
            approved = await ask_approval(state, call_id, plan)
            status = "success" if approved else "rejected"
            result = {
                "status": status, "approved": approved, "plan": plan,
                "message": "The user approved the plan; carry it out." if approved
                else "The user did not approve the plan. Do not carry it out; explain and ask what to change.",
            }  # fmt: skip
        state.summary[(PLAN_TOOL, status)] += 1
        await state.progress(
            step, PLAN_TOOL, str(result["message"])[:160], "completed" if approved_ok(result) else "failed"
        )
        await state.events.emit(
            "tool_result",
            {"call_id": call_id, "ref_id": call_id, "tool": PLAN_TOOL, "status": status, "step": step,
             "result": result, "message": result["message"], "executed_on": "none", "backend": ""},
        )  # fmt: skip
        return result

    return Tool.from_schema(generate_plan, PLAN_TOOL, _DESCRIPTION, _SCHEMA, takes_ctx=True)


def approved_ok(result: dict[str, Any]) -> bool:
    return bool(result.get("approved"))
