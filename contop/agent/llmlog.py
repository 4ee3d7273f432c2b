"""Per-session model call logs: ``<state_dir>/logs/llm-<session8>-<timestamp>.log``, created on first write.

One file per run of a session (opened on the first line, closed at the run's end). One line per request and
per response: sizes, durations, token usage, tool calls. Never message bodies in full
and never API keys (the model spec's key is not reachable from here).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from pydantic_ai.messages import ModelResponse, TextPart, ThinkingPart, ToolCallPart

from contop.core.clock import utcnow

log = logging.getLogger(__name__)


class LlmLog:
    def __init__(
        self, logs_dir: Path, session_id: str, redact: Callable[[Any], Any] | None = None, *, tools: int = 0
    ) -> None:
        self._dir = logs_dir
        self._tools = tools  # how many tools each request offers the model
        self._redact = redact
        self._session = session_id
        self._path: Path | None = None
        self._fh: TextIO | None = None

    @property
    def path(self) -> Path | None:
        return self._path

    def _write(self, record: dict[str, Any]) -> None:
        try:
            if self._fh is None:
                self._dir.mkdir(parents=True, exist_ok=True)
                stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
                self._path = self._dir / f"llm-{self._session[:8]}-{stamp}.log"
                fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # prompts: owner-only
                self._fh = os.fdopen(fd, "a", encoding="utf-8")
            record = {"ts": utcnow().isoformat(timespec="milliseconds"), **record}
            if self._redact is not None:
                record = self._redact(record)
            self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._fh.flush()
        except OSError as exc:  # logging must never break a run
            log.warning("cannot write model call log: %s", exc)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def request(self, number: int, model: str, messages: int) -> float:
        self._write({"event": "request", "n": number, "model": model, "messages": messages, "tools": self._tools})
        return time.monotonic()

    def response(self, number: int, started: float, response: ModelResponse) -> None:
        calls = [p.tool_name for p in response.parts if isinstance(p, ToolCallPart)]
        text = sum(len(p.content) for p in response.parts if isinstance(p, TextPart))
        thinking = sum(len(p.content) for p in response.parts if isinstance(p, ThinkingPart))
        usage = response.usage
        self._write(
            {"event": "response", "n": number, "duration_ms": int((time.monotonic() - started) * 1000),
             "tool_calls": calls, "text_chars": text, "thinking_chars": thinking,
             "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
             "model_name": response.model_name}
        )  # fmt: skip

    def error(self, number: int, started: float | None, error: str) -> None:
        duration = int((time.monotonic() - started) * 1000) if started is not None else None
        self._write({"event": "error", "n": number, "duration_ms": duration, "error": error[:500]})
