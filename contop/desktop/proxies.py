"""Supervision of the subscription proxies (``contop proxy PROVIDER``): start, stop, health, watchdog, backoff.

Plain Python with one watchdog thread per proxy, so it is tested with a fake proxy program and works unchanged
once the real proxy lands. The Qt page only reads ``status`` and calls ``start``/``stop``.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contop.desktop.sidecar import HealthProbe, kill_tree, prepare_log

log = logging.getLogger(__name__)

DEFAULT_PORTS: dict[str, int] = {"anthropic": 3456, "gemini": 3457, "openai": 3458}
PROVIDER_LABELS: dict[str, str] = {"anthropic": "Anthropic", "gemini": "Gemini", "openai": "OpenAI"}
CLI_NAMES: dict[str, str] = {"anthropic": "Claude Code", "gemini": "Gemini CLI", "openai": "Codex CLI"}


class ProxyStatus(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    # Crashed or not answering (the watchdog is bringing it back), or answering but unable to work (``problem``).
    DEGRADED = "degraded"


CommandFactory = Callable[[str, int], list[str]]


def proxy_command_factory(home: Path | None = None) -> CommandFactory | None:
    """How to run the proxy in this build, or None when it is not installed here. ``home`` is the desktop's state
    directory: the proxies keep their call logs there, next to the server's."""
    if importlib.util.find_spec("contop.cli.proxy") is not None:
        where = ["--home", str(home)] if home is not None else []
        # Through the lifeline entry point: the proxy stops when the app's end of its stdin closes, however the
        # app ends, and keeps no port after an app killed outright.
        return lambda provider, port: [
            *(sys.executable, "-m", "contop.desktop.lifeline", "proxy", provider, "--port", str(port)),
            *where,
        ]
    if importlib.util.find_spec("contop.proxy.__main__") is not None:
        return lambda provider, port: [sys.executable, "-m", "contop.proxy", provider, "--port", str(port)]
    return None


def proxy_url(port: int) -> str:
    """What ``provider_auth.<provider>.proxy_url`` holds for a proxy this app runs on ``port``."""
    return f"http://127.0.0.1:{port}"


def local_port(url: str) -> int | None:
    """The port of a ``proxy_url`` on this computer, or None (empty, or a proxy elsewhere)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    return port if parts.hostname in ("127.0.0.1", "localhost", "::1") else None


def port_in_use(port: int) -> bool:
    """Whether some program already accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cli_problem(provider: str, health: Any) -> str:
    """What a proxy's ``/health`` body says keeps it from working ("" when nothing, or when it does not say)."""
    if not isinstance(health, dict) or health.get("cli_installed") is not False:
        return ""
    install, login = health.get("install"), health.get("login")
    how = f"install it with `{install}`" if isinstance(install, str) and install else "see the proxy's log"
    if isinstance(login, str) and login:
        how += f", then run `{login}` once to log in"
    return f"Running, but {CLI_NAMES.get(provider, provider)} is not installed: {how}"


# "contop proxy: error: cannot listen on 127.0.0.1:3456: already in use", "OSError: [Errno 98] …"
_ERROR_LINE = re.compile(r"error:\s*(\S.*)$", re.IGNORECASE)
MAX_REASON_CHARS = 300


