"""What an agent run tells the outside world: a small protocol the session implements by sending envelopes."""

from __future__ import annotations

from typing import Any, Literal, Protocol

EventType = Literal["agent_progress", "agent_thinking", "agent_text", "tool_result", "agent_status", "agent_result"]
StatusType = Literal["model_error", "sandbox_fallback", "vision_fallback"]
ProgressStatus = Literal["running", "completed", "failed", "cancelled"]  # cancelled: the run stopped mid-step


class RunEvents(Protocol):
    """Receives every event of a run, in order. ``type`` is the seed message type; ``payload`` its payload."""

    async def emit(self, type: str, payload: dict[str, Any]) -> None: ...


class RecordingEvents:
    """A ``RunEvents`` that keeps everything (tests, benchmarks, ``contop run`` style consumers)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        self.events.append((type, payload))

    def of(self, type: str) -> list[dict[str, Any]]:
        return [payload for kind, payload in self.events if kind == type]

    def types(self) -> list[str]:
        return [kind for kind, _ in self.events]
