"""``contop run`` as a user runs it: a subprocess against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from contop.testing.server import ServerProcess
from tests.transport.conftest import pair

pytestmark = pytest.mark.slow


def contop_run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("CONTOP_PAIR_URL", "CONTOP_HOME", "CONTOP_PORT")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "contop", "run", *argv], capture_output=True, text=True, timeout=90, env=full_env
    )


def test_tool_call_prints_the_result_and_exits_0(server: ServerProcess) -> None:
    done = contop_run("--pair", pair(server)["url"], "--tool", "execute_cli", "--args", '{"command": "echo run-ok"}')
    assert done.returncode == 0, done.stderr
    assert "run-ok" in done.stdout


def test_json_prints_one_object_per_message(server: ServerProcess) -> None:
    env = {"CONTOP_PAIR_URL": pair(server)["url"]}
    done = contop_run("--json", "--tool", "get_action_history", env=env)
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    assert messages[-1]["type"] == "tool_result" and messages[-1]["payload"]["status"] == "success"


def test_intent_without_an_agent_says_so_and_fails(server: ServerProcess) -> None:
    done = contop_run("--pair", pair(server)["url"], "open the calculator")
    assert done.returncode == 1
    assert "not_available" in done.stderr and "user_intent" in done.stderr


def test_pairs_through_the_local_server_when_no_url_is_given(server: ServerProcess) -> None:
    env = {"CONTOP_HOME": str(server.home), "CONTOP_PORT": str(server.port)}
    done = contop_run("--tool", "execute_cli", "--args", '{"command": "echo local"}', env=env)
    assert done.returncode == 0, done.stderr
    assert "local" in done.stdout


def test_bad_arguments() -> None:
    assert contop_run("--tool", "x", "--args", "[1]", "--pair", "http://h/#p=x").returncode == 2
    assert contop_run("--pair", "http://h/#p=x").returncode == 2  # neither TEXT nor --tool
    done = contop_run("--pair", "http://127.0.0.1:1/#p=notbase64!", "hello")
    assert done.returncode == 2 and "pairing" in done.stderr
