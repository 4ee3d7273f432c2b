"""Running a provider CLI once per request: pacing, a bounded queue, and a process group of its own that is killed
as a whole on a timeout, a client gone, a stop, or the proxy's own death (see ``contop.proxy.lifeline``).

Failures come out as ``ProxyError`` carrying the HTTP status and the OpenAI-style error fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from contop.core.processes import die_with_parent
from contop.proxy import lifeline as guard
from contop.proxy.providers import CliReply, CliSpec, classify_failure, cli_argv, parse_output

log = logging.getLogger(__name__)

KILL_GRACE_S = 1.0  # the desktop app SIGKILLs a proxy 2 s after its SIGTERM: the CLIs must be gone by then
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
REAP_S = 2.0  # how long a SIGKILLed group's leader may take to be reaped (a process in the kernel's D state)


class ProxyError(Exception):
    def __init__(self, status: int, message: str, type_: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}


@dataclass
class Limits:
    timeout_s: float = 300.0
    max_concurrent: int = 2
    max_queue: int = 8
    min_interval_s: float = 0.5  # between two spawns, so bursts do not trip the provider's abuse limits


@dataclass(slots=True)
class RunOutcome:
    reply: CliReply
    exit_code: int
    duration_s: float


class Pacer:
    """At least ``interval`` seconds between two starts."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            delay = self._next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = time.monotonic() + self._interval


class Gate:
    """At most ``concurrent`` runs; at most ``queue`` more waiting; beyond that, refused at once (429)."""

    def __init__(self, concurrent: int, queue: int) -> None:
        self._sem = asyncio.Semaphore(concurrent)
        self._capacity = concurrent + queue
        self._inside = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._inside >= self._capacity:
            raise ProxyError(
                429,
                "too many requests are waiting for the CLI; retry shortly",
                "rate_limit_error",
                "proxy_queue_full",
            )
        self._inside += 1
        try:
            async with self._sem:
                yield
        finally:
            self._inside -= 1


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the group, then SIGKILL after a grace period; the group is killed even if the leader left, and
    even if this wait is cancelled too (a stopping proxy cancels what is left, and asyncio.run does again)."""
    pgid = proc.pid
    _kill_group(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
    except TimeoutError:
        pass
    finally:
        _kill_group(pgid, signal.SIGKILL)
        await _reap(proc)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Waits for the exit of a process sent SIGKILL, through any cancel, then passes a cancel on. Left unawaited,
    its exit could arrive after the loop closed: asyncio would take the dead process for one still running."""
    cancelled = False
    deadline = time.monotonic() + REAP_S
    while proc.returncode is None and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), max(deadline - time.monotonic(), 0))
        except asyncio.CancelledError:
            cancelled = True
        except (TimeoutError, ProcessLookupError):
            break
    if cancelled:
        raise asyncio.CancelledError


def _guarded() -> bool:
    """Whether CLIs run under the lifeline guard: it needs POSIX pipes and process groups, and a Python to run it."""
    return os.name == "posix" and bool(sys.executable)


async def _start(argv: list[str], lifeline: tuple[int, int] | None) -> asyncio.subprocess.Process:
    """The CLI in a process group of its own, killed as a whole. With a lifeline, the group's leader is the guard
    that kills it when the proxy dies; without one, only the CLI itself dies with the proxy (PR_SET_PDEATHSIG)."""
    command = argv
    if lifeline is not None:
        command = [sys.executable, "-I", "-S", guard.__file__, str(lifeline[0]), *argv]
    return await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=die_with_parent(signal.SIGKILL) if lifeline is None else None,
        pass_fds=() if lifeline is None else (lifeline[0],),
        env={**os.environ, "NO_COLOR": "1", "CI": "1"},
    )


def _detail(text: str) -> str:
    """A CLI's message on one line, cut to a size an error message can carry."""
    flat = " ".join(text.split())
    return flat if len(flat) <= 500 else flat[:500] + "…"


def _stopping() -> ProxyError:
    return ProxyError(503, "the proxy is stopping; retry once it runs again", "service_unavailable", "proxy_stopping")


