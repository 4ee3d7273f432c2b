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
import sys
from collections.abc import Callable
from enum import StrEnum

from starlette.types import ASGIApp, Receive, Scope, Send

from contop.core.errors import ContopError, NotAvailableError
from contop.proxy import lifeline as guard

log = logging.getLogger(__name__)

# The quick tunnel's own host. cloudflared also names its API host (``https://api.trycloudflare.com/tunnel``) in
# the error it prints when it cannot create a tunnel: that one is not a tunnel, and is followed by a path.
URL_PATTERN = re.compile(r"https://(?!api\.)[a-z0-9-]+\.trycloudflare\.com(?![\w./-])")
START_TIMEOUT = 30.0
STOP_GRACE = 3.0
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


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, AttributeError):
        os.killpg(pgid, sig)


def _guarded() -> bool:
    """Whether cloudflared runs under the lifeline guard (``contop.proxy.lifeline``), which kills its process group
    when this server dies, even by SIGKILL: without it, a killed server would leave the desktop open to the
    internet through a tunnel nobody watches. It needs POSIX pipes and process groups."""
    return os.name == "posix" and bool(sys.executable)


class Tunnel:
    """Owns the cloudflared process: one at a time, killed (whole process group) on stop, on shutdown, and with the
    server however it ends. ``host`` is the loopback address the server answers on, which cloudflared forwards to."""

    def __init__(self, port: int, executable: str | None = None, host: str = "127.0.0.1") -> None:
        self._origin = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._executable = executable
        self._proc: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._lifeline: int | None = None  # the write end of the guard's pipe: only this process holds it
        self._url: str | None = None
        self._abandoned = False  # stop() ended a start that was still waiting for its URL
        self._lock = asyncio.Lock()

    @property
    def state(self) -> TunnelState:
        if self._proc is None or self._proc.returncode is not None:
            return TunnelState.STOPPED
        return TunnelState.RUNNING if self._url else TunnelState.STARTING

    @property
    def url(self) -> str | None:
        """The public URL while cloudflared runs and has reported it; None otherwise."""
        return self._url if self.state is TunnelState.RUNNING else None

    @property
    def host(self) -> str | None:
        url = self.url
        return url.removeprefix("https://") if url else None

    async def start(self) -> tuple[str, bool]:
        """The public URL, and whether it was already running."""
        async with self._lock:
            if (url := self.url) is not None:
                return url, True
            await self._stop_locked()  # what is left of an earlier one (its group's survivors, its watcher)
            exe = self._executable or shutil.which("cloudflared")
            if exe is None:
                raise NotAvailableError(INSTALL_HINT)
            self._abandoned = False
            proc = await self._spawn([exe, "tunnel", "--no-autoupdate", "--url", self._origin])
            found: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._watcher = asyncio.create_task(self._watch(proc, found))
            try:
                async with asyncio.timeout(START_TIMEOUT):
                    url = await found
            except TimeoutError:
                await self._stop_locked()
                raise TunnelError(f"cloudflared did not report a public URL within {START_TIMEOUT:.0f} s") from None
            except TunnelError:
                await self._stop_locked()
                if self._abandoned:
                    raise TunnelError("the tunnel was stopped before cloudflared reported its URL") from None
                raise
            self._url = url
            log.info("remote access tunnel running at %s", url)
            return url, False

    async def _spawn(self, argv: list[str]) -> asyncio.subprocess.Process:
        pipe = os.pipe() if _guarded() else None
        command = argv if pipe is None else [sys.executable, "-I", "-S", guard.__file__, str(pipe[0]), *argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                pass_fds=() if pipe is None else (pipe[0],),
            )
        except OSError as exc:
            if pipe is not None:
                os.close(pipe[1])
            raise TunnelError(f"cloudflared ({argv[0]}) could not be started: {exc.strerror or exc}") from None
        finally:
            if pipe is not None:
                os.close(pipe[0])
        self._proc = proc
        self._lifeline = None if pipe is None else pipe[1]
        return proc

    async def _watch(self, proc: asyncio.subprocess.Process, found: asyncio.Future[str]) -> None:
        """Reads cloudflared's output for its URL, and notices its exit. The exit is the process's, not the end of
        its output: a child of cloudflared may hold the pipe open long after it ended."""
        tail: list[str] = []
        reader = asyncio.create_task(self._read(proc, found, tail))
        try:
            await proc.wait()
        finally:
            _kill_group(proc.pid, signal.SIGKILL)  # whatever it started and left behind, holding the pipe or not
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), 1.0)  # its last lines, now that the pipe closes
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if not found.done():
            output = " | ".join(line.removeprefix(guard.EXEC_FAILED_MARKER) for line in tail)
            found.set_exception(TunnelError(f"cloudflared exited ({proc.returncode}): {output[-300:]}"))
        elif self._proc is proc and self._url:  # an earlier process's end must not touch its successor
            log.warning("remote access tunnel stopped (cloudflared exited with %s)", proc.returncode)
            self._url = None

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process, found: asyncio.Future[str], tail: list[str]) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # a line past the stream's limit: its bytes are dropped, and reading goes on
                continue
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip()
            tail[:] = [*tail[-9:], line]
            log.debug("cloudflared: %s", line)
            match = URL_PATTERN.search(line)
            if match and not found.done():
                found.set_result(match.group(0))

    async def stop(self) -> bool:
        """Stops cloudflared; whether one was running. A start still waiting for its URL is ended too (it fails)
        rather than waited for."""
        proc = self._proc
        starting = proc is not None and proc.returncode is None and self._url is None
        if starting:
            assert proc is not None
            self._abandoned = True
            _kill_group(proc.pid, signal.SIGTERM)
        async with self._lock:
            return await self._stop_locked() or starting

    async def _stop_locked(self) -> bool:
        proc, self._proc = self._proc, None
        watcher, self._watcher = self._watcher, None
        lifeline, self._lifeline = self._lifeline, None
        self._url = None
        if proc is None:
            return False
        running = proc.returncode is None
        if running:
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
            except TimeoutError:
                pass
        _kill_group(proc.pid, signal.SIGKILL)
        if lifeline is not None:
            os.close(lifeline)
        if watcher is not None:
            with contextlib.suppress(asyncio.CancelledError, TunnelError):
                await watcher
        return running


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
