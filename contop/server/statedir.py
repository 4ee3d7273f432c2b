"""The state directory (``$CONTOP_HOME``, default ``~/.contop``): its layout, modes and atomic writes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import secrets
import stat
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contop.core.errors import StateDirError
from contop.core.processes import pid_alive

log = logging.getLogger(__name__)

DIR_MODE = 0o700
SECRET_MODE = 0o600


def atomic_write(path: Path, data: bytes, *, mode: int = SECRET_MODE) -> None:
    """Write ``data`` to ``path`` so a reader (or a crash) sees either the old file or the new one, never half.

    Temp file in the same directory, created with ``mode`` from the start, fsync, rename, fsync the directory.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# The names ``atomic_write`` gives its temp files: ``tempfile.mkstemp``'s 8 random characters between the two.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def disk_full(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def not_saved(path: Path, exc: OSError) -> str:
    """What to tell the user when ``path`` could not be written: what happened, and what to do about it."""
    if isinstance(exc, TimeoutError):  # from ``LatestWriter``: the disk has not answered yet
        return f"could not save {path.name}: {exc}; the disk is busy or failing, try again"
    if exc.errno == errno.EISDIR or path.is_dir():
        return f"could not save {path.name}: {path} is a folder, but it must be a file; move it away and try again"
    if disk_full(exc):
        advice = "free some space and try again"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = f"make {path.parent} writable and try again"
    else:
        advice = "try again"
    return f"could not save {path.name}: {exc.strerror or exc}; {advice}"


