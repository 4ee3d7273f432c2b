"""The sessions store: each session's conversation with the model, in SQLite, so it survives a restart.

``<state_dir>/data/sessions.db`` (WAL), one row per session_id holding pydantic-ai's message list as JSON with
images and other binary parts replaced by a note. Rows untouched for 7 days are deleted when the store opens; a
database that cannot be read is moved aside (``sessions.db.corrupt-<timestamp>``) and a fresh one created.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
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

from contop.core.clock import utcnow

log = logging.getLogger(__name__)

RETENTION_S = 7 * 24 * 3600
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


def cap_turns(messages: Sequence[ModelMessage], max_turns: int = MAX_TURNS) -> list[ModelMessage]:
    """The last ``max_turns`` turns; a turn starts at a request carrying the user's prompt."""
    starts = [
        i
        for i, m in enumerate(messages)
        if isinstance(m, ModelRequest) and any(p.part_kind == "user-prompt" for p in m.parts)
    ]
    if len(starts) <= max_turns:
        return list(messages)
    return list(messages[starts[-max_turns] :])


def encode(messages: Sequence[ModelMessage]) -> str:
    return ModelMessagesTypeAdapter.dump_json(strip_binary(cap_turns(messages))).decode("utf-8")


def decode(text: str) -> list[ModelMessage]:
    return list(ModelMessagesTypeAdapter.validate_json(text))


class SessionStore:
    """Thread-confined SQLite connection; async methods run the queries in a worker thread."""

    def __init__(self, path: Path, *, retention_s: float = RETENTION_S) -> None:
        self.path = path
        self._retention_s = retention_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def open(self) -> int:
        """Open (or recreate) the database and delete expired rows; returns how many were deleted."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._connect()
        except sqlite3.DatabaseError as exc:
            self._move_aside(exc)
            self._conn = self._connect()
        return self._cleanup()

    def _connect(self) -> sqlite3.Connection:
        # Conversations hold prompts and command output: owner-only, like every secret file of the state directory.
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        for path in (str(self.path), f"{self.path}-wal", f"{self.path}-shm"):  # those of an older version too
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, 0o600)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {row[0] if row else 'no answer'}")
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _move_aside(self, exc: Exception) -> None:
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        log.error("sessions database %s is unreadable (%s); moved to %s, starting a fresh one", self.path, exc, target)
        self.path.replace(target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))

    def _cleanup(self) -> int:
        cutoff = time.time() - self._retention_s
        with self._lock:
            cursor = self._db().execute("DELETE FROM sessions WHERE updated_at < ?", (cutoff,))
        if cursor.rowcount:
            log.info("deleted %d session(s) older than %d days", cursor.rowcount, self._retention_s // 86400)
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("session store is not open")
        return self._conn

    # --- data --------------------------------------------------------------------------------------------------

    def load_sync(self, session_id: str) -> list[ModelMessage]:
        with self._lock:
            row = self._db().execute("SELECT messages FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            return []
        try:
            return decode(row[0])
        except ValueError as exc:  # written by an incompatible version: start the conversation afresh
            log.warning("stored history of session %s is unreadable (%s); starting empty", session_id[:8], exc)
            return []

    def save_sync(self, session_id: str, messages: Sequence[ModelMessage]) -> None:
        text = encode(messages)
        now = time.time()
        with self._lock:
            self._db().execute(
                "INSERT INTO sessions (session_id, messages, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(session_id) DO UPDATE SET messages = excluded.messages, updated_at = excluded.updated_at",
                (session_id, text, now, now),
            )

    def delete_sync(self, session_id: str) -> None:
        with self._lock:
            self._db().execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    def exists_sync(self, session_id: str) -> bool:
        with self._lock:
            row = self._db().execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return row is not None

    async def load(self, session_id: str) -> list[ModelMessage]:
        return await asyncio.to_thread(self.load_sync, session_id)

    async def save(self, session_id: str, messages: Sequence[ModelMessage]) -> None:
        await asyncio.to_thread(self.save_sync, session_id, list(messages))

    async def delete(self, session_id: str) -> None:
        await asyncio.to_thread(self.delete_sync, session_id)

    async def exists(self, session_id: str) -> bool:
        return await asyncio.to_thread(self.exists_sync, session_id)
