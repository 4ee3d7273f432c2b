"""The leader of a CLI call's process group: it runs the CLI, and kills the whole group once the proxy is gone.

PR_SET_PDEATHSIG only reaches the proxy's direct child, so the CLI's own children (node workers, MCP servers,
shells) would outlive a proxy killed by SIGKILL. The runner therefore starts this script as
``python -I -S lifeline.py FD CLI ARGS...`` in a new process group, with FD the read end of a pipe whose write end
only the proxy holds. However the proxy ends, the kernel closes that write end; the read here then sees end of
file, and the group (the CLI, its children, this guard) is killed. The CLI inherits stdin, stdout and stderr, and
its exit status is passed on as this process's own, so the runner sees what it would see running the CLI itself.

Standard library only, and no import of ``contop``: it runs with ``-I -S``, so it starts in some 20 ms.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from types import FrameType

EXEC_FAILED = 127  # the shell's "command not found"
EXEC_FAILED_MARKER = "contop-lifeline: cannot run "


def _ignore(_sig: int, _frame: FrameType | None) -> None:
    """The runner signals the whole group: the CLI gets its own SIGTERM, and this guard ends when the CLI does."""


def _watch(fd: int) -> None:
    """Blocks until the proxy's end of the pipe is closed, then kills the group, this process included."""
    try:
        while os.read(fd, 512):
            pass
    except OSError:
        pass
    os.killpg(0, signal.SIGKILL)


def _exit_like(status: int) -> None:
    """Ends this process as the CLI ended: the same exit code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        import resource

        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the CLI's crash may dump core; this copy of it must not
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL and SIGSTOP cannot be handled, and need not be reset
            pass
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # only if that signal does not end a process by default
    os._exit(os.waitstatus_to_exitcode(status))


def main(args: list[str]) -> None:
    lifeline, command = int(args[0]), args[1:]
    if os.getpgrp() != os.getpid():  # the group it would kill is its starter's: started wrongly, so do nothing
        sys.stderr.write("contop-lifeline: must lead a process group of its own\n")
        os._exit(2)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        # A handler, not SIG_IGN: handlers are reset by exec, so the CLI starts with the default dispositions.
        signal.signal(sig, _ignore)
    os.set_inheritable(lifeline, False)  # the CLI must not hold the pipe
    try:
        # Popen rather than posix_spawn: glibc's leaves its internal signals ignored in the CLI, and Popen puts
        # SIGPIPE and SIGXFSZ, which Python ignores, back at their defaults.
        cli = subprocess.Popen(command)
    except OSError as exc:
        sys.stderr.write(f"{EXEC_FAILED_MARKER}{command[0]}: {exc.strerror}\n")
        os._exit(EXEC_FAILED)
    # The CLI alone holds its stdin and stdout now: their ends are seen closed when the CLI closes them.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    threading.Thread(target=_watch, args=(lifeline,), daemon=True).start()
    _, status = os.waitpid(cli.pid, 0)
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