class LatestWriter:
    """Writes a file with ``atomic_write`` in a thread of its own, newest contents first and one write at a time.

    For state that changes on the event loop (paired devices connecting and leaving): the fsyncs of an atomic write
    take a millisecond here and far more on a busy disk, time the loop would not answer anyone. ``submit`` only
    hands the bytes over and returns a ticket. Contents submitted while a write runs replace each other, so the
    write that follows is always of the newest; a ticket is durable once its contents, or newer ones, are on disk.
    The thread is not a daemon: an exiting interpreter waits for the write in progress and the one pending. Where
    no thread can be started (an interpreter shutting down), ``submit`` writes itself.

    ``flush`` (a thread) and ``wait`` (a coroutine, holding no thread) return once a ticket is durable, and raise
    the error of the write that should have made it so (``OSError`` from the disk) when it failed. A failed write
    is not retried by itself: the next ``submit`` carries the newest contents, which include what was lost.
    """

    def __init__(self, path: Path, *, mode: int = SECRET_MODE) -> None:
        self.path = path
        self.mode = mode
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._pending: bytes | None = None
        self._writing = False
        self._submitted = 0  # tickets handed out
        self._written = 0  # every ticket up to this one has had its write (or a newer one's) attempted
        self._durable = 0  # every ticket up to this one is on disk
        self._error: Exception | None = None  # of the latest failed write
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def submit(self, data: bytes) -> int:
        """Queue ``data`` as the file's next contents; returns its ticket for ``flush`` and ``wait``."""
        with self._lock:
            self._pending = data
            self._submitted += 1
            ticket = self._submitted
            if self._writing:
                return ticket
            self._writing = True
        try:
            threading.Thread(target=self._run, name=f"write-{self.path.name}").start()
        except RuntimeError as exc:  # no new threads (interpreter shutdown, resource limits): write here instead
            log.warning("writing %s without a thread: %s", self.path, exc)
            self._run()
        return ticket

    def _outcome(self, ticket: int) -> Exception | None:
        return None if self._durable >= ticket else self._error

    def _run(self) -> None:
        while True:
            with self._lock:
                data, upto = self._pending, self._submitted
                self._pending = None
                if data is None:
                    self._writing = False
                    return
            error: Exception | None = None
            try:
                atomic_write(self.path, data, mode=self.mode)
            except OSError as exc:
                log.error("could not write %s: %s", self.path, exc)
                error = exc
            except Exception as exc:  # a bug, not the disk: still reported to the waiters, and the writer goes on
                log.exception("writing %s failed", self.path)
                error = exc
            with self._lock:
                self._written = upto
                if error is None:
                    self._durable = upto
                else:
                    self._error = error
                self._done.notify_all()
                ready = [(w, self._outcome(w[0])) for w in self._waiters if w[0] <= upto]
                self._waiters = [w for w in self._waiters if w[0] > upto]
            for (_, loop, future), outcome in ready:
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(_settle, future, outcome)

    def flush(self, ticket: int | None = None, timeout: float | None = None) -> None:
        """Block until ``ticket`` (default: the newest) is durable; see the class for what it raises, and
        ``TimeoutError`` after ``timeout`` seconds."""
        with self._lock:
            wanted = self._submitted if ticket is None else ticket
            if not self._done.wait_for(lambda: self._written >= wanted, timeout):
                raise TimeoutError(f"{self.path} was not written within {timeout} s")
            error = self._outcome(wanted)
        if error is not None:
            raise error

    async def wait(self, ticket: int | None = None, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """``flush`` for the event loop, without holding a thread while the disk works."""
        loop = asyncio.get_running_loop()
        with self._lock:
            wanted = self._submitted if ticket is None else ticket
            if self._written >= wanted:
                error = self._outcome(wanted)
                if error is not None:
                    raise error
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((wanted, loop, future))
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise TimeoutError(f"{self.path} was not written within {timeout} s") from None


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return  # its waiter gave up (timeout, cancellation)
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _ensure_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        path.chmod(DIR_MODE)


def _keep_secret(path: Path) -> None:
    """Make ``path`` owner-only again (0600) when someone let others read or write it; a missing file is left to
    whoever makes it.

    Quiet: nothing was lost, the file is only as it should have been all along. A file the owner cannot read
    (chmod 000) is left so, for the code that reads it to report, as is anything but a file (a folder in its
    place)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode) and mode & 0o077:
        path.chmod(SECRET_MODE)


# What a state directory holds (and the temp files of its atomic writes, ".settings.json.…"): one of these makes a
# folder Contop's own.
# What Contop puts at the top of its state directory. A name counts as Contop's when it is one of these, or one of
# them set aside (``settings.json.corrupt-<time>``) or being written (``.tokens.json.<random>.tmp``).
_OWN_NAMES = frozenset({
    "settings.json", "tokens.json", "admin.token", "server.lock", "dtls", "data", "logs", "skills", "sandbox",
    "away-overlay.json", "away-attempts.json", "keep-awake.json",
    "proxy-anthropic.log", "proxy-gemini.log", "proxy-openai.log",
})  # fmt: skip
# Files only Contop writes: a folder holding one is a state directory, whatever else the owner keeps beside them.
_MARKERS = ("admin.token", "tokens.json", "server.lock")


def _own_name(name: str) -> bool:
    if name in _OWN_NAMES:
        return True
    if name.startswith(".") and name.endswith(".tmp"):  # a write in progress: .<name>.<random>.tmp
        return name[1:].rsplit(".", 2)[0] in _OWN_NAMES
    base, corrupt, _ = name.partition(".corrupt-")
    return bool(corrupt) and base in _OWN_NAMES


@dataclass(frozen=True)
class StateDir:
    """Paths of the state directory (CONTRACTS.md §2). ``ensure()`` creates it with the right modes."""

    root: Path

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens.json"

    @property
    def admin_token(self) -> Path:
        return self.root / "admin.token"

    @property
    def dtls_dir(self) -> Path:
        return self.root / "dtls"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def skills_dir(self) -> Path:
        return self.root / "skills"

    @property
    def server_lock(self) -> Path:
        return self.root / "server.lock"

    @property
    def keep_awake_record(self) -> Path:
        return self.root / "keep-awake.json"

    def secret_files(self) -> tuple[Path, ...]:
        """The files whose mode ``ensure()`` puts back to 0600: a chmod (a backup tool, a careless hand) must not
        leave a secret readable by others after a restart. settings.json and the sessions database are seen to by
        the code that reads them."""
        return (self.admin_token, self.tokens, self.dtls_dir / "key.pem", self.dtls_dir / "cert.pem")

    def display(self) -> str:
        """The path as written into default settings: ``~/.contop`` when under the home directory."""
        home = Path.home()
        try:
            return "~/" + str(self.root.resolve().relative_to(home.resolve()))
        except ValueError:
            return str(self.root.resolve())

    def ensure(self) -> None:
        """Create the directory tree (0700) and check it is writable; raise ``StateDirError`` with advice if not.

        A folder that already holds other things and nothing of Contop's (``--home ~`` or ``--home .``) is
        refused: it would be made private (0700), and the security gate would keep the agent out of all of it."""
        others = self._foreign_entries()
        if others:
            shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            raise StateDirError(
                f"cannot use {self.root} as the state directory: it already holds other things ({shown}) and "
                "nothing of Contop's. Contop makes its state directory private (0700) and keeps the agent out of "
                "all of it. Choose a new or empty folder with --home / CONTOP_HOME (the default is ~/.contop)."
            )
        try:
            for directory in (self.root, self.dtls_dir, self.data_dir, self.logs_dir, self.skills_dir):
                _ensure_dir(directory)
            for secret in self.secret_files():
                _keep_secret(secret)
            probe = self.root / f".write-probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StateDirError(f"cannot use the state directory {self.root}: {self._problem(exc)}") from exc

    def problem(self) -> str | None:
        """Why ``ensure`` would refuse this directory, found without creating or changing anything (for ``contop
        doctor``); None when it looks usable or does not exist yet (the server creates it)."""
        others = self._foreign_entries()
        if others:
            shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            return f"{self.root} already holds other things ({shown}) and nothing of Contop's"
        if not os.path.lexists(self.root):
            existing = next((p for p in self.root.parents if os.path.lexists(p)), None)
            if existing is not None and not existing.is_dir():
                return self._problem(NotADirectoryError(20, "Not a directory"))
            return None
        if not self.root.is_dir():
            return self._problem(NotADirectoryError(20, "Not a directory"))
        if not os.access(self.root, os.W_OK | os.X_OK):
            return f"{self.root} is not writable by this user. Fix its permissions or choose another with --home"
        return None

    def _foreign_entries(self) -> list[str]:
        """The names in an existing root that are not Contop's, when the root is not a state directory already
        (it holds none of the files only Contop writes); empty otherwise (or when unreadable).

        Names are matched whole: a home with a ``data`` or ``logs`` folder of the user's own, beside their other
        things, is not taken for a state directory."""
        try:
            names = sorted(os.listdir(self.root)) if self.root.is_dir() else []
        except OSError:
            return []  # ensure() says what is wrong with it
        if any(marker in names for marker in _MARKERS):
            return []
        return [name for name in names if not _own_name(name)]

    def _problem(self, exc: OSError) -> str:
        """Why ``ensure`` failed, and what to do: a file (or a broken link) where a folder must be is the usual
        reason, in the home, among its parents, or among its own folders (``data``, ``logs``...)."""
        folders = (
            *reversed(self.root.parents),
            self.root,
            self.dtls_dir,
            self.data_dir,
            self.logs_dir,
            self.skills_dir,
        )
        blocker = next((p for p in folders if os.path.lexists(p) and not p.is_dir()), None)
        if blocker is None:
            return f"{exc.strerror or exc}. Fix its permissions or choose another with --home / CONTOP_HOME."
        what = "a broken link" if not blocker.exists() else "a file"
        return (
            f"{blocker} is {what}, but it must be a folder. Move it away, or choose another state directory "
            "with --home / CONTOP_HOME."
        )

    def sweep_temp_files(self) -> list[Path]:
        """Remove the temp files of writes a killed server left (``atomic_write``): whole copies of state files,
        secrets since revoked among them. Only for the holder of the server lock: nobody else writes here then."""
        swept: list[Path] = []
        try:
            skills = [Path(e.path) for e in os.scandir(self.skills_dir) if e.is_dir(follow_symlinks=False)]
        except OSError:
            skills = []
        for folder in (self.root, self.dtls_dir, self.skills_dir, *skills):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if not (_TEMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)):
                    continue
                try:
                    os.unlink(entry.path)
                except OSError:
                    continue
                swept.append(Path(entry.path))
        return swept

    def load_or_create_admin_token(self) -> str:
        """The 256-bit admin token, created (0600, atomically) on first start."""
        path = self.admin_token
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would hold the start up forever, unread
                raise StateDirError(f"cannot read {path}: it is not a regular file (move it away; a new one is made)")
            token = path.read_bytes().strip().decode("ascii")
        except FileNotFoundError:
            token = ""
        except UnicodeDecodeError:  # binary or non-ASCII: no token we made, and none an HTTP header can carry
            token = ""
        except OSError as exc:
            raise StateDirError(f"cannot read {path}: {exc}") from exc
        try:
            if not _ADMIN_TOKEN.fullmatch(token):
                token = secrets.token_hex(32)
                atomic_write(path, token.encode("ascii") + b"\n")
            elif stat.S_IMODE(path.stat().st_mode) != SECRET_MODE:
                path.chmod(SECRET_MODE)
        except OSError as exc:  # a full disk on the first start, say: a sentence, not a traceback
            raise StateDirError(not_saved(path, exc)) from exc
        return token


# What an admin token may be: 64 or more visible ASCII characters, which an Authorization header carries as they are
# (ours are 64 hex digits). Anything else (short, spaces, several lines) is replaced: no client could send it.
_ADMIN_TOKEN = re.compile(r"[\x21-\x7e]{64,}")


@dataclass(frozen=True)
class ServerInfo:
    """What the server holding a state directory writes into its lock file: who it is and where it listens."""

    pid: int
    host: str = ""  # the address it is bound to ("0.0.0.0", "127.0.0.1", "192.0.2.2"…); empty while it starts
    port: int = 0
    # The process that started it. A Windows venv's python.exe is a launcher that runs the real interpreter as its
    # child, so a program starting the server knows this pid, not the server's.
    parent: int = 0

    def where(self) -> str:
        if not self.port:
            return f"pid {self.pid}, still starting"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"pid {self.pid}, listening on {host}:{self.port}"

    @classmethod
    def from_json(cls, text: str) -> ServerInfo | None:
        try:
            data: Any = json.loads(text)
            info = cls(
                pid=int(data["pid"]),
                host=str(data.get("host") or ""),
                port=int(data.get("port") or 0),
                parent=int(data.get("parent") or 0),
            )
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        return info if info.pid > 0 else None


def running_server(state_dir: StateDir) -> ServerInfo | None:
    """The server that holds ``state_dir``, as its lock file describes it, or None when none runs.

    Read without taking the lock (a probe could make a server starting at that instant fail). A server that
    stops cleanly empties the file; one killed outright leaves it, so the process must still exist too.
    """
    try:
        text = state_dir.server_lock.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    info = ServerInfo.from_json(text)
    return info if info is not None and pid_alive(info.pid) else None


class StateDirLock:
    """The exclusive lock one server holds on its state directory for its whole life.

    Two servers sharing a directory would overwrite each other's ``tokens.json`` and settings. The lock is an
    ``flock`` on ``server.lock``: the kernel drops it when the process ends, however it ends (kill -9 included),
    so it is never stale and never needs clearing by hand. The file is never removed: removing a locked file would
    let a second server create and lock a new one beside it. Its contents (``ServerInfo`` as JSON) are what the
    error of a second server and ``contop pair`` say about the holder. The descriptor is not inheritable, so child
    processes (which may outlive the server) never hold the lock.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        # Temp files of interrupted writes removed on taking the lock; the server logs them once its logging is set
        # up (taking the lock comes first, so a second server is told about the first before anything else).
        self.swept: list[Path] = []

    @classmethod
    def acquire(cls, state_dir: StateDir) -> StateDirLock:
        """Take the lock without waiting; ``StateDirError`` naming the holder when another server has it."""
        path = state_dir.server_lock
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, SECRET_MODE)
        except OSError as exc:
            raise StateDirError(f"cannot open {path}: {exc.strerror or exc}") from exc
        try:
            _lock(fd)
        except BlockingIOError:
            os.close(fd)
            holder = running_server(state_dir)
            who = f" ({holder.where()})" if holder is not None else ""
            raise StateDirError(
                f"the state directory {state_dir.root} is in use by another Contop server{who}. Stop that "
                "server, or give this one a state directory of its own with --home / CONTOP_HOME"
            ) from None
        except OSError as exc:  # a file system without locks (some network or FUSE mounts): run, but say so
            log.warning("cannot lock %s (%s): a second server on this directory would go unnoticed", path, exc)
            swept = []
        else:
            swept = state_dir.sweep_temp_files()
        lock = cls(path, fd)
        lock.swept = swept
        lock.publish(ServerInfo(pid=os.getpid()))
        return lock

    def publish(self, info: ServerInfo) -> None:
        """Say where this server listens (once it is bound)."""
        if self._fd is None:
            raise StateDirError(f"{self.path} is not locked by this process")
        data = json.dumps(asdict(info)).encode() + b"\n"
        try:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, data)
        except OSError as exc:  # only what others are told about this server is lost, not the lock
            log.warning("could not write %s: %s", self.path, exc)

    def release(self) -> None:
        """Empty the file (this server no longer listens anywhere) and drop the lock. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor of the open file releases the flock

    def __enter__(self) -> StateDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        # Windows locks are mandatory: lock one byte far past the contents, so others can still read who holds it.
        os.lseek(fd, 1 << 30, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # dropped by Windows when the process ends, too
        except OSError as exc:
            raise BlockingIOError(*exc.args) from exc

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
