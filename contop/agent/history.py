"""The sessions store: each session's conversation with the model, in SQLite, so it survives a restart.

``<state_dir>/data/sessions.db`` (WAL), one row per session_id holding pydantic-ai's message list as JSON with
images and other binary parts replaced by a note. Rows untouched for 7 days are deleted when the store opens and
every hour after (and are never loaded meanwhile: a server running for weeks resumes no older conversation); a
corrupt database is moved aside (``sessions.db.corrupt-<timestamp>``) and a fresh one created. One that another
program holds (locked) or that cannot be opened is never moved: the agent then works without stored conversations
and the store tries the database again on use, every ``RETRY_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_ai.messages import (
    BinaryContent,
    FilePart,
    ImageUrl,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
)
from pydantic_core import PydanticSerializationError

from contop.core.clock import utcnow
from contop.core.text import storable

log = logging.getLogger(__name__)

RETENTION_S = 7 * 24 * 3600
SWEEP_S = 3600.0  # how often a running server deletes the conversations past RETENTION_S
RETRY_S = 30.0  # an unavailable database is tried again on the first use after this long
BUSY_S = 5.0  # how long a statement waits for another connection's lock (SQLite's busy timeout)
RETRY_BUSY_S = 0.5  # the same for a retry, which runs when a conversation is loaded or saved
MAX_TURNS = 40  # intents kept per session; older ones are dropped whole (the model sees a budget anyway)
STRIPPED_NOTE = "[image removed from the stored conversation]"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    messages TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)
"""
_INSERT = "INSERT INTO sessions (session_id, messages, created_at, updated_at) VALUES (?, ?, ?, ?) "
_UPSERT = (
    _INSERT + "ON CONFLICT(session_id) DO UPDATE SET messages = excluded.messages, updated_at = excluded.updated_at"
)
_CREATE = _INSERT + "ON CONFLICT(session_id) DO NOTHING"


def _strip_content(content: Any) -> tuple[Any, bool]:
    if isinstance(content, list):
        changed = False
        out = []
        for item in content:
            if isinstance(item, (BinaryContent, ImageUrl)):
                out.append(STRIPPED_NOTE)
                changed = True
            else:
                out.append(item)
        return out, changed
    if isinstance(content, (BinaryContent, ImageUrl)):
        return STRIPPED_NOTE, True
    return content, False