class CliRunner:
    def __init__(self, spec: CliSpec, limits: Limits, executable: str | None = None) -> None:
        self.spec = spec
        self.limits = limits
        self._executable = executable
        self.gate = Gate(limits.max_concurrent, limits.max_queue)
        self.pacer = Pacer(limits.min_interval_s)
        self._calls: set[asyncio.Task[RunOutcome]] = set()
        self._closed = False

    def executable(self) -> str | None:
        """The CLI's path, looked up on each call so installing it needs no proxy restart."""
        return shutil.which(self._executable or self.spec.executable)

    def missing(self) -> ProxyError:
        return ProxyError(503, self.missing_message(), "service_unavailable", "cli_not_installed")

    def missing_message(self) -> str:
        """Why the CLI cannot be run and what to do: the configured path is named when one was given."""
        install = f"install it with `{self.spec.install}`, then run `{self.spec.login}` once to log in"
        configured = self._executable
        if not configured:
            return f"{self.spec.label} (`{self.spec.executable}`) is not installed or not on PATH: {install}"
        if os.sep not in configured and not (os.altsep and os.altsep in configured):
            return f"{self.spec.label}: the configured CLI `{configured}` (--cli) is not on PATH: {install}"
        if os.path.isdir(configured) or (os.path.exists(configured) and not os.access(configured, os.X_OK)):
            why = "is not an executable file"
        else:
            why = "does not exist"
        return f"{self.spec.label}: the configured CLI path `{configured}` (--cli) {why}: fix the path, or {install}"

    def start(self, prompt: str, model: str | None) -> asyncio.Task[RunOutcome]:
        """One CLI call, queued for a slot, as a task the runner owns. Cancelling it gives up its place in the
        queue, or kills the CLI's process group, and frees the slot."""
        if self._closed:
            raise _stopping()
        call = asyncio.create_task(self._run(prompt, model))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        return call

    async def aclose(self) -> None:
        """The proxy is stopping: refuse new calls, end those queued or running (each CLI killed) with 503."""
        self._closed = True
        calls = list(self._calls)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    async def _run(self, prompt: str, model: str | None) -> RunOutcome:
        try:
            async with self.gate.slot():
                await self.pacer.wait()
                return await self._spawn(prompt, model)
        except asyncio.CancelledError:
            if self._closed:  # cancelled by aclose, whose callers' clients still wait for an answer
                raise _stopping() from None
            raise

    async def _spawn(self, prompt: str, model: str | None) -> RunOutcome:
        exe = self.executable()
        if exe is None:
            raise self.missing()
        argv = cli_argv(self.spec, exe, model)
        started = time.monotonic()
        lifeline = os.pipe() if _guarded() else None  # the proxy holds the write end until the call is over
        try:
            try:
                proc = await _start(argv, lifeline)
            except (FileNotFoundError, PermissionError) as exc:
                raise self.missing() from exc
            finally:
                if lifeline is not None:
                    os.close(lifeline[0])  # the guard's end
            try:
                out, err = await asyncio.wait_for(proc.communicate(prompt.encode()), self.limits.timeout_s)
            except TimeoutError:
                await _terminate(proc)
                raise ProxyError(
                    504,
                    f"{self.spec.label} did not answer within {self.limits.timeout_s:g} s; it was stopped",
                    "timeout_error",
                    "cli_timeout",
                ) from None
            except BaseException:
                await _terminate(proc)  # client gone or server stopping: no orphan CLI keeps running
                raise
            _kill_group(proc.pid, signal.SIGKILL)  # anything the CLI left behind in its group
        finally:
            if lifeline is not None:
                os.close(lifeline[1])  # the group is dead by now: the guard has nothing left to kill
        duration = time.monotonic() - started
        code = proc.returncode if proc.returncode is not None else -1
        reply = parse_output(self.spec.provider, out[:MAX_OUTPUT_BYTES].decode("utf-8", "replace"))
        stderr = err[-8000:].decode("utf-8", "replace").strip()
        if lifeline is not None and code == guard.EXEC_FAILED and stderr.startswith(guard.EXEC_FAILED_MARKER):
            raise self.missing()  # the guard could not start the CLI: what Popen would have raised
        if code != 0 or reply.error:
            raise self._failure(code, reply.error or stderr or reply.text)
        if not reply.text.strip():
            # Tool calls are read from the text, so there are none either. A 200 with nothing in it would only be
            # asked again and again by the agent; the CLI's stderr usually says why it answered nothing.
            raise self._empty(code, stderr)
        return RunOutcome(reply, code, duration)

    def _empty(self, code: int, stderr: str) -> ProxyError:
        said = f": {_detail(stderr)}" if stderr else ", and printed nothing on stderr"
        return ProxyError(
            502,
            f"{self.spec.label} gave an empty answer (exit status {code}){said}",
            "upstream_error",
            "cli_empty_reply",
        )

    def _failure(self, code: int, text: str) -> ProxyError:
        detail = _detail(text) or f"exit status {code}"
        kind = classify_failure(text)
        if kind == "auth":
            return ProxyError(
                401,
                f"{self.spec.label} is not logged in: run `{self.spec.login}` once to log in "
                f"with your subscription ({detail})",
                "authentication_error",
                "cli_not_logged_in",
            )
        if kind == "rate_limit":
            return ProxyError(
                429,
                f"{self.spec.label} hit the subscription's rate limit: {detail}",
                "rate_limit_error",
                "cli_rate_limit",
            )
        return ProxyError(
            502, f"{self.spec.label} failed (exit status {code}): {detail}", "upstream_error", "cli_error"
        )
