"""The append-only audit log: one JSON line per event, daily files, and a hash chain that exposes tampering.

Each line carries ``prev_hash``, the SHA-256 of the previous line's bytes (without its newline), or
``GENESIS_HASH`` for the first line of a file. Editing, deleting or reordering a line breaks the chain at the
next line. Lines are written by one thread owned by ``AuditLog`` so tool calls never wait for the disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from contop.core.urlsecrets import hide_url_passwords

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
REDACTED = "[REDACTED]"
AuditEvent = Literal["tool_start", "tool_end", "session_start", "session_end"]

# Shapes of well-known provider keys, redacted even when nobody registered the value.
# A key starts a word: "flask-app-deployment-config.yaml" or "task-3f2a…" (tool output the phone sees) are not keys.
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(sk-[A-Za-z0-9_\-]{20,}|AIza[0-9A-Za-z_\-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abposr]-[A-Za-z0-9\-]{10,})"
)
_MIN_SECRET_LEN = 8


@dataclass(slots=True)
class AuditEntry:
    """One line of the audit log: the seed's fields plus ours (``event``, ``decision``, ``route``…)."""

    event: AuditEvent
    session_id: str
    tool_used: str = ""
    classified_command: str = ""
    user_prompt: str = ""
    execution_result: str = ""  # "success" | "error" | "rejected" | "blocked" | "" (tool_start)
    voice_message: str = ""
    duration_ms: int = 0
    decision: str = ""
    route: str = ""
    reason: str = ""
    call_id: str = ""
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    timestamp: str = ""  # filled in when recorded, ISO 8601 UTC with milliseconds


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_path(logs_dir: Path, day: dt.date) -> Path:
    return logs_dir / f"session-{day.isoformat()}.jsonl"


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


class Redactor:
    """Replaces known secret values (API keys, pairing and admin tokens) and key-shaped strings."""

    def __init__(self, provider: Callable[[], Iterable[str]] | None = None) -> None:
        self._provider = provider
        self._static: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if len(secret) >= _MIN_SECRET_LEN:
            with self._lock:
                self._static.add(secret)

    def _secrets(self) -> list[str]:
        with self._lock:
            found = set(self._static)
        if self._provider is not None:
            try:
                found.update(s for s in self._provider() if s and len(s) >= _MIN_SECRET_LEN)
            except Exception as exc:  # still redact what we know rather than lose the line
                logger.error("audit secret provider failed: %s", type(exc).__name__)
        return sorted(found, key=len, reverse=True)  # longest first: a key containing another is fully hidden

    def __call__(self, value: Any) -> Any:
        return self._walk(value, self._secrets())

    def stream(self) -> StreamRedactor:
        """For text that arrives in pieces, such as a model's streamed answer."""
        return StreamRedactor(self)

    def _walk(self, value: Any, secrets: list[str]) -> Any:
        if isinstance(value, str):
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return hide_url_passwords(_KEY_SHAPES.sub(REDACTED, value))
        if isinstance(value, dict):
            return {k: self._walk(v, secrets) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v, secrets) for v in value]
        return value


# The end of a streamed piece that may still grow into a key of one of the _KEY_SHAPES ("sk", "sk-ab", a whole
# key whose next characters are on their way): held back until the next piece shows whether it is one.
_KEY_START = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?:s(?:k(?:-[A-Za-z0-9_\-]*)?)?|A(?:I(?:z(?:a[0-9A-Za-z_\-]*)?)?)?"
    r"|g(?:h(?:[pousr](?:_[A-Za-z0-9]*)?)?)?|x(?:o(?:x(?:[abposr](?:-[A-Za-z0-9\-]*)?)?)?)?)\Z"
)
_MAX_HELD = 1024  # longer than any key: a run of key characters this long is let through (redacted) as it is


