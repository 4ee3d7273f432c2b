"""A disk that is slow, or full, for the code that writes state files (``contop.server.statedir.atomic_write``)."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import pytest

import contop.server.statedir as statedir


class SlowDisk:
    """``atomic_write`` taking ``delay`` seconds, as on a busy disk; records what it wrote and from which thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
        self.delay = delay
        self.writes: list[bytes] = []
        self.threads: set[str] = set()
        self.started = threading.Event()
        real = statedir.atomic_write

        def slow(path: Path, data: bytes, *, mode: int = statedir.SECRET_MODE) -> None:
            self.started.set()
            time.sleep(self.delay)
            real(path, data, mode=mode)
            self.writes.append(data)
            self.threads.add(threading.current_thread().name)

        monkeypatch.setattr(statedir, "atomic_write", slow)


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path, data: bytes, *, mode: int = statedir.SECRET_MODE) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(statedir, "atomic_write", refuse)
