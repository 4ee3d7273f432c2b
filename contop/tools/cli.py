"""``execute_cli``: run a shell command for the agent, plus the process runner the sandbox backends share.

The runner starts the command in its own process group (session), reads stdout/stderr without blocking the
event loop, caps what it keeps, notices a command stuck on an interactive prompt, and kills the whole group on
timeout or cancellation. On an X display it also notices a GUI app the command started and returns, leaving the
app running, once the app's window is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from contop.core.childenv import child_env
from contop.tools.context import ToolContext
from contop.tools.reaper import REAPER, group_members
from contop.tools.reaper import stat_fields as _stat_fields

if TYPE_CHECKING:
    from contop.platform.linux.launched import OpenedWindow, WindowWatch

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0
MIN_TIMEOUT_S = 0.1
MAX_OUTPUT_BYTES = 50 * 1024
STALL_SECONDS = 5.0
KILL_GRACE_S = 0.5
# After the shell exits, background children may still hold the output pipes; we stop waiting after this.
DRAIN_AFTER_EXIT_S = 0.3
# Once a process of the command shows a window, we wait this long more (for its first output, or a quick exit).
GUI_GRACE_S = 1.0

ShellKind = Literal["bash", "git-bash", "cmd"]

_PROMPT_TAIL = re.compile(
    r"(\?\s*$|:\s*$|\[y/n\]\s*$|\(y/n\)\s*$|\(yes/no(/\[fingerprint\])?\)\??\s*$|password\s*:?\s*$|"
    r"passphrase\s*:?\s*$|press (any key|enter)|continue\?\s*$|>\s*$)",
    re.IGNORECASE,
)
_NO_TTY = re.compile(
    r"(no tty present|not a tty|inappropriate ioctl for device|/dev/tty|a terminal is required|"
    r"could not read (username|password)|terminal prompts disabled)",
    re.IGNORECASE,
)


@dataclass(slots=True)
class _Capture:
    """Keeps the first ``limit`` bytes of a stream and counts what was dropped."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def feed(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(slots=True)
class ProcessResult:
    """What a finished (or killed) command produced."""

    stdout: str
    stderr: str
    exit_code: int | None
    duration_ms: int
    timed_out: bool
    truncated: bool
    interactive_prompt_detected: bool
    notes: list[str]
    # Set when the command was left running because it showed a window (exit_code is then None).
    window: OpenedWindow | None = None
    # The command's directory when it was left running (its shell has not said where it ended yet); Linux only.
    cwd_when_left: str | None = None


@dataclass(frozen=True, slots=True)
class ShellChoice:
    kind: ShellKind
    executable: str


def choose_shell(
    *, windows: bool, which: Callable[[str], str | None] = shutil.which, env: Mapping[str, str] | None = None
) -> ShellChoice:
    """Pick the shell that runs a command: bash on POSIX; on Windows Git Bash when installed, otherwise cmd.

    Pure apart from the ``which`` lookup, which tests replace.
    """
    if not windows:
        return ShellChoice("bash", which("bash") or "/bin/sh")
    variables = env if env is not None else {}
    candidates = []
    for var in ("ProgramFiles", "ProgramW6432", "ProgramFiles(x86)", "LOCALAPPDATA"):
        base = variables.get(var)
        if base:
            sub = "Programs\\Git" if var == "LOCALAPPDATA" else "Git"
            candidates.append(f"{base}\\{sub}\\bin\\bash.exe")
    for path in candidates:
        if which(path):
            return ShellChoice("git-bash", path)
    found = which("bash.exe") or which("bash")
    # C:\Windows\System32\bash.exe is the WSL launcher, not Git Bash: it would run in another OS.
    if found and "system32" not in found.lower():
        return ShellChoice("git-bash", found)
    return ShellChoice("cmd", variables.get("COMSPEC") or "cmd.exe")


