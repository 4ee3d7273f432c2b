"""``get_action_history``: the agent's short-term memory of the tool calls of this session."""

from __future__ import annotations

import datetime as dt
from typing import Any

from contop.core.errors import ToolError
from contop.tools.context import ACTION_HISTORY_SIZE, ToolContext


async def get_action_history(ctx: ToolContext, limit: int = 10) -> dict[str, Any]:
    """Return the most recent tool calls of this session, oldest first (at most 50 are kept)."""
    if limit < 1:
        raise ToolError("limit must be at least 1")
    records = ctx.history.recent(min(limit, ACTION_HISTORY_SIZE))
    actions = [
        {
            "tool": r.tool,
            "command": r.args.get("command") if isinstance(r.args.get("command"), str) else None,
            "args": r.args,
            "status": r.status,
            "summary": r.summary,
            "duration_ms": r.duration_ms,
            "timestamp": dt.datetime.fromtimestamp(r.timestamp, dt.UTC).isoformat(timespec="milliseconds"),
        }
        for r in records
    ]
    return {
        "status": "success",
        "actions": actions,
        "count": len(actions),
        "total_recorded": len(ctx.history),
        "voice_message": f"{len(actions)} recent actions.",
    }
