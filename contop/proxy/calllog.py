"""Per-session call logs of the proxy (0600): ``<state_dir>/logs/llm-sub-<session8>-<timestamp>.log``, made when used.

One JSON line per CLI call: provider, model, sizes, duration, exit code, token usage, error code, or why the call was
abandoned. Never prompt or reply bodies and never auth material (the proxy never holds any: the CLIs keep their own
login).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from contop.server.statedir import DIR_MODE, SECRET_MODE

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def session_key(raw: str | None) -> str:
    """The first 8 safe characters of the session id (file-name safe), or ``default``."""
    cleaned = _SAFE.sub("", raw or "")[:8]
    return cleaned or "default"


class CallLogs:
    def __init__(self, logs_dir: Path) -> None:
        self._dir = logs_dir
        self._paths: dict[str, Path] = {}
        self._lock = threading.Lock()

    def path_for(self, session: str) -> Path:
        with self._lock:
            path = self._paths.get(session)
            if path is None:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                path = self._dir / f"llm-sub-{session}-{stamp}.log"
                self._paths[session] = path
            return path

    def write(self, session: str, record: dict[str, Any]) -> None:
        line = json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}, default=str)
        try:
            self._dir.mkdir(mode=DIR_MODE, exist_ok=True)  # the state directory itself is made (0700) at start
            fd = os.open(self.path_for(session), os.O_WRONLY | os.O_APPEND | os.O_CREAT, SECRET_MODE)
            with open(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:
            log.warning("cannot write the call log: %s", exc)
