"""Handlers the transport registers itself, and the adapter that turns a tool runner into the ``tool_call`` handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from contop.core.messages import Envelope, ToolCall, ToolResult, ToolResultPayload
from contop.transport.router import Handler
from contop.transport.session import Session

# (session, tool name, arguments, call id) → a JSON-ready result with at least "status"; supplied by the server,
# which puts the security gate in front of the tools (the transport does not know the gate).
ToolRunner = Callable[[Session, str, dict[str, Any], str], Awaitable[dict[str, Any]]]


def tool_call_handler(run: ToolRunner) -> Handler:
    """``tool_call`` → ``run`` → ``tool_result`` with ``ref_id`` = the call's id."""

    async def handle(session: Session, message: Envelope) -> None:
        assert isinstance(message, ToolCall)
        call = message.payload
        result = await run(session, call.tool, dict(call.args), message.id)
        fields = {k: v for k, v in result.items() if k not in ("tool", "status", "stdout", "duration_ms", "ref_id")}
        stdout = result.get("stdout")
        if stdout is None and isinstance(result.get("result"), dict):
            stdout = result["result"].get("stdout")
        payload = ToolResultPayload(
            tool=call.tool,
            status=str(result.get("status", "error")),
            stdout=stdout if isinstance(stdout, str) else None,
            duration_ms=int(result.get("duration_ms", 0) or 0),
            ref_id=message.id,
            **fields,
        )
        session.send(ToolResult(payload=payload))

    return handle
