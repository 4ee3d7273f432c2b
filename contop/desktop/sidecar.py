"""The server as the desktop app's sidecar: start ``contop serve`` in its own process group, watch it, kill its tree.

Plain Python (no Qt): the argv, the state machine and the process handling are tested on their own. ``Sidecar``
methods that wait (``wait_healthy``, ``stop``) are meant for a worker thread; ``start`` must run on the thread that
lives as long as the app (the GUI thread), because Linux's parent-death signal fires when the *thread* that forked
the child exits.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from contop.core.processes import die_with_parent
from contop.server.statedir import ServerInfo, StateDir, running_server

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 2.0
MAX_LOG_BYTES = 5 * 1024 * 1024
_SERVING = re.compile(rb"serving on (\S+):(\d+)")


class ParentDeath(enum.Flag):
    """How the server learns that the app died without stopping it (crash, SIGKILL)."""

    NONE = 0
    PDEATHSIG = enum.auto()  # Linux prctl(PR_SET_PDEATHSIG) set in the child before exec
    PIPE = enum.auto()  # the child watches a pipe from the app and stops on EOF (contop.desktop.lifeline)

    @classmethod
    def default(cls) -> ParentDeath:
        # The pipe alone: PDEATHSIG needs Python code between fork and exec (a preexec_fn), and in this app, which
        # runs threads, CPython 3.11 can deadlock the child there for good (seen in CI: a child stuck in
        # PyOS_AfterFork_Child on a lock another thread held at the fork). The pipe notices any death of the app.
        return cls.PIPE


class SidecarState(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    CRASHED = "crashed"


class SidecarEvent(enum.StrEnum):
    START = "start"
    HEALTHY = "healthy"
    EXITED = "exited"  # the process ended without being asked to
    STOP = "stop"
    STOPPED = "stopped"


_TRANSITIONS: dict[tuple[SidecarState, SidecarEvent], SidecarState] = {
    (SidecarState.STOPPED, SidecarEvent.START): SidecarState.STARTING,
    (SidecarState.CRASHED, SidecarEvent.START): SidecarState.STARTING,
    (SidecarState.STARTING, SidecarEvent.HEALTHY): SidecarState.RUNNING,
    (SidecarState.STARTING, SidecarEvent.EXITED): SidecarState.CRASHED,
    (SidecarState.RUNNING, SidecarEvent.EXITED): SidecarState.CRASHED,
    (SidecarState.STARTING, SidecarEvent.STOP): SidecarState.STOPPING,
    (SidecarState.RUNNING, SidecarEvent.STOP): SidecarState.STOPPING,
    (SidecarState.CRASHED, SidecarEvent.STOP): SidecarState.STOPPING,
    (SidecarState.STOPPED, SidecarEvent.STOP): SidecarState.STOPPED,
    (SidecarState.STOPPING, SidecarEvent.STOPPED): SidecarState.STOPPED,
    (SidecarState.STOPPING, SidecarEvent.EXITED): SidecarState.STOPPED,
    (SidecarState.STOPPING, SidecarEvent.STOP): SidecarState.STOPPING,
}


class InvalidTransition(Exception):
    pass


def transition(state: SidecarState, event: SidecarEvent) -> SidecarState:
    """The state after ``event``; an event that makes no sense in ``state`` is a bug and raises."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"{event.value} while {state.value}") from None


@dataclass(frozen=True)
class SidecarConfig:
    home: Path
    port: int = 8000
    host: str | None = None  # None: the server's default (all interfaces, so phones on the LAN reach it)
    python: str = sys.executable
    parent_death: ParentDeath = ParentDeath.NONE

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / "server.log"


def serve_argv(config: SidecarConfig) -> list[str]:
    """The command line of the server process."""
    module = ["-m", "contop.desktop.lifeline"] if ParentDeath.PIPE in config.parent_death else ["-m", "contop"]
    argv = [config.python, *module, "serve", "--no-qr", "--home", str(config.home), "--port", str(config.port)]
    if config.host:
        argv += ["--host", config.host]
    return argv


