"""`contop run`'s approval questions on a real terminal (a pty): asked one at a time, each answer going to its own
call, and withdrawn when the desktop is gone instead of holding the run."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contop.testing.server import ServerProcess
from tests.client.test_run_cli import local_env, run_env, scripted_server

pytestmark = pytest.mark.slow


def _start(server: ServerProcess, terminal: int, err: Path, *argv: str) -> subprocess.Popen[bytes]:
    with err.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "contop", "run", *argv], stdin=terminal, stdout=subprocess.DEVNULL,
            stderr=sink, env=run_env(local_env(server)),
        )  # fmt: skip


def _wait_for(err: Path, text: str, count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while err.read_text(errors="replace").count(text) < count:
        assert time.monotonic() < deadline, f"never saw {text!r} x{count}:\n{err.read_text(errors='replace')}"
        time.sleep(0.05)


def test_a_question_is_withdrawn_when_the_desktop_is_gone(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    server = scripted_server(tmp_path, [{"tool": "execute_cli", "args": {"command": f"rm -r {victim}"}}])
    err = tmp_path / "stderr"
    controller, terminal = pty.openpty()
    run = _start(server, terminal, err, "remove it")
    try:
        _wait_for(err, "[y/N]")
        assert "(the desktop waits 60 s)" in err.read_text()
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        killed = time.monotonic()
        assert run.wait(timeout=30) == 1, err.read_text()  # nobody typed anything
        assert time.monotonic() - killed < 20
        assert "the desktop stopped answering" in err.read_text()
    finally:
        run.kill()
        run.wait()
        os.close(terminal)
        os.close(controller)
        server.stop()
    assert victim.is_dir()


def test_two_questions_asked_at_once_are_answered_in_turn(tmp_path: Path) -> None:
    victims = [tmp_path / "victim-a", tmp_path / "victim-b"]
    for victim in victims:
        victim.mkdir()
    calls = [{"tool": "execute_cli", "args": {"command": f"rm -r {victim}"}} for victim in victims]
    server = scripted_server(tmp_path, [{"tools": calls}, {"text": "Done."}])
    err = tmp_path / "stderr"
    controller, terminal = pty.openpty()
    run = _start(server, terminal, err, "remove both")
    try:
        _wait_for(err, "[y/N]")
        first = err.read_text()
        os.write(controller, b"y\n")
        _wait_for(err, "[y/N]", count=2)
        os.write(controller, b"n\n")
        assert run.wait(timeout=60) == 0, err.read_text()
    finally:
        run.kill()
        run.wait()
        os.close(terminal)
        os.close(controller)
        server.stop()
    approved = next(v for v in victims if str(v) in first)
    denied = next(v for v in victims if v != approved)
    assert not approved.exists(), "the approved call did not run"
    assert denied.is_dir(), "the denied call ran"
