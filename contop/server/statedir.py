"""The state directory (``$CONTOP_HOME``, default ``~/.contop``): its layout, modes and atomic writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from contop.core.errors import StateDirError

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

    def display(self) -> str:
        """The path as written into default settings: ``~/.contop`` when under the home directory."""
        home = Path.home()
        try:
            return "~/" + str(self.root.resolve().relative_to(home.resolve()))
        except ValueError:
            return str(self.root.resolve())

    def ensure(self) -> None:
        """Create the directory tree (0700) and check it is writable; raise ``StateDirError`` with advice if not."""
        try:
            for directory in (self.root, self.dtls_dir, self.data_dir, self.logs_dir, self.skills_dir):
                _ensure_dir(directory)
            probe = self.root / f".write-probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            blocker = next((p for p in (self.root, *self.root.parents) if p.exists() and not p.is_dir()), None)
            advice = (
                f"{blocker} is a file, not a directory. Move it away" if blocker is not None else "Fix its permissions"
            )
            raise StateDirError(
                f"cannot use the state directory {self.root}: {exc.strerror or exc}. "
                f"{advice} or choose another with --home / CONTOP_HOME."
            ) from exc

    def load_or_create_admin_token(self) -> str:
        """The 256-bit admin token, created (0600, atomically) on first start."""
        path = self.admin_token
        try:
            token = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            token = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise StateDirError(f"cannot read {path}: {exc}") from exc
        if len(token) < 64:
            token = secrets.token_hex(32)
            atomic_write(path, token.encode("ascii") + b"\n")
        elif stat.S_IMODE(path.stat().st_mode) != SECRET_MODE:
            path.chmod(SECRET_MODE)
        return token
