"""A disk that is slow, or full, for the code that writes state files (``contop.server.statedir.atomic_write``)."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import subprocess
import tempfile
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


class SmallDisk:
    """A real file system of its own (a small tmpfs; mounting needs root) that a test fills up and frees again:
    for a server process whose state directory is on it. Unmounted on exit, after the test stopped its server."""

    def __init__(self, where: Path, size: str = "8m", inodes: int = 2000) -> None:
        self.where = where
        self.options = f"size={size},nr_inodes={inodes}"
        self._fillers = where / "fillers"

    def __enter__(self) -> SmallDisk:
        self.where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", self.options, "tmpfs", str(self.where)], check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if subprocess.run(["umount", str(self.where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(self.where)], check=True)

    def fill(self) -> None:
        """Take every free block, then every free inode: the blocks of a tmpfs are counted per CPU, so a small
        write may still find one, but no new file (every atomic write makes one) can be created."""
        self._fillers.mkdir(exist_ok=True)
        fd = os.open(self._fillers / "blocks", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * chunk)
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            for n in itertools.count():
                (self._fillers / str(n)).touch()
        with pytest.raises(OSError, match="No space"):
            tempfile.mkstemp(dir=self.where)

    def free(self) -> None:
        shutil.rmtree(self._fillers)
