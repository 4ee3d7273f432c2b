"""What the agent started on the host dies with a server killed outright; what it left running on purpose does not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contop.testing.server import ServerProcess
from contop.tools.cli import group_members
from tests.client.test_run_cli import local_env, run_env

pytestmark = pytest.mark.slow


def _tool(server: ServerProcess, command: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "contop", "run", "--tool", "execute_cli", "--args", json.dumps({"command": command})]
    return subprocess.Popen(
        argv, env=run_env(local_env(server)), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _read_pid(path: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"the command never wrote {path}")


def _gone_within(sid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while group_members(sid, session=True):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_command_running_when_the_server_is_killed_dies_with_it(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home").start()
    pidfile = tmp_path / "shell.pid"
    run = _tool(server, f"echo $$ > {pidfile}; sleep 300 & sleep 301; wait")
    sid = 0
    try:
        sid = _read_pid(pidfile)
        time.sleep(0.3)  # both sleeps started
        assert len(group_members(sid, session=True)) == 3
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        assert _gone_within(sid, 5), "the command outlived its server"
        run.communicate(timeout=30)  # `contop run` notices the desktop is gone
    finally:
        run.kill()
        run.communicate()
        for pid in group_members(sid, session=True) if sid else []:
            os.kill(pid, signal.SIGKILL)
        server.stop()


def test_what_a_finished_command_left_running_stays_when_the_server_is_killed(tmp_path: Path) -> None:
    """A command may start something meant to outlive it (`nohup server &`): the server's death does not stop it."""
    server = ServerProcess(tmp_path / "home").start()
    pidfile = tmp_path / "bg.pid"
    pid = 0
    try:
        run = _tool(server, f"sleep 302 > /dev/null 2>&1 & echo $! > {pidfile}")
        _out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        pid = _read_pid(pidfile)
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        time.sleep(1)
        assert Path(f"/proc/{pid}").exists() and "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
        server.stop()


def _helper_of(server: ServerProcess) -> int:
    """The pid of the server's reaper helper, from /proc (its child running contop/tools/reaper.py)."""
    assert server.proc is not None
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == server.proc.pid and b"reaper.py" in cmdline:
            return int(entry.name)
    raise AssertionError("the server has no reaper helper")


def test_a_helper_started_again_still_stops_the_commands_the_first_one_knew(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home").start()
    first_pid, second_pid = tmp_path / "first.pid", tmp_path / "second.pid"
    runs = [_tool(server, f"echo $$ > {first_pid}; sleep 303; wait")]
    sids: list[int] = []
    try:
        sids.append(_read_pid(first_pid))
        os.kill(_helper_of(server), signal.SIGKILL)  # the helper dies; the first command runs on
        time.sleep(0.3)
        runs.append(_tool(server, f"echo $$ > {second_pid}; sleep 304; wait"))  # a helper is started again
        sids.append(_read_pid(second_pid))
        time.sleep(0.3)
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        assert all(_gone_within(sid, 5) for sid in sids), "a command outlived its server"
    finally:
        for run in runs:
            run.kill()
            run.communicate()
        for pid in [p for sid in sids for p in group_members(sid, session=True)]:
            os.kill(pid, signal.SIGKILL)
        server.stop()
