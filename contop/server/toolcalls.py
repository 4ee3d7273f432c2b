"""Direct ``tool_call`` messages from the phone, run through the same security gate as the agent's calls.

The server owns this wiring because it is the layer that knows both the transport (sessions, confirmations) and
the security layer (``GuardedToolset``); neither of those imports the other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from contop.security.audit import AuditLog
from contop.security.enforce import GateLists, GuardedToolset
from contop.security.sandbox import SandboxBackend, detect_sandbox
from contop.server.state import ServerState
from contop.tools.context import ToolContext
from contop.tools.registry import all_tools
from contop.transport.handlers import ToolRunner
from contop.transport.session import Session, SessionConfirmer

log = logging.getLogger(__name__)

_TOOLSET_KEY = "guarded_toolset"
_CONTEXT_KEY = "tool_context"


def server_audit(state: ServerState) -> AuditLog:
    """The server's one audit log, created on first use and closed last at shutdown."""
    if state.audit is None:
        state.audit = AuditLog(state.config.state_dir.logs_dir)
        state.on_shutdown(state.audit.aclose)
    return state.audit


def sandbox_provider() -> Callable[[], Awaitable[SandboxBackend | None]]:
    """The best sandbox backend, probed once on first use (the probe runs real processes: off the loop)."""
    sandbox: list[SandboxBackend | None] = []
    probe_lock = asyncio.Lock()

    async def backend() -> SandboxBackend | None:
        async with probe_lock:
            if not sandbox:
                status = await asyncio.to_thread(detect_sandbox)
                if status.backend is None:
                    log.warning("sandbox: %s", status.description)  # with why each backend cannot run here
                sandbox.append(status.backend)
        return sandbox[0]

    return backend


def runner(state: ServerState, backend: Callable[[], Awaitable[SandboxBackend | None]]) -> ToolRunner:
    """A ``ToolRunner`` sharing the server's audit log and sandbox."""
    audit = server_audit(state)
    tools = all_tools()

    def lists() -> GateLists:
        settings = state.settings.get()
        return GateLists(
            restricted_paths=tuple(settings.restricted_paths),
            forbidden_commands=tuple(settings.forbidden_commands),
            destructive_patterns=tuple(settings.destructive_patterns),
        )

    async def run(session: Session, tool: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
        owner = session.current()
        toolset = owner.extra.get(_TOOLSET_KEY)
        if toolset is None:
            confirmer = SessionConfirmer(owner)
            toolset = GuardedToolset(tools, lists=lists, confirmer=confirmer, audit=audit, sandbox=await backend())
            owner.extra[_TOOLSET_KEY] = toolset
        ctx = owner.extra.get(_CONTEXT_KEY)
        if ctx is None:
            home = str(Path.home())
            ctx = ToolContext(session_id=owner.id, state_dir=state.config.state_dir.root, home=home, cwd=home)
            owner.extra[_CONTEXT_KEY] = ctx
        outcome = await toolset.call(tool, args, ctx, call_id=call_id)
        return outcome.as_dict()

    return run
