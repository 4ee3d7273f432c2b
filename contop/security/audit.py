"""The append-only audit log: one JSON line per event, daily files, and a hash chain that exposes tampering.

Each line carries ``prev_hash``, the SHA-256 of the previous line's bytes (without its newline), or
``GENESIS_HASH`` for the first line of a file. Editing, deleting or reordering a line breaks the chain at the
next line. Lines are written by one thread owned by ``AuditLog`` so tool calls never wait for the disk.

A writer that finds the file ending in the middle of a line (the previous one stopped mid-write) starts on a new
line, chains from the cut line as it is and marks its first line ``"resumed_after_cut": true``; ``verify_file``
then reports the cut instead of a tampered file.
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
RESUMED_AFTER_CUT = "resumed_after_cut"  # set on the first line a writer adds after a line left cut short
_BLOCK = 65536  # how much of a file is read at once when looking for its last line
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
            if _CUT in value:
                value = _hide_cut_secrets(value, secrets)
            return hide_url_passwords(_KEY_SHAPES.sub(REDACTED, value))
        if isinstance(value, dict):
            return {k: self._walk(v, secrets) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v, secrets) for v in value]
        return value


_CUT = "…"  # how a command quoted in a reason ends when it was cut short (contop.security.findings.shorten)
_MIN_CUT_SECRET = 4  # the shortest start of a known secret hidden before a cut
_CUT_KEY = re.compile(r"(?<![A-Za-z0-9])(?:sk-|AIza|gh[pousr]_|xox[abposr]-)[A-Za-z0-9_\-]*(?=…)")
_CUT_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^\s@/]+(?=…)")


def _hide_cut_secrets(text: str, secrets: list[str]) -> str:
    """A command quoted in a reason is cut short, and the cut may fall inside a secret: the whole-value match
    misses its start, as does a key pattern that needs the whole key. What ends right at a cut and begins a known
    secret, a key or a URL's password is hidden too."""
    parts = text.split(_CUT)
    for index, head in enumerate(parts[:-1]):
        for secret in secrets:
            size = next((n for n in range(len(secret) - 1, _MIN_CUT_SECRET - 1, -1) if head.endswith(secret[:n])), 0)
            if size:
                head = head[:-size] + REDACTED
                break
        parts[index] = head
    text = _CUT.join(parts)
    return _CUT_URL_PASSWORD.sub(r"\1***", _CUT_KEY.sub(REDACTED, text))


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
        self._after_cut = False  # the open file ends in the middle of a line: the next write starts a new one
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
        if self._after_cut:
            data[RESUMED_AFTER_CUT] = True
        data["prev_hash"] = self._prev
        try:
            line = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (a file name that is not UTF-8): kept exactly, as \udcff
            line = json.dumps(data, separators=(",", ":"), default=str).encode("ascii")
        # After a cut, the newline that ends the cut line goes out with our line: if the disk refuses it, the file
        # is put back as it was and the next attempt starts the same way.
        out = (b"\n" if self._after_cut else b"") + line + b"\n"
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, out)
            if written != len(out):
                raise OSError(errno.ENOSPC, f"only {written} of {len(out)} bytes written")
        except OSError:
            with contextlib.suppress(OSError):  # no half line: the chain stays verifiable
                os.ftruncate(self._fd, end)
            raise
        self._prev = line_hash(line)
        self._after_cut = False

    def _open(self, day: dt.date) -> None:
        self._close_file()
        self.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.logs_dir, 0o700)
        path = log_path(self.logs_dir, day)
        self._prev, self._after_cut = last_line(path)
        if self._after_cut:
            logger.warning(
                "audit log %s ends in the middle of a line: the previous writer stopped mid-write (a crash or a full "
                "disk); continuing on a new line, and `contop audit verify` reports the cut",
                path,
            )
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


def last_line(path: Path) -> tuple[str, bool]:
    """The hash of the last line of ``path`` (genesis when there is none), and whether that line has no newline.

    The line is found by reading backwards a block at a time, and hashed a block at a time: a line of any length
    costs reading it once, never more memory than a block.
    """
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return GENESIS_HASH, False
            fh.seek(size - 1)
            cut = fh.read(1) != b"\n"
            end = size if cut else size - 1
            start = end
            while start > 0:
                block_start = max(0, start - _BLOCK)
                fh.seek(block_start)
                newline = fh.read(start - block_start).rfind(b"\n")
                if newline != -1:
                    start = block_start + newline + 1
                    break
                start = block_start
            digest = hashlib.sha256()
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(_BLOCK, left))
                if not chunk:  # shortened meanwhile: nobody else writes here, but never loop forever
                    break
                digest.update(chunk)
                left -= len(chunk)
            return digest.hexdigest(), cut
    except FileNotFoundError:
        return GENESIS_HASH, False


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What ``verify_file`` found. ``ok`` only when the chain is whole and no line was left cut short."""

    ok: bool
    lines: int
    first_bad_line: int | None = None  # the first line that breaks the chain: tampering (or damage)
    reason: str = ""
    # Lines a writer left cut short (it stopped mid-write), with the chain going on past them: what such a line
    # held, and whether lines were lost just before it, cannot be checked. A last line without its newline is one.
    cut_lines: tuple[int, ...] = ()


def verify_file(path: Path | str) -> VerifyResult:
    """Check the hash chain of one audit file, a line at a time (1-based line numbers)."""
    with open(path, "rb") as fh:
        return verify_lines(fh)


def verify_lines(lines: Iterable[bytes]) -> VerifyResult:
    """Check the hash chain of an audit file given as its lines, each with its newline (the last one may lack it).

    A line that is not JSON is a cut (not tampering) only when the next line says it resumed after a cut and
    chains from that line's bytes as they are: what ``AuditLog`` writes after finding such a line.
    """
    expected = GENESIS_HASH
    cuts: list[int] = []
    unreadable: tuple[int, str] | None = None  # a line that is not JSON, and its hash: the next line must explain it
    count = 0
    for count, raw_line in enumerate(lines, start=1):
        complete = raw_line.endswith(b"\n")
        raw = raw_line[:-1] if complete else raw_line
        entry = _json_object(raw)
        resumed = entry is not None and entry.get(RESUMED_AFTER_CUT) is True
        if unreadable is not None:
            number, digest = unreadable
            if entry is None or not resumed or entry.get("prev_hash") != digest:
                return VerifyResult(False, count, number, "not a JSON line")
            cuts.append(number)
            unreadable = None
        elif entry is None:
            if complete:
                unreadable = (count, line_hash(raw))
                continue
            cuts.append(count)  # the end of the file, cut in the middle of a line
            continue
        elif entry.get("prev_hash") != expected:
            reason = "line 1 does not start the chain" if count == 1 else "prev_hash does not match the previous line"
            return VerifyResult(False, count, count, reason)
        elif resumed and count > 1:
            cuts.append(count - 1)  # the line before lost only its newline: it is whole and chained
        if not complete:
            cuts.append(count)
        expected = line_hash(raw)
    if unreadable is not None:
        return VerifyResult(False, count, unreadable[0], "not a JSON line")
    return VerifyResult(not cuts, count, cut_lines=tuple(cuts))


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
