"""Fixtures of the desktop app tests: a real server and the screenshot folder. (Qt's platform is set per module.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.testing.server import ServerProcess

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "desktop"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "home").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