def strip_binary(messages: Sequence[ModelMessage]) -> list[ModelMessage]:
    """The messages with every image or binary part replaced by a short note (new objects)."""
    out: list[ModelMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            parts: list[Any] = []
            changed = False
            for part in message.parts:
                if hasattr(part, "content"):
                    content, stripped = _strip_content(part.content)
                    if stripped:
                        part = dataclasses.replace(part, content=content)
                        changed = True
                parts.append(part)
            out.append(dataclasses.replace(message, parts=parts) if changed else message)
        elif isinstance(message, ModelResponse) and any(isinstance(p, FilePart) for p in message.parts):
            out.append(dataclasses.replace(message, parts=[p for p in message.parts if not isinstance(p, FilePart)]))
        else:
            out.append(message)
    return out


def starts_turn(message: ModelMessage) -> bool:
    """Whether ``message`` begins a turn: a request with the user's prompt that answers no tool call. A tool
    returning an image answers with a request holding its result *and* a user-prompt part (the image): that is
    part of the turn it ran in, and cutting there would keep a result without its call and lose the request."""
    if not isinstance(message, ModelRequest):
        return False
    kinds = {part.part_kind for part in message.parts}
    return "user-prompt" in kinds and "tool-return" not in kinds and "retry-prompt" not in kinds


def cap_turns(messages: Sequence[ModelMessage], max_turns: int = MAX_TURNS) -> list[ModelMessage]:
    """The last ``max_turns`` turns (see ``starts_turn``)."""
    starts = [i for i, m in enumerate(messages) if starts_turn(m)]
    if len(starts) <= max_turns:
        return list(messages)
    return list(messages[starts[-max_turns] :])


def encode(messages: Sequence[ModelMessage]) -> str:
    kept = strip_binary(cap_turns(messages))
    try:
        return ModelMessagesTypeAdapter.dump_json(kept).decode("utf-8")
    except PydanticSerializationError:  # a lone surrogate somewhere (a model's "\ud800" escape): kept as U+FFFD
        return json.dumps(storable(ModelMessagesTypeAdapter.dump_python(kept, mode="json")), ensure_ascii=False)


def decode(text: str) -> list[ModelMessage]:
    return list(ModelMessagesTypeAdapter.validate_json(text))


class CorruptDatabase(sqlite3.DatabaseError):
    """SQLite opened the file, but its integrity check failed."""


def _primary_code(exc: BaseException) -> int:
    """SQLite's primary result code of ``exc``; 0 for an error the sqlite3 module raised itself."""
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def is_corrupt(exc: BaseException) -> bool:
    """Whether the file's content is damaged: only then is it moved aside (never when locked or unopenable)."""
    return isinstance(exc, CorruptDatabase) or _primary_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def is_held(exc: BaseException) -> bool:
    """Whether another connection holds a lock on the database (it opens fine once that one lets go)."""
    return _primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@dataclass(frozen=True)
class Unavailable:
    """Why the database cannot be used right now, as logged: ``level`` and the message."""

    level: int
    message: str


def diagnose(path: Path, exc: BaseException, retry_s: float = RETRY_S) -> Unavailable:
    """What to tell the owner about a database that could not be opened or used (not a corrupt one)."""
    meanwhile = f"Until then conversations are not stored and cannot be resumed; Contop tries again every {retry_s:g} s"
    if is_held(exc):
        return Unavailable(
            logging.WARNING,
            f"sessions database {path} is held by another program ({exc}): close the program that has it open "
            f"(a database browser, a backup tool). {meanwhile}",
        )
    if isinstance(exc, IsADirectoryError):
        return Unavailable(
            logging.ERROR, f"sessions database {path} is a directory: move it out of the way. {meanwhile}"
        )
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Unavailable(
        logging.ERROR,
        f"sessions database {path} cannot be opened ({detail}): make it and its folder readable and writable by "
        f"the user who runs contop (chmod 600 {path}; chmod 700 {path.parent}). {meanwhile}",
    )


class SessionStore:
    """Thread-confined SQLite connection; async methods run the queries in a worker thread.

    While the database is unavailable (see ``diagnose``) loads find nothing and saves are dropped; the first use
    after ``retry_s`` opens it again.
    """

    def __init__(
        self, path: Path, *, retention_s: float = RETENTION_S, retry_s: float = RETRY_S, sweep_s: float = SWEEP_S
    ) -> None:
        self.path = path
        self._retention_s = retention_s
        self._sweep_s = sweep_s
        self._swept_at = time.monotonic()  # the store's opening sweeps first
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._retry_at: float | None = None  # set while unavailable; None when open or closed
        self.moved_aside: Path | None = None  # where a damaged database went (its conversations cannot be reopened)
        self._problem: Unavailable | None = None  # the last one logged, so an outage is logged once
        # Sessions whose history could not be read: their save must not replace a stored conversation with less.
        self._unread: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def open(self) -> int:
        """Open (or recreate) the database and delete expired rows; returns how many were deleted."""
        with self._lock:
            return self._open(BUSY_S)

    def _open(self, busy_s: float) -> int:
        self._retry_at = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._connect(busy_s)
            except sqlite3.DatabaseError as exc:
                if not is_corrupt(exc):
                    raise
                self._move_aside(exc)
                self._conn = self._connect(busy_s)
            deleted = self._cleanup(self._conn)
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_S * 1000)}")  # a retry waited less
        except (sqlite3.Error, OSError) as exc:
            self._unavailable(exc)
            return 0
        if self._problem is not None:
            log.info("sessions database %s is available again: conversations are stored", self.path)
            self._problem = None
        return deleted

    def _connect(self, busy_s: float) -> sqlite3.Connection:
        # Conversations hold prompts and command output: owner-only, like every secret file of the state directory.
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        for path in (str(self.path), f"{self.path}-wal", f"{self.path}-shm"):  # those of an older version too
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, 0o600)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=busy_s)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise CorruptDatabase(f"integrity check failed: {row[0] if row else 'no answer'}")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def _move_aside(self, exc: Exception) -> None:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        log.error("sessions database %s is corrupt (%s); moved to %s, starting a fresh one", self.path, exc, target)
        self.path.replace(target)
        self.moved_aside = target
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))

    def _cleanup(self, conn: sqlite3.Connection) -> int:
        cutoff = time.time() - self._retention_s
        cursor = conn.execute("DELETE FROM sessions WHERE updated_at < ?", (cutoff,))
        if cursor.rowcount:
            log.info("deleted %d session(s) older than %d days", cursor.rowcount, self._retention_s // 86400)
        return cursor.rowcount

    @property
    def unavailable(self) -> str | None:
        """Why the database cannot be used right now (what the log said), or None when it can."""
        return self._problem.message if self._problem is not None else None

    def _unavailable(self, exc: BaseException) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._retry_at = time.monotonic() + self._retry_s
        problem = diagnose(self.path, exc, self._retry_s)
        if problem != self._problem:
            log.log(problem.level, "%s", problem.message)
            self._problem = problem

    def close(self) -> None:
        with self._lock:
            self._retry_at = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any] | None:
        """The rows of one statement; ``None`` while the database is unavailable. Call with ``_lock`` held."""
        if self._conn is None:
            if self._retry_at is None:
                raise RuntimeError("session store is not open")
            if time.monotonic() < self._retry_at:
                return None
            self._open(RETRY_BUSY_S)
            if self._conn is None:
                return None
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if not is_held(exc):
                raise
            self._unavailable(exc)  # taken by another program while we run: the same as at the start
            return None

    # --- data --------------------------------------------------------------------------------------------------

    def _cutoff(self) -> float:
        return time.time() - self._retention_s

    def _sweep(self) -> None:
        """Delete the expired rows, at most every ``sweep_s``. Call with ``_lock`` held."""
        if time.monotonic() - self._swept_at < self._sweep_s:
            return
        self._swept_at = time.monotonic()
        if self._query("DELETE FROM sessions WHERE updated_at < ?", (self._cutoff(),)) is not None:
            log.debug("swept sessions older than %d days", self._retention_s // 86400)

    def load_sync(self, session_id: str) -> list[ModelMessage]:
        with self._lock:
            self._sweep()
            rows = self._query(
                "SELECT messages FROM sessions WHERE session_id = ? AND updated_at >= ?", (session_id, self._cutoff())
            )
            if rows is None:
                self._unread.add(session_id)
                return []
            self._unread.discard(session_id)
        if not rows:
            return []
        try:
            return decode(rows[0][0])
        except ValueError as exc:  # written by an incompatible version: start the conversation afresh
            log.warning("stored history of session %s is unreadable (%s); starting empty", session_id[:8], exc)
            return []

    def save_sync(self, session_id: str, messages: Sequence[ModelMessage]) -> None:
        text = encode(messages)
        now = time.time()
        with self._lock:
            # A conversation whose stored part could not be read is only created, never replaced by less.
            self._query(_CREATE if session_id in self._unread else _UPSERT, (session_id, text, now, now))

    def delete_sync(self, session_id: str) -> None:
        with self._lock:
            self._query("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    def exists_sync(self, session_id: str) -> bool:
        with self._lock:
            found = self._query(
                "SELECT 1 FROM sessions WHERE session_id = ? AND updated_at >= ?", (session_id, self._cutoff())
            )
            return bool(found)

    async def load(self, session_id: str) -> list[ModelMessage]:
        return await asyncio.to_thread(self.load_sync, session_id)

    async def save(self, session_id: str, messages: Sequence[ModelMessage]) -> None:
        await asyncio.to_thread(self.save_sync, session_id, list(messages))

    async def delete(self, session_id: str) -> None:
        await asyncio.to_thread(self.delete_sync, session_id)

    async def exists(self, session_id: str) -> bool:
        return await asyncio.to_thread(self.exists_sync, session_id)
