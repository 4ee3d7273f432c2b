"""get_action_history reads the session's ring buffer back in the seed's shape."""

from __future__ import annotations

import pytest

from contop.core.errors import ToolError
from contop.tools.context import ACTION_HISTORY_SIZE, ActionRecord, ToolContext
from contop.tools.history import get_action_history


def record(i: int, tool: str = "execute_cli") -> ActionRecord:
    return ActionRecord(tool=tool, args={"command": f"echo {i}"}, status="success", summary=str(i), duration_ms=i)


async def test_recent_actions_oldest_first(ctx: ToolContext) -> None:
    for i in range(3):
        ctx.history.add(record(i))
    ctx.history.add(ActionRecord(tool="observe_screen", args={}, status="error", summary="no display", duration_ms=1))
    result = await get_action_history(ctx, limit=3)
    assert result["status"] == "success" and result["count"] == 3 and result["total_recorded"] == 4
    assert [a["summary"] for a in result["actions"]] == ["1", "2", "no display"]
    first, last = result["actions"][0], result["actions"][-1]
    assert first["command"] == "echo 1" and last["command"] is None
    assert last["tool"] == "observe_screen" and last["status"] == "error"
    assert first["timestamp"].endswith("+00:00")


async def test_ring_buffer_keeps_fifty(ctx: ToolContext) -> None:
    for i in range(ACTION_HISTORY_SIZE + 10):
        ctx.history.add(record(i))
    result = await get_action_history(ctx, limit=1000)
    assert result["count"] == ACTION_HISTORY_SIZE
    assert result["actions"][0]["summary"] == "10"


async def test_empty_and_bad_limit(ctx: ToolContext) -> None:
    assert (await get_action_history(ctx))["actions"] == []
    with pytest.raises(ToolError):
        await get_action_history(ctx, limit=0)
