from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.testing.server import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "home").start()
    try:
        yield proc
    finally:
        proc.stop()
