"""Everything the running server holds, created once by the app factory and reached as ``app.state.contop``."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contop.server.dtls import DtlsIdentity
from contop.server.keepawake import HostKeepAwake
from contop.server.logsetup import RedactingFilter
from contop.server.pairing_service import PairingService
from contop.server.ratelimit import AuthRateLimiter
from contop.server.settings_store import SettingsStore
from contop.server.statedir import StateDir
from contop.server.tunnel import Tunnel

if TYPE_CHECKING:
    from fastapi import WebSocket

    from contop.agent.run import AgentService
    from contop.security.audit import AuditLog
    from contop.security.sandbox import SandboxBackend
    from contop.server.away import AwayModeController
    from contop.server.devices import Device
    from contop.server.pairing import PairingToken
    from contop.transport.manager import SessionManager

log = logging.getLogger(__name__)

# (websocket, offer message, claimed token, device) → runs the WebRTC negotiation; installed by the transport.
SignalingHandler = Callable[["WebSocket", dict[str, Any], "PairingToken", "Device"], Awaitable[None]]


@dataclass
class ServerConfig:
    """What the CLI decided: where state lives, where to listen, which environment values to use."""

    state_dir: StateDir
    host: str = "0.0.0.0"
    port: int = 8000
    env: Mapping[str, str] = field(default_factory=dict)
    # The host put in pairing URLs and allowed as the phone app's Origin (--advertise-host): a name of this
    # computer the phone knows (a router's DNS name) that the server cannot find out itself. Default: the LAN address.
    advertise_host: str | None = None


@dataclass
class ServerState:
    config: ServerConfig
    settings: SettingsStore
    pairing: PairingService
    admin_token: str
    dtls: DtlsIdentity
    redactor: RedactingFilter
    rate_limiter: AuthRateLimiter = field(default_factory=AuthRateLimiter)
    started_at: float = field(default_factory=time.time)
    signaling_handler: SignalingHandler | None = None
    sessions: SessionManager | None = None  # the WebRTC sessions; its router takes the message handlers
    tunnel: Tunnel = field(default_factory=lambda: Tunnel(0))  # replaced with the real port by build_state
    away: AwayModeController | None = None  # set by the Away Mode router's lifespan
    audit: AuditLog | None = None  # the one audit log of the server (one writer keeps the hash chain whole)
    agent: AgentService | None = None  # the execution agent once loaded (contop.server.agent_setup.AgentLoader)
    sandbox: Callable[[], Awaitable[SandboxBackend | None]] | None = None  # probed once; set with the transport
    keep_awake: HostKeepAwake = field(default_factory=HostKeepAwake)  # holds what keep-awake changed, to undo it
    _startup: list[Callable[[], object]] = field(default_factory=list)
    _shutdown: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    def on_startup(self, callback: Callable[[], object]) -> None:
        """Register a function called on the event loop as the server starts serving: it may start background
        work (tasks), never wait for it, since nothing is answered before they all return."""
        self._startup.append(callback)

    def started(self) -> None:
        for callback in self._startup:
            callback()

    def on_shutdown(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Register a coroutine run at shutdown, newest first (sessions close before what they use)."""
        self._shutdown.append(callback)

    async def shutdown(self) -> None:
        while self._shutdown:
            callback = self._shutdown.pop()
            try:
                await callback()
            except Exception:
                log.exception("error during shutdown")
