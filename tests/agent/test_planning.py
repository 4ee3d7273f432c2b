"""generate_plan: a planning sub-run with the same tools (minus itself) and the user's approval."""

from __future__ import annotations

import pytest

from contop.agent.events import RecordingEvents
from contop.agent.run import Limits
from tests.agent.conftest import Env, FakeConfirmer, run_intent

pytestmark = pytest.mark.timeout(60)

PLAN = "Goal: tidy up.\nSteps:\n1. execute_cli - list the folder"


@pytest.mark.parametrize("approve", [True, False])
async def test_plan_is_sent_for_approval_and_the_answer_returned(
    env: Env, events: RecordingEvents, approve: bool
) -> None:
    env.script(
        [
            {"tool": "generate_plan", "args": {"task_description": "tidy the work folder"}},
            # the planning sub-run (same scripted model): looks around, then answers with the plan
            {"tool": "get_action_history", "args": {}},
            {"text": PLAN},
            # back in the main run
            {"tool": "get_action_history", "args": {}},
            {"text": "followed the plan" if approve else "stopped: plan refused"},
        ]
    )
    confirmer = FakeConfirmer(approve)
    result = await run_intent(env.service(), "tidy up", events, confirmer=confirmer)
    assert result.status == "completed"
    [request] = confirmer.requests
    assert request.reason == "plan_approval" and request.tool == "generate_plan" and request.detail == PLAN
    progress = [(p["step"], p["tool"], p["status"]) for p in events.of("agent_progress")]
    assert progress == [
        (1, "generate_plan", "running"),
        (2, "get_action_history", "running"), (2, "get_action_history", "completed"),
        (1, "generate_plan", "completed" if approve else "failed"),
        (3, "get_action_history", "running"), (3, "get_action_history", "completed"),
    ]  # fmt: skip
    plan_result = events.of("tool_result")[1]
    assert plan_result["tool"] == "generate_plan" and plan_result["result"]["approved"] is approve
    assert plan_result["result"]["plan"] == PLAN
    # the main model got the plan and the user's answer back
    told = env.received()[3]["parts"][-1]["text"]
    assert "Goal: tidy up." in told and ('"approved": true' if approve else '"approved": false') in told
    assert result.tool_summary["generate_plan"] == {"success" if approve else "rejected": 1}
    # the planner got the task and the same tools minus generate_plan itself
    received = env.received()
    assert received[1]["parts"][0]["text"] == "tidy the work folder"
    assert "generate_plan" in received[0]["tools"] and "execute_cli" in received[0]["tools"]
    assert set(received[0]["tools"]) - set(received[1]["tools"]) == {"generate_plan"}


async def test_planner_budget(env: Env, events: RecordingEvents) -> None:
    env.script(
        [{"tool": "generate_plan", "args": {"task_description": "t"}}] + [{"tool": "wait", "args": {"seconds": 0}}] * 5
    )
    result = await run_intent(
        env.service(limits=Limits(plan_requests=2, max_requests=6)), "x", events, confirmer=FakeConfirmer()
    )
    plan = events.of("tool_result")[2]
    assert plan["tool"] == "generate_plan" and plan["status"] == "error" and "budget" in plan["message"]
    assert result.status in ("completed", "limit")
