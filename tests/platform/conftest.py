"""Fixtures for platform tests: one real X session per test run, one recorder app per test."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contop.testing import recorder_app
from contop.testing.xsession import XSession, linux_adapter_for_tests, xsession_for_tests

RECORDER = Path(recorder_app.__file__)


@pytest.fixture(scope="session")
def xsession() -> Iterator[XSession]:
    yield from xsession_for_tests("1920x1080x24")


@pytest.fixture(scope="session")
def linux_adapter(xsession: XSession) -> Iterator[Any]:
    yield from linux_adapter_for_tests(xsession)


@dataclass
class RecorderApp:
    """A running recorder window and its event log."""

    proc: subprocess.Popen[bytes]
    log: Path
    ready: dict[str, Any]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def events(self) -> list[dict[str, Any]]:
        # Only whole lines: the recorder may be writing the last one while it is read (a half line is not JSON).
        lines = self.log.read_text(encoding="utf-8").split("\n")[:-1]
        return [json.loads(line) for line in lines if line.strip()]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout}s; events: {events[-20:]}")
            time.sleep(0.02)

    def last_text(self) -> str | None:
        texts = [e["value"] for e in self.events() if e["event"] == "text"]
        return texts[-1] if texts else None

    def center(self, name: str) -> tuple[int, int]:
        box = self.ready["buttons"][name] if name in self.ready["buttons"] else self.ready[name]
        return box[0] + box[2] // 2, box[1] + box[3] // 2


def launch_recorder(
    session: XSession,
    tmp_path: Path,
    *,
    title: str = "Contop Recorder",
    geometry: str = "600x400+100+100",
    color: str = "#3366cc",
) -> RecorderApp:
    log = tmp_path / f"recorder-{time.monotonic_ns()}.jsonl"
    log.touch()
    proc = session.spawn(
        "recorder",
        [sys.executable, str(RECORDER), str(log), "--title", title, "--geometry", geometry, "--color", color],
    )
    app = RecorderApp(proc, log, {})
    try:
        events = app.wait_for(lambda ev: any(e["event"] == "ready" for e in ev), timeout=30)
    except AssertionError:
        proc.kill()
        raise
    app.ready = next(e for e in events if e["event"] == "ready")
    wait_until_active(session, title)
    return app


def wait_until_active(session: XSession, title: str, timeout: float = 15.0) -> None:
    """Wait until the window manager has made the window with ``title`` the active one (slow under load)."""
    from Xlib import Xatom, display

    d = display.Display(session.display)
    try:
        root = d.screen().root
        active_atom, name_atom = d.intern_atom("_NET_ACTIVE_WINDOW"), d.intern_atom("_NET_WM_NAME")
        utf8 = d.intern_atom("UTF8_STRING")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            prop = root.get_full_property(active_atom, Xatom.WINDOW)
            if prop is not None and len(prop.value) and prop.value[0]:
                try:
                    win = d.create_resource_object("window", int(prop.value[0]))
                    name = win.get_full_property(name_atom, utf8)
                    if name is not None and name.value.decode("utf-8", "replace") == title:
                        return
                except Exception:  # destroyed between the two requests
                    pass
            time.sleep(0.02)
        raise AssertionError(f"window {title!r} never became active")
    finally:
        d.close()


@pytest.fixture
def recorder(xsession: XSession, tmp_path: Path) -> Iterator[RecorderApp]:
    app = launch_recorder(xsession, tmp_path)
    try:
        yield app
    finally:
        app.stop()
