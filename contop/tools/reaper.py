"""Commands still running when their server dies are killed, by one helper process per server.

``run_process`` stops a command's whole session on a timeout, a cancel or a clean stop. A server killed outright
(SIGKILL, the OOM killer, a crash) runs no code at all, so without help what the agent started would go on alone,
with nobody watching or able to stop it. The helper, started once, is told through a pipe which sessions run
(``+PGID`` when one starts, ``-PGID`` once it is no longer waited for) and kills what is left of them when the
pipe ends: the kernel closes the server's end however the server ends. One helper for all commands rather than a
guard around each: the guard's Python would add some 20 ms to every command.

A command's processes are found by session (``group_members``): only a process that called ``setsid`` escapes.
A command that ended, or left an app running (a GUI app it opened), is unregistered first, and is never touched.

Run as a script (``python -I -S reaper.py``), it uses the standard library only and imports nothing of contop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading

logger = logging.getLogger(__name__)


def stat_fields(pid: int | str) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, session...); empty when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return []
    # The command name may contain spaces and parentheses.
    return stat[stat.rfind(b")") + 2 :].split()


def group_members(pgid: int, *, session: bool = False) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, from /proc. Empty when /proc is missing.

    ``session``: also those whose session is ``pgid``. A command started as a session leader keeps the children
    that moved to a process group of their own (a job-control shell, ``set -m``; ``setpgid``) in its session."""
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = stat_fields(entry)
        if len(fields) > 3 and fields[0] != b"Z" and (int(fields[2]) == pgid or (session and int(fields[3]) == pgid)):
            members.append(int(entry))
    return members


def _kill_session(sid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(sid, signal.SIGKILL)
    for pid in group_members(sid, session=True):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def main() -> None:
    """Reads ``+PGID``/``-PGID`` lines from stdin until it ends, then kills the sessions still registered."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a terminal's Ctrl-C must not end the watch before the server's end
    running: set[int] = set()
    for line in sys.stdin.buffer:
        with contextlib.suppress(ValueError):
            pgid = int(line[1:])
            if line[:1] == b"+":
                running.add(pgid)
            else:
                running.discard(pgid)
    for pgid in running:
        _kill_session(pgid)


class _Helper(subprocess.Popen[bytes]):
    """Lives as long as the server, and ends after it: still running when Python exits, as it should be."""

    def __del__(self) -> None:
        pass


class Reaper:
    """The server's side: starts the helper at the first command, tells it what runs, starts it again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None
        self._proc: _Helper | None = None
        self._failed = False
        self._watched: set[int] = set()  # told again to a helper started anew: it must know all that runs

    def _start(self) -> int | None:
        if self._pipe is not None and self._proc is not None and self._proc.poll() is None:
            return self._pipe
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if os.name != "posix" or not sys.executable:
            return None
        read, write = os.pipe()  # not inheritable: no command ever holds the server's end
        try:
            # No preexec_fn: nothing runs between fork and exec in this threaded process.
            self._proc = _Helper(
                [sys.executable, "-I", "-S", __file__],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # not in the server's group: whatever signals the group, it stays
            )
        except OSError:
            os.close(write)
            if not self._failed:
                logger.warning("cannot start the helper that stops commands if the server dies", exc_info=True)
            self._failed = True
            return None
        finally:
            os.close(read)
        os.set_blocking(write, False)
        self._pipe = write
        if self._watched:
            with contextlib.suppress(OSError):  # a helper that cannot take these is replaced at the next call
                os.write(write, b"".join(b"+%d\n" % pgid for pgid in self._watched))
        return write

    def _send(self, pgid: int, start: bool) -> None:
        line = b"%c%d\n" % (b"+" if start else b"-", pgid)
        with self._lock:
            if start:
                self._watched.add(pgid)
            else:
                self._watched.discard(pgid)
            pipe = self._start() if start else self._pipe
            if pipe is None:
                return
            try:
                os.write(pipe, line)
            except OSError:  # the helper died (BrokenPipe) or stopped reading: started again at the next command
                logger.warning("the helper that stops commands if the server dies is gone", exc_info=True)
                if self._proc is not None:
                    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                        self._proc.kill()
                        self._proc.wait(1)

    def watch(self, pgid: int) -> None:
        """The command in session ``pgid`` runs: killed if this process dies before ``release``."""
        self._send(pgid, start=True)

    def release(self, pgid: int) -> None:
        """Session ``pgid`` is no longer this process's to stop: it ended, was killed, or keeps an app running."""
        self._send(pgid, start=False)


REAPER = Reaper()


if __name__ == "__main__":
    main()