def is_own_server(holder: ServerInfo | None, pid: int, port: int) -> bool:
    """Whether the server holding the state directory (``holder``, from its lock file) is the process ``pid``,
    bound to ``port``. Only then is what answers on that port the app's own server: anything else there (a stranger's
    program, the server of another app on the same state directory) would be shown as this app's server and sent
    the admin token. The lock file lives in the private (0700) state directory, so no other user can forge it.
    The server may also be the child of ``pid``: on Windows a venv's python.exe is a launcher that runs the real
    interpreter as its child.
    """
    return holder is not None and pid in (holder.pid, holder.parent) and holder.port == port


def prepare_log(path: Path, max_bytes: int = MAX_LOG_BYTES, what: str = "server") -> None:
    """Keep one previous generation when the log grew large, then mark where this run starts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    with path.open("ab") as fh:
        fh.write(f"\n----- contop desktop: {what} starting at {stamp} -----\n".encode())


class HealthProbe:
    """Asks a local ``/health`` again and again over one HTTP client, made at the first request and kept until
    ``close``. A one-off ``httpx.get`` builds a client and its SSL context at every call (about 17 ms of CPU, against
    under 1 ms over a kept client): with the server asked every second and each proxy every two, that was most of
    what the idle app spent. Thread-safe, as httpx.Client is; a request after ``close`` makes a new client."""

    def __init__(self) -> None:
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self, url: str, timeout: float) -> httpx.Response | None:
        """The answer, or None when there is none (refused, timed out, or the probe closed meanwhile)."""
        with self._lock:
            if self._client is None:
                # trust_env=False: an HTTP_PROXY from the environment would be asked instead, and the local program
                # never seen.
                self._client = httpx.Client(trust_env=False)
            client = self._client
        try:
            return client.get(url, timeout=timeout)
        except (httpx.HTTPError, RuntimeError):  # RuntimeError: closed by another thread since it was taken
            return None

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> HealthProbe:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _new_group_kwargs() -> dict[str, Any]:
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


class Sidecar:
    """One server process at a time. Not thread-safe: one owner calls start/stop; ``poll`` is cheap."""

    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.state = SidecarState.STOPPED
        self.port = config.port
        self.proc: subprocess.Popen[bytes] | None = None
        self._pipe_w: int | None = None
        self._log_offset = 0
        self._health = HealthProbe()  # for ``answers``, asked every second while the server runs

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc else None

    def _fire(self, event: SidecarEvent) -> None:
        self.state = transition(self.state, event)

    def start(self) -> None:
        self._fire(SidecarEvent.START)
        cfg = self.config
        prepare_log(cfg.log_path)
        self._log_offset = cfg.log_path.stat().st_size
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        kwargs: dict[str, Any] = _new_group_kwargs()
        stdin: int = subprocess.DEVNULL
        if ParentDeath.PIPE in cfg.parent_death:
            read_end, self._pipe_w = os.pipe()
            os.set_inheritable(self._pipe_w, False)
            stdin = read_end
        if ParentDeath.PDEATHSIG in cfg.parent_death and sys.platform.startswith("linux"):
            # With the pipe also watching, SIGTERM lets the server shut down gracefully (the pipe escalates).
            sig = signal.SIGTERM if ParentDeath.PIPE in cfg.parent_death else signal.SIGKILL
            kwargs["preexec_fn"] = die_with_parent(sig)
        try:
            with cfg.log_path.open("ab") as logfile:
                self.proc = subprocess.Popen(
                    serve_argv(cfg), stdin=stdin, stdout=logfile, stderr=subprocess.STDOUT, env=env, **kwargs
                )
        except OSError:
            self._close_pipe()
            self.state = SidecarState.CRASHED
            raise
        finally:
            if stdin != subprocess.DEVNULL:
                os.close(stdin)
        log.info("server started, pid %d", self.proc.pid)

    def _close_pipe(self) -> None:
        if self._pipe_w is not None:
            with contextlib.suppress(OSError):
                os.close(self._pipe_w)
            self._pipe_w = None

    def log_since_start(self) -> bytes:
        try:
            with self.config.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                return fh.read()
        except FileNotFoundError:
            return b""

    def wait_healthy(self, timeout: float = 30.0) -> bool:
        """Block until this sidecar's own process holds the state directory, is bound to the port and answers
        ``/health`` (True), or the process dies or the time runs out (False). A 200 from the port alone proves
        nothing: see ``is_own_server``."""
        with HealthProbe() as probe:
            return self._wait_healthy(probe, timeout)

    def _wait_healthy(self, probe: HealthProbe, timeout: float) -> bool:
        state_dir = StateDir(self.config.home)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.proc
            if proc is None or proc.poll() is not None:
                return False
            port = self.config.port
            if port == 0:
                match = _SERVING.search(self.log_since_start())
                if not match:
                    time.sleep(0.1)
                    continue
                port = int(match.group(2))
            if not is_own_server(running_server(state_dir), proc.pid, port):
                time.sleep(0.1)  # not bound yet (it says so once it is), or it never will be: it then exits
                continue
            self.port = port
            answer = probe.get(f"http://127.0.0.1:{port}/health", timeout=1)
            answered = answer is not None and answer.status_code == 200
            # While it lives it keeps the port, so nothing else can have answered in its place.
            if answered and proc.poll() is None:
                return True
            time.sleep(0.1)
        return False

    def not_serving(self) -> str | None:
        """Why the admin API must not be asked now, or None when this sidecar's own server lives and holds
        ``self.port`` (its lock file says so). Safe from any thread: it changes no state. Anything else on the port
        (a program that took it while the server was down, or held it from the start) must not get the token."""
        proc = self.proc
        if proc is None or self.state not in (SidecarState.STARTING, SidecarState.RUNNING) or proc.poll() is not None:
            return "the server is not running; use 'Restart server' at the top of the window"
        if not is_own_server(running_server(StateDir(self.config.home)), proc.pid, self.port):
            return (
                f"the server is not running (not yet, or another program holds port {self.port}); "
                "nothing was sent to that port"
            )
        return None

    def answers(self, timeout: float) -> bool:
        """Whether the server answers ``/health`` within ``timeout`` seconds (blocking: for a worker). Nothing secret
        is sent, so no check of who holds the port is needed; a process that died is noticed by ``poll``."""
        answer = self._health.get(f"http://127.0.0.1:{self.port}/health", timeout)
        return answer is not None and answer.status_code == 200

    def mark_healthy(self) -> None:
        self._fire(SidecarEvent.HEALTHY)

    def poll(self) -> bool:
        """True while the process lives; notices an unexpected exit (state becomes CRASHED)."""
        proc = self.proc
        if proc is None or proc.poll() is None:
            return proc is not None
        if self.state in (SidecarState.STARTING, SidecarState.RUNNING):
            log.warning("server exited unexpectedly with %s", proc.returncode)
            self._fire(SidecarEvent.EXITED)
            self._close_pipe()
        return False

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop the server and everything in its process group; idempotent."""
        self._fire(SidecarEvent.STOP)
        proc = self.proc
        if proc is not None:
            kill_tree(proc, grace)
        self._close_pipe()
        self._health.close()  # its kept connection was to this process; a next one gets a new client
        if self.state is SidecarState.STOPPING:
            self._fire(SidecarEvent.STOPPED)


def kill_tree(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM to the process group, ``grace`` seconds, then SIGKILL (Windows: ``taskkill /F /T``)."""
    if sys.platform == "win32":
        if proc.poll() is None:
            subprocess.run(
                ["taskkill", "/F", "/T", "/PID", str(proc.pid)],
                capture_output=True,
                check=False,
            )
        proc.wait(10)
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid  # already reaped or gone: its group id was its pid (own session)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    # Members of the group may outlive the leader: always finish the group off.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