def shell_argv(shell: ShellChoice, command: str, pwd_file: str | None) -> list[str]:
    """The argv that runs ``command`` and, when ``pwd_file`` is given, writes the final directory there."""
    if shell.kind == "cmd":
        script = command if pwd_file is None else f'{command} & cd > "{pwd_file}"'
        return [shell.executable, "/d", "/s", "/c", script]
    if pwd_file is None:
        return [shell.executable, "-c", command]
    pwd_cmd = "pwd -W" if shell.kind == "git-bash" else 'printf %s "$PWD"'
    # An EXIT trap also runs after an explicit ``exit`` in the command and keeps its exit status.
    trailer = f"trap '{pwd_cmd} > \"$__CONTOP_PWD_FILE\" 2>/dev/null' EXIT\n"
    return [shell.executable, "-c", trailer + command]


def looks_like_prompt(tail: str) -> bool:
    """True when the last output of a command reads like a question waiting for an answer."""
    last = tail.rstrip("\n").rsplit("\n", 1)[-1]
    return (bool(last.strip()) and bool(_PROMPT_TAIL.search(last))) or bool(_NO_TTY.search(tail))


# --- process group handling (POSIX) ---------------------------------------------------------------------------


def in_session(pid: int, sid: int) -> bool:
    """True when ``pid`` is a live process of session ``sid``: the command's whole tree, also the parts that moved
    to a process group of their own (only ``setsid`` leaves the session)."""
    fields = _stat_fields(pid)
    return len(fields) > 3 and fields[0] != b"Z" and int(fields[3]) == sid


