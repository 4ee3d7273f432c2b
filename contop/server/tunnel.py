"""A ``cloudflared`` quick tunnel to the server port, started on demand, for reaching the desktop from anywhere.

Only the signaling WebSocket and the phone app are served to requests that arrive through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
from collections.abc import Callable
from enum import StrEnum

from starlette.types import ASGIApp, Receive, Scope, Send

from contop.core.errors import ContopError, NotAvailableError

log = logging.getLogger(__name__)

URL_PATTERN = re.compile(r"https://[a-z0-9-]+\.trycloudflare\.com")
START_TIMEOUT = 30.0
INSTALL_HINT = (
    "cloudflared is not installed. Install it from Cloudflare's package repository "
    "(https://pkg.cloudflare.com, package 'cloudflared') or download the binary for your OS, "
    "then try again. LAN and Tailscale connections work without it."
)


class TunnelError(ContopError):
    pass


class TunnelState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"


class Tunnel:
    """Owns the cloudflared process: one at a time, killed (whole process group) on stop or shutdown."""

    def __init__(self, port: int, executable: str | None = None) -> None:
        self._port = port
        self._executable = executable
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._url_found: asyncio.Future[str] | None = None
        self._lock = asyncio.Lock()
        self.url: str | None = None

    @property
    def state(self) -> TunnelState:
        if self._proc is None or self._proc.returncode is not None:
            return TunnelState.STOPPED
        return TunnelState.RUNNING if self.url else TunnelState.STARTING

    @property
    def host(self) -> str | None:
        return self.url.removeprefix("https://") if self.url and self.state is TunnelState.RUNNING else None

    async def start(self) -> tuple[str, bool]:
        """The public URL, and whether it was already running."""
        async with self._lock:
            if self.state is TunnelState.RUNNING and self.url:
                return self.url, True
            exe = self._executable or shutil.which("cloudflared")
            if exe is None:
                raise NotAvailableError(INSTALL_HINT)
            argv = [exe, "tunnel", "--no-autoupdate", "--url", f"http://127.0.0.1:{self._port}"]
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            self._url_found = asyncio.get_running_loop().create_future()
            self._reader = asyncio.create_task(self._read_output(self._proc, self._url_found))
            try:
                async with asyncio.timeout(START_TIMEOUT):
                    self.url = await self._url_found
            except TimeoutError:
                await self._stop_locked()
                raise TunnelError(f"cloudflared did not report a public URL within {START_TIMEOUT:.0f} s") from None
            except TunnelError:
                await self._stop_locked()
                raise
            log.info("remote access tunnel running at %s", self.url)
            return self.url, False

    async def _read_output(self, proc: asyncio.subprocess.Process, found: asyncio.Future[str]) -> None:
        assert proc.stdout is not None
        tail: list[str] = []
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            tail = [*tail[-9:], line]
            log.debug("cloudflared: %s", line)
            match = URL_PATTERN.search(line)
            if match and not found.done():
                found.set_result(match.group(0))
        await proc.wait()
        if not found.done():
            found.set_exception(TunnelError(f"cloudflared exited ({proc.returncode}): {' | '.join(tail)[-300:]}"))
        elif self.url:
            log.warning("remote access tunnel stopped (cloudflared exited with %s)", proc.returncode)
            self.url = None

    async def stop(self) -> bool:
        async with self._lock:
            return await self._stop_locked()

    async def _stop_locked(self) -> bool:
        proc, self._proc = self._proc, None
        self.url = None
        if proc is None:
            return False
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        return True


class TunnelGuard:
    """ASGI middleware: a request that came through the tunnel may reach only the phone app and signaling."""

    def __init__(self, app: ASGIApp, tunnel_host: Callable[[], str | None]) -> None:
        self.app = app
        self._tunnel_host = tunnel_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self._through_tunnel(scope):
            path = scope.get("path", "")
            if path == "/health" or path == "/api" or path.startswith("/api/"):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = b'{"detail":"not served through the remote access tunnel"}'
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 403, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _through_tunnel(self, scope: Scope) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if "cf-connecting-ip" in headers:
            return True
        host = self._tunnel_host()
        return bool(host) and headers.get("host", "").split(":")[0].lower() == host
