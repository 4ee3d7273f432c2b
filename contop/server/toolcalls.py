"""Direct ``tool_call`` messages from the phone, run through the same security gate as the agent's calls.

The server owns this wiring because it is the layer that knows both the transport (sessions, confirmations) and
the security layer (``GuardedToolset``); neither of those imports the other.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from contop.core.settings import API_KEY_ENV, Settings
from contop.core.urlsecrets import url_password
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
        state.audit = AuditLog(state.config.state_dir.logs_dir, secrets=known_secrets(state))
        state.on_shutdown(state.audit.aclose)
    return state.audit


def known_secrets(state: ServerState) -> Callable[[], list[str]]:
    """Every secret value this server has known, for the audit log to replace: the admin token, each pairing token
    (a revoked one too: tokens never appear in a log line), each API key (a replaced one too, as the server log's
    filter keeps them) and a local model server's password.

    Kept up to date by the same hooks that feed the server log's filter, so the audit writer thread only takes a
    copy: it never reads settings.json itself, which could run the settings listeners on that thread.
    """
    lock = threading.Lock()
    known = {state.admin_token, *state.pairing.tokens.secrets()}

    def add(*values: str) -> None:
        with lock:
            known.update(v for v in values if v)

    def add_settings(_old: Settings | None, new: Settings) -> None:
        keys = (new.effective_api_key(key, state.config.env) for key in API_KEY_ENV)
        add(*keys, url_password(new.local_model_base_url))

    add_settings(None, state.settings.get())
    state.settings.add_listener(add_settings)
    state.pairing.on_new_secret(add)

    def secrets() -> list[str]:
        with lock:
            return list(known)

    return secrets


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