def exit_reason(output: str) -> str:
    """Why a proxy exited, from what it printed in this run: its last error line ("" when there is none)."""
    for line in reversed(output.splitlines()):
        match = _ERROR_LINE.search(line.strip())
        if match:
            return match.group(1)[:MAX_REASON_CHARS]
    return ""


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before restart number ``attempt`` (1, 2, …): doubling from ``base``, at most ``cap``."""
    if attempt <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (attempt - 1)))


@dataclass
class WatchdogTiming:
    health_interval: float = 2.0
    start_timeout: float = 20.0
    stable_after: float = 30.0  # running this long resets the backoff
    failed_checks_for_degraded: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 30.0


class ProxySupervisor:
    """One provider's proxy. ``start`` launches it and a watchdog; ``stop`` (the user's) ends both for good."""

    def __init__(
        self,
        provider: str,
        port: int,
        log_path: Path,
        command: CommandFactory,
        timing: WatchdogTiming | None = None,
    ) -> None:
        self.provider = provider
        self.port = port
        self.log_path = log_path
        self.command = command
        self.timing = timing or WatchdogTiming()
        self.restarts = 0
        self.last_error = ""
        self.problem = ""  # set while it answers /health but says it cannot work (its CLI is missing)
        self._status = ProxyStatus.STOPPED
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lifeline: int | None = None  # the write end of the proxy's stdin: closed, the proxy stops
        self._log_start = 0  # where this run's output begins in the log file
        self._health = HealthProbe()  # used by the watchdog thread only, closed when it ends

    @property
    def status(self) -> ProxyStatus:
        return self._status

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc and proc.poll() is None else None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self.restarts = 0
            self.last_error = ""
            self.problem = ""
            self._status = ProxyStatus.STARTING
            self._thread = threading.Thread(target=self._watch, name=f"proxy-{self.provider}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop for good: the watchdog will not bring it back."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(15)
        self._kill()
        self.problem = ""
        self._status = ProxyStatus.STOPPED

    # --- watchdog thread

    def _spawn(self) -> None:
        self.problem = ""
        prepare_log(self.log_path, what=f"{self.provider} proxy")
        with self.log_path.open("ab") as logfile:
            self._log_start = logfile.tell()
            # Like the server: a proxy must not outlive an app killed outright, or it keeps the port. Its stdin is
            # a pipe whose write end only this app holds (contop.desktop.lifeline stops the proxy at its end). Not
            # PR_SET_PDEATHSIG: that needs a preexec_fn, which can deadlock the child of a threaded process.
            read_end, write_end = os.pipe()
            os.set_inheritable(write_end, False)
            try:
                self._proc = subprocess.Popen(
                    self.command(self.provider, self.port),
                    stdin=read_end,
                    stdout=logfile,
                    stderr=subprocess.STDOUT,
                    start_new_session=sys.platform != "win32",
                )
            except BaseException:
                os.close(write_end)
                raise
            finally:
                os.close(read_end)
            self._lifeline = write_end

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_tree(proc, grace=2.0)
        lifeline, self._lifeline = self._lifeline, None
        if lifeline is not None:
            with contextlib.suppress(OSError):
                os.close(lifeline)

    def _healthy(self) -> bool:
        """Whether it answers /health; what the answer says about its CLI goes to ``problem``."""
        r = self._health.get(self.health_url, timeout=1.0)  # local: never through an HTTP_PROXY (HealthProbe)
        if r is None or r.status_code != 200:
            return False
        try:
            body = r.json()
        except ValueError:
            body = None
        self.problem = cli_problem(self.provider, body)
        return True

    def _up_status(self) -> ProxyStatus:
        return ProxyStatus.DEGRADED if self.problem else ProxyStatus.RUNNING

    def _output(self) -> str:
        """What the current run printed (its tail), for the reason it exited."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(max(self._log_start, fh.seek(0, 2) - 64 * 1024))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _wait_started(self) -> bool:
        deadline = time.monotonic() + self.timing.start_timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            if not self._alive():
                return False
            if self._healthy():
                return True
            self._stop.wait(0.1)
        return False

    def _watch(self) -> None:
        try:
            self._supervise()
        finally:
            self._health.close()

    def _supervise(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            if port_in_use(self.port):
                # Not ours: its /health would pass for our proxy's, and ours could only fail to listen, forever.
                self.last_error = (
                    f"port {self.port} is already used by another program (perhaps a proxy left running by an "
                    "earlier Contop): stop that program, or choose another port and press Start"
                )
                log.warning("proxy %s not started: %s", self.provider, self.last_error)
                self._status = ProxyStatus.STOPPED
                break
            try:
                self._spawn()
            except OSError as exc:
                self.last_error = f"cannot start: {exc}"
                log.warning("proxy %s: %s", self.provider, self.last_error)
            else:
                if self._wait_started():
                    self._status = self._up_status()
                    since = time.monotonic()
                    self._run_until_unhealthy()
                    if time.monotonic() - since >= self.timing.stable_after:
                        attempt = 0
                elif not self._stop.is_set():
                    self.last_error = "did not answer /health" if self._alive() else "exited during start"
            if self._stop.is_set():
                break
            code = self._proc.poll() if self._proc else None
            if code is not None:
                reason = exit_reason(self._output())
                self.last_error = f"exited with code {code}" + (f": {reason}" if reason else "")
            self._kill()
            self.problem = ""
            self._status = ProxyStatus.DEGRADED
            attempt += 1
            self.restarts += 1
            delay = backoff_delay(attempt, self.timing.backoff_base, self.timing.backoff_cap)
            log.warning("proxy %s %s; restart %d in %.1f s", self.provider, self.last_error, attempt, delay)
            if self._stop.wait(delay):
                break
            self._status = ProxyStatus.STARTING
        self._kill()

    def _run_until_unhealthy(self) -> None:
        failures = 0
        while not self._stop.wait(self.timing.health_interval):
            if not self._alive():
                return
            if self._healthy():
                failures = 0
                self._status = self._up_status()
                continue
            self.problem = ""
            failures += 1
            self._status = ProxyStatus.DEGRADED
            if failures >= self.timing.failed_checks_for_degraded:
                self.last_error = "stopped answering /health"
                return


class ProxyManager:
    """The three supervisors, or none of them when the proxy program is not part of this build."""

    def __init__(self, home: Path, command: CommandFactory | None, timing: WatchdogTiming | None = None) -> None:
        self.home = home
        self.command = command
        self.timing = timing
        self.supervisors: dict[str, ProxySupervisor] = {}
        if command is not None:
            for provider, port in DEFAULT_PORTS.items():
                self.supervisors[provider] = ProxySupervisor(
                    provider, port, home / f"proxy-{provider}.log", command, timing
                )

    @property
    def available(self) -> bool:
        return self.command is not None

    def stop_all(self) -> None:
        for sup in self.supervisors.values():
            with contextlib.suppress(Exception):
                sup.stop()
