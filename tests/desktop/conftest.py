"""Fixtures of the desktop app tests: a real server and the screenshot folder. (Qt's platform is set per module.)"""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.testing.server import ServerProcess

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "desktop"

if importlib.util.find_spec("PySide6") is not None:
    from contop.desktop import singletons

    # What contop.desktop.app.application() does first; these tests make their QApplication through pytest-qt.
    # Without it, a PySide6 that drops references (6.12.0 on Python 3.11) made a run of several of these files
    # abort at exit ("Fatal Python error: bool_dealloc"), each emit() of the app having cost True one reference.
    singletons.keep_alive()


@pytest.fixture(autouse=True)
def collect_widgets_on_the_gui_thread() -> Iterator[None]:
    """Collect the cycles a test leaves (closed dialogs, pages and their callbacks) on the GUI thread when it ends.
    Left for later, the next collection may run on a worker thread of the next test, which then deletes widgets
    of the GUI thread from another thread: PySide crashes the whole run (a segmentation fault while
    "Garbage-collecting" inside an HTTP call)."""
    gc.collect()
    yield
    gc.collect()


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
