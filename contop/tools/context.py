"""The context every tool receives first: who is calling, where, and the session's short-term memory."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTION_HISTORY_SIZE = 50


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One entry of the action history the agent can read back with ``get_action_history``."""

    tool: str
    args: dict[str, Any]
    status: str  # "success" | "error" | "rejected" | "blocked"
    summary: str
    duration_ms: int
    timestamp: float = field(default_factory=time.time)


class ActionHistory:
    """Ring buffer of the most recent tool calls of one session."""

    def __init__(self, size: int = ACTION_HISTORY_SIZE) -> None:
        self._items: deque[ActionRecord] = deque(maxlen=size)

    def add(self, record: ActionRecord) -> None:
        self._items.append(record)

    def recent(self, limit: int | None = None) -> list[ActionRecord]:
        items = list(self._items)
        return items if limit is None else items[-limit:]

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class ToolContext:
    """Passed as the first argument to every tool.

    ``cwd`` is the session's working directory: ``execute_cli`` updates it when a command changes directory,
    and every path-bearing tool resolves relative paths against it (see ``contop.core.pathres``).
    ``restricted_paths`` is the user's list the gate judged the current call with (the guarded toolset sets it):
    a tool that walks folders, which the gate cannot judge entry by entry, skips what lies inside them.
    """

    session_id: str
    state_dir: Path
    home: str
    cwd: str
    history: ActionHistory = field(default_factory=ActionHistory)
    user_prompt: str = ""
    restricted_paths: tuple[str, ...] = ()