class StreamRedactor:
    """Redacts text that arrives in pieces, so that a secret split across two pieces is hidden too.

    ``feed`` returns what can be passed on now: the text so far, redacted, except for an end that may be the
    start of a secret or of a key (those characters wait for the next piece). ``flush`` returns what is left when
    the stream ends. Joined, the returned pieces equal the whole text redacted at once.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = ""
        self._before = ""  # the last character passed on (known values replaced): a key can start only after a
        # character that is not a letter or digit

    def feed(self, piece: str) -> str:
        return self._pass(self._held + piece, final=False)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self._pass(held, final=True) if held else ""

    def _pass(self, rest: str, final: bool) -> str:
        secrets = self._redactor._secrets()
        start = len(self._before)
        cut = len(rest) if final else _secret_cut(self._before + rest, start, secrets) - start
        segment, held = rest[:cut], rest[cut:]
        for secret in secrets:  # as Redactor does: known values first, then key shapes
            segment = segment.replace(secret, REDACTED)
        text = self._before + segment  # a key starts a word: the character before the segment decides
        if not final:
            whole, split = text + held, len(text)
            if (found := _KEY_START.search(text, start)) is not None:
                split = found.start()
            for match in _KEY_SHAPES.finditer(whole, start):  # nor through a key: hold all of it
                if match.start() < split < match.end():
                    split = match.start()
            text, held = whole[:split], whole[split:]  # key characters and a secret's start: no [REDACTED]
        if len(held) > _MAX_HELD:
            return self._pass(rest, final=True)
        self._held = held
        if len(text) == start:
            return ""
        out, at = [], start
        for match in _KEY_SHAPES.finditer(text, start):
            out += [text[at : match.start()], REDACTED]
            at = match.end()
        out.append(text[at:])
        self._before = text[-1]
        return "".join(out)


def _secret_cut(text: str, start: int, secrets: list[str]) -> int:
    """Where ``text`` can be cut (not before ``start``) so that no known secret is cut through, nor its start held
    at the end of the text."""
    cut = len(text)
    for secret in secrets:  # the longest end of the text that begins this secret
        for size in range(min(len(secret) - 1, len(text) - start), 0, -1):
            if text.endswith(secret[:size]):
                cut = min(cut, len(text) - size)
                break
    moved = True
    while moved:  # a whole secret before the cut and through it: cut before it
        moved = False
        for secret in secrets:
            at = text.find(secret, start)
            while at != -1 and at < cut:
                if cut < at + len(secret):
                    cut, moved = at, True
                at = text.find(secret, at + 1)
    return cut


_STOP = object()


class AuditLog:
    """Writes ``AuditEntry`` lines to ``<logs_dir>/session-YYYY-MM-DD.jsonl`` from a background thread.

    ``record`` never blocks and never raises; ``flush`` waits until everything queued is on disk;
    ``aclose`` flushes, stops the thread and is idempotent.
    """

    def __init__(
        self,
        logs_dir: Path,
        *,
        secrets: Callable[[], Iterable[str]] | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.logs_dir = logs_dir
        self.redact = Redactor(secrets)
        self._clock = clock
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._start_lock = threading.Lock()
        # Writer-thread state.
        self._fd: int | None = None
        self._day: dt.date | None = None
        self._prev = GENESIS_HASH
        # Why the last write failed (a full disk…), or None: tools refuse to run while the log cannot be written.
        self.failure: str | None = None

    async def __aenter__(self) -> AuditLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def record(self, entry: AuditEntry) -> concurrent.futures.Future[str | None]:
        """Queue one entry (timestamped now). Safe to call from any thread; never raises. The future says, once the
        writer got to it, why this entry could not be written (None: it is on disk)."""
        written: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        try:
            if self._closed:
                logger.error("audit log closed; dropped a %s entry", entry.event)
                written.set_result("the audit log is closed")
                return written
            if not entry.timestamp:
                entry.timestamp = _iso(self._clock())
            self._ensure_thread()
            self._queue.put((entry, written))
        except Exception as exc:
            logger.error("audit log could not queue an entry: %s", type(exc).__name__)
            written.set_result(f"could not queue the entry: {type(exc).__name__}")
        return written

    def session_start(self, session_id: str, **details: Any) -> None:
        """Mark a session's start (device, connection type…); ``details`` land as extra fields."""
        self.record(AuditEntry(event="session_start", session_id=session_id, extra=details))

    def session_end(self, session_id: str, *, duration_ms: int = 0, **stats: Any) -> None:
        """Mark a session's end with its summary (commands run, errors…)."""
        self.record(AuditEntry(event="session_end", session_id=session_id, duration_ms=duration_ms, extra=stats))

    async def flush(self) -> None:
        """Wait until every entry recorded so far has been written."""
        if self._thread is None or not self._thread.is_alive():
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put(done)
        await asyncio.wrap_future(done)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)

    # --- writer thread ----------------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="contop-audit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._close_file()
                return
            if isinstance(item, concurrent.futures.Future):
                item.set_result(None)
                continue
            entry, written = item
            try:
                self._write(entry)
                self.failure = None
            except Exception as exc:  # never raised into a tool call: the entry's future tells its caller
                self.failure = f"{type(exc).__name__}: {exc}"
                logger.error("audit log write failed: %s", self.failure)
            if not written.done():
                written.set_result(self.failure)

    def _write(self, entry: AuditEntry) -> None:
        day = dt.datetime.fromisoformat(entry.timestamp.replace("Z", "+00:00")).date()
        if self._fd is None or day != self._day:
            self._open(day)
        assert self._fd is not None
        data = asdict(entry)
        extra = data.pop("extra")
        data.update({k: v for k, v in extra.items() if k not in data})
        data = self.redact(data)
        data["prev_hash"] = self._prev
        try:
            line = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (a file name that is not UTF-8): kept exactly, as \udcff
            line = json.dumps(data, separators=(",", ":"), default=str).encode("ascii")
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, line + b"\n")
            if written != len(line) + 1:
                raise OSError(errno.ENOSPC, f"only {written} of {len(line) + 1} bytes written")
        except OSError:
            with contextlib.suppress(OSError):  # no half line: the chain stays verifiable
                os.ftruncate(self._fd, end)
            raise
        self._prev = line_hash(line)

    def _open(self, day: dt.date) -> None:
        self._close_file()
        self.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.logs_dir, 0o700)
        path = log_path(self.logs_dir, day)
        self._prev = _last_line_hash(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)
        self._day = day

    def _close_file(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None


def _last_line_hash(path: Path) -> str:
    """Hash of the last complete line of an existing file (so a restart continues the chain), else genesis."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0:
                return GENESIS_HASH
            fh.seek(max(0, size - 1_048_576))
            tail = fh.read()
    except FileNotFoundError:
        return GENESIS_HASH
    lines = tail.rstrip(b"\n").split(b"\n")
    return line_hash(lines[-1])


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    lines: int
    first_bad_line: int | None = None
    reason: str = ""


def verify_file(path: Path | str) -> VerifyResult:
    """Check the hash chain of one audit file; the first broken line (1-based) is reported."""
    with open(path, "rb") as fh:
        data = fh.read()
    if not data:
        return VerifyResult(True, 0)
    complete = data.endswith(b"\n")
    lines = data.split(b"\n")
    if complete:
        lines = lines[:-1]
    expected = GENESIS_HASH
    for number, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
        except ValueError:
            return VerifyResult(False, number, number, "not a JSON line")
        if not isinstance(entry, dict) or entry.get("prev_hash") != expected:
            return VerifyResult(False, number, number, "prev_hash does not match the previous line")
        expected = line_hash(raw)
    if not complete:
        return VerifyResult(False, len(lines), len(lines), "the last line has no newline (cut short)")
    return VerifyResult(True, len(lines))