def _group_alive(pgid: int) -> bool:
    if sys.platform.startswith("linux"):
        return bool(group_members(pgid, session=True))
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_tree(pgid: int, sig: int) -> None:
    """``sig`` to the command's process group and, on Linux, to the rest of its session (``group_members``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    if sys.platform.startswith("linux"):
        for pid in group_members(pgid, session=True):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


async def kill_group(pgid: int, proc: asyncio.subprocess.Process, grace: float = KILL_GRACE_S) -> None:
    """SIGTERM the command's whole tree (``_signal_tree``), wait ``grace`` seconds, then SIGKILL whatever is left.
    Only a process that called ``setsid`` escapes: it left the session, as a daemon does."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.to_thread(_signal_tree, pgid, signal.SIGTERM)
        deadline = loop.time() + grace
        while loop.time() < deadline:
            if proc.returncode is not None and not await asyncio.to_thread(_group_alive, pgid):
                return
            await asyncio.sleep(0.02)
    finally:
        # Runs even if we are cancelled again while waiting: nothing of the tree may outlive us.
        _signal_tree(pgid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Live processes below ``pid`` in the process tree, from /proc: also those in a session of their own (the
    sandbox's command runs in one) as long as their parents live."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            fields = _stat_fields(entry)
            if len(fields) > 1 and fields[0] != b"Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _blocked_on_stdin(pgid: int, stdin_inode: int) -> bool:
    """True when a process of the command sleeps in a read on our stdin pipe (what a prompt does)."""
    for pid in {*group_members(pgid), *descendants(pgid)}:
        try:
            if os.stat(f"/proc/{pid}/fd/0").st_ino != stdin_inode:
                continue
            with open(f"/proc/{pid}/wchan") as fh:
                wchan = fh.read()
        except OSError:
            continue
        if "pipe_read" in wchan or "pipe_wait" in wchan:
            return True
    return False


async def _pump_fd(fd: int, sink: Callable[[bytes], None]) -> None:
    """Read ``fd`` until EOF with the loop's reader callbacks, feeding ``sink``; closes ``fd``."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    try:
        while True:
            # One read per wake-up: a writer that never pauses (``yes``) must not starve the event loop.
            await ready.wait()
            ready.clear()
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return
            sink(chunk)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _window_watch(env: Mapping[str, str] | None, sid: int) -> WindowWatch | None:
    """A watch for windows of session ``sid`` on the display the command sees, or None (no X display here)."""
    if not sys.platform.startswith("linux"):
        return None
    display = (env if env is not None else os.environ).get("DISPLAY")
    if not display:
        return None
    try:
        from contop.platform.linux.launched import WindowWatch
    except ImportError:  # python-xlib missing: commands are waited for as usual
        return None
    return WindowWatch(display, lambda pid: in_session(pid, sid))


async def _keep_draining(fds: list[int]) -> None:
    """Hand read ends that processes we no longer wait for still write to over to ``cat``s of their own (in a new
    session, reparented to init at once, ending with the last writer): unread, a full pipe would block such an app,
    and a closed one would kill it with SIGPIPE at its next write. Closes ``fds``."""
    # Each pipe comes in as the shell's stdin and moves to fd 3: a background job's stdin is /dev/null unless
    # redirected, and dash takes only one-digit descriptors in redirections.
    script = "exec 3<&0 </dev/null; cat <&3 >/dev/null 2>&1 3<&- &"
    try:
        for fd in fds:
            os.set_blocking(fd, True)  # shared with our reader's descriptor, which was non-blocking
            drainer = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                script,
                stdin=fd,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            await drainer.wait()
    except OSError:
        logger.warning("cannot keep reading the output of background processes", exc_info=True)
    finally:
        for fd in fds:
            os.close(fd)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 - the deadline of the child process, not of an await
    max_output: int = MAX_OUTPUT_BYTES,
    stall_seconds: float = STALL_SECONDS,
    kill_grace: float = KILL_GRACE_S,
    watch_windows: bool = False,
) -> ProcessResult:
    """Run ``argv`` in a new session with piped stdio and return what it did. POSIX only.

    With ``watch_windows``, a process of the command that shows a top-level window on the X display of ``env``
    ends the wait ``GUI_GRACE_S`` later: the command is left running (``ProcessResult.window`` says which app).
    Cancelling the caller kills the process group and re-raises ``CancelledError``.
    """
    loop = asyncio.get_running_loop()
    out, err = _Capture(max_output), _Capture(max_output)
    last_output = loop.time()
    tail = bytearray()

    def sink_for(capture: _Capture) -> Callable[[bytes], None]:
        def sink(chunk: bytes) -> None:
            nonlocal last_output
            capture.feed(chunk)
            last_output = loop.time()
            tail.extend(chunk)
            del tail[:-512]

        return sink

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    stdin_inode = os.fstat(in_r).st_ino
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except BaseException:
        for fd in (out_r, err_r, in_w):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, in_r):
            os.close(fd)
    pgid = proc.pid  # start_new_session makes the child a session and group leader
    REAPER.watch(pgid)
    readers = [
        asyncio.create_task(_pump_fd(out_r, sink_for(out))),
        asyncio.create_task(_pump_fd(err_r, sink_for(err))),
    ]
    waiter = asyncio.create_task(proc.wait())
    watch = _window_watch(env, pgid) if watch_windows else None
    window: OpenedWindow | None = None
    detach_at: float | None = None
    detached = False
    kept_fds: list[int] = []
    cwd_when_left: str | None = None
    stdin_open = True
    timed_out = False
    prompt = False
    notes: list[str] = []
    deadline = loop.time() + timeout
    try:
        while not waiter.done():
            now = loop.time()
            if window is None and watch is not None and watch.found.done():
                window = watch.found.result()
                # Not past the deadline, but a window shown in time wins over it: the app was what the user wanted.
                detach_at = min(now + GUI_GRACE_S, deadline)
            if detach_at is not None and now >= detach_at:
                detached = True
                break
            if now >= deadline:
                timed_out = True
                break
            if stdin_open and now - last_output >= stall_seconds:
                tail_text = tail.decode("utf-8", errors="replace")
                if looks_like_prompt(tail_text) or await asyncio.to_thread(_blocked_on_stdin, pgid, stdin_inode):
                    prompt = True
                    notes.append(
                        f"The command waited for input (no output for {stall_seconds:g} s); stdin was closed. "
                        "Run it non-interactively (e.g. -y, --yes, --non-interactive) instead."
                    )
                os.close(in_w)
                stdin_open = False
            next_check = deadline if not stdin_open else min(deadline, last_output + stall_seconds)
            if detach_at is not None:
                next_check = min(next_check, detach_at)
            wake: set[asyncio.Future[Any]] = {waiter}
            if watch is not None and window is None:
                wake.add(watch.found)
            await asyncio.wait(wake, timeout=max(0.01, next_check - loop.time()), return_when=asyncio.FIRST_COMPLETED)
        if timed_out:
            await kill_group(pgid, proc, kill_grace)
            notes.append(f"Timed out after {timeout:g} s; the command and all its child processes were killed.")
        if detached and window is not None:
            cwd_when_left = _proc_cwd(proc.pid)
            notes.append(
                f"{window.app} opened a window (pid {window.pid}) and keeps running; its further output is not "
                "captured."
            )
        else:
            await asyncio.wait({waiter}, timeout=kill_grace + 1)
        _, pending = await asyncio.wait(readers, timeout=0 if detached else DRAIN_AFTER_EXIT_S)
        if pending and not timed_out and not detached:
            notes.append("Background processes still hold the output; their further output is not captured.")
        # Our readers close their ends when cancelled below; these copies go to whoever keeps reading.
        kept_fds = [os.dup(fd) for task, fd in zip(readers, (out_r, err_r), strict=True) if task in pending]
    except BaseException:
        # Cancellation (or anything unexpected): the group dies before the error goes up.
        await asyncio.shield(kill_group(pgid, proc, kill_grace))
        raise
    finally:
        if stdin_open:
            os.close(in_w)
        for task in [*readers, waiter]:
            task.cancel()
        if watch is not None:
            await watch.aclose()
        try:
            await asyncio.gather(*readers, waiter, return_exceptions=True)
        finally:
            REAPER.release(pgid)  # ended, killed, or left running an app it opened: ours no longer
        if kept_fds:
            await _keep_draining(kept_fds)
    if not prompt and _NO_TTY.search(err.data[-4096:].decode("utf-8", errors="replace")):
        # Failed at once because it wanted a terminal (sudo, git credentials): same advice as a stalled prompt.
        prompt = True
        notes.append(
            "The command needs a terminal for input, which commands here do not have; run it non-interactively."
        )
    truncated = False
    for name, capture in (("stdout", out), ("stderr", err)):
        if capture.dropped:
            truncated = True
            notes.append(f"{name} truncated: kept the first {capture.limit} bytes, dropped {capture.dropped} bytes.")
    return ProcessResult(
        stdout=out.text(),
        stderr=err.text(),
        exit_code=proc.returncode,
        duration_ms=int((time.monotonic() - started) * 1000),
        timed_out=timed_out,
        truncated=truncated,
        interactive_prompt_detected=prompt,
        notes=notes,
        window=window if detached else None,
        cwd_when_left=cwd_when_left,
    )


async def _run_process_windows(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str] | None,
    timeout: float,  # noqa: ASYNC109 - the child's deadline
    max_output: int,
) -> ProcessResult:  # pragma: no cover - exercised on Windows only
    """Windows variant: a new process group, pipes via asyncio, the tree killed with taskkill /T."""
    import subprocess

    started = time.monotonic()
    out, err = _Capture(max_output), _Capture(max_output)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )

    async def pump(stream: asyncio.StreamReader | None, capture: _Capture) -> None:
        while stream is not None and (chunk := await stream.read(65536)):
            capture.feed(chunk)

    readers = [asyncio.create_task(pump(proc.stdout, out)), asyncio.create_task(pump(proc.stderr, err))]
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        timed_out = True
    except BaseException:
        await _taskkill(proc.pid)
        raise
    finally:
        if timed_out:
            await _taskkill(proc.pid)
        await asyncio.wait(readers, timeout=DRAIN_AFTER_EXIT_S)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    notes = [f"{n} truncated: dropped {c.dropped} bytes." for n, c in (("stdout", out), ("stderr", err)) if c.dropped]
    return ProcessResult(
        out.text(), err.text(), proc.returncode, int((time.monotonic() - started) * 1000), timed_out,
        bool(out.dropped or err.dropped), False, notes,
    )  # fmt: skip


async def _taskkill(pid: int) -> None:  # pragma: no cover - Windows only
    killer = await asyncio.create_subprocess_exec(
        "taskkill", "/T", "/F", "/PID", str(pid), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await killer.wait()


def _proc_cwd(pid: int) -> str | None:
    """The working directory of a running process (``cd X && app`` left running: X), or None when unknown."""
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _read_cwd(pwd_file: str) -> str:
    """The directory the shell ended in, or "" when it was not written or no longer exists."""
    try:
        new_cwd = Path(pwd_file).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return new_cwd if new_cwd and os.path.isdir(new_cwd) else ""


def result_dict(result: ProcessResult, *, cwd: str, backend: str) -> dict[str, Any]:
    """The tool's return shape (seed fields plus ours) built from a ``ProcessResult``."""
    window = result.window
    ok = (result.exit_code == 0 or window is not None) and not result.timed_out
    if result.timed_out:
        voice = "The command timed out and was stopped."
    elif window is not None:
        voice = f"{window.app} opened a window and keeps running."
    elif result.interactive_prompt_detected:
        voice = "The command waited for input, so its input was closed."
    elif ok:
        voice = "Command completed successfully."
    else:
        voice = f"The command failed with exit code {result.exit_code}."
    out: dict[str, Any] = {
        "status": "success" if ok else "error",
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exit_code": result.exit_code,
        "duration_ms": result.duration_ms,
        "timed_out": result.timed_out,
        "truncated": result.truncated,
        "interactive_prompt_detected": result.interactive_prompt_detected,
        "cwd": cwd,
        "backend": backend,
        "voice_message": voice,
        "note": " ".join(result.notes),
    }
    if window is not None:
        out["window"] = {"id": window.window_id, "title": window.title, "pid": window.pid, "app": window.app}
    return out


def command_timeout(value: Any) -> tuple[float, str]:
    """The timeout a command really gets (0.1 to 600 s), and a note when it is not the one asked for."""
    try:
        asked = float(value)
    except (TypeError, ValueError):
        asked = math.nan
    if not math.isfinite(asked):
        return DEFAULT_TIMEOUT_S, f"The timeout {value!r} is not a number of seconds; {DEFAULT_TIMEOUT_S:g} s was used."
    used = min(max(asked, MIN_TIMEOUT_S), MAX_TIMEOUT_S)
    if used != asked:
        limit = "at least" if asked < MIN_TIMEOUT_S else "at most"
        return used, f"A timeout must be {limit} {used:g} s, so {used:g} s was used instead of {asked:g} s."
    return used, ""


async def execute_cli(
    ctx: ToolContext,
    command: str,
    timeout: float = DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 - a tool parameter the model sets
) -> dict[str, Any]:
    """Run a shell command on the host in the session's working directory.

    ``cd`` persists across calls. Output is capped at 50 KB per stream; a command waiting for input gets its
    input closed after 5 s without output; the command and all its children are killed at ``timeout`` seconds
    (default 30, at most 600). Use non-interactive flags (-y, --yes) and redirect the output of background jobs.
    A GUI app the command starts (``firefox``, ``xterm``) is left running: the call returns about a second after
    its window appears, with the output so far.
    """
    if not command.strip():
        return {"status": "error", "stdout": "", "stderr": "empty command", "exit_code": None, "duration_ms": 0,
                "timed_out": False, "truncated": False, "interactive_prompt_detected": False, "cwd": ctx.cwd,
                "backend": "host", "voice_message": "There was no command to run.", "note": ""}  # fmt: skip
    timeout, timeout_note = command_timeout(timeout)
    windows = sys.platform == "win32"
    shell = choose_shell(windows=windows, env=os.environ)
    cwd = ctx.cwd if await asyncio.to_thread(os.path.isdir, ctx.cwd) else ctx.home
    with tempfile.TemporaryDirectory(prefix="contop-cli-") as tmp:
        pwd_file = str(Path(tmp) / "pwd")
        env = child_env(os.environ)  # never the server's API keys, CONTOP_* or other secrets
        env["__CONTOP_PWD_FILE"] = pwd_file
        if windows:  # pragma: no cover - Windows only
            env["MSYS_NO_PATHCONV"] = "1"
            result = await _run_process_windows(
                shell_argv(shell, command, pwd_file), cwd=cwd, env=env, timeout=timeout, max_output=MAX_OUTPUT_BYTES
            )
        else:
            result = await run_process(
                shell_argv(shell, command, pwd_file), cwd=cwd, env=env, timeout=timeout, watch_windows=True
            )
        new_cwd = await asyncio.to_thread(_read_cwd, pwd_file)
    if not new_cwd and result.cwd_when_left and await asyncio.to_thread(os.path.isdir, result.cwd_when_left):
        new_cwd = result.cwd_when_left
    if new_cwd:
        ctx.cwd = new_cwd
    if timeout_note:
        result.notes.insert(0, timeout_note)
    return result_dict(result, cwd=ctx.cwd, backend="host")
