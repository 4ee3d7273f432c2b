"""A NUL character in a tool's argument: the real server runs commands on uvloop, which cuts a process argument at
its first NUL without a word, so the command that ran was a prefix the gate never judged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contop.client import ContopClient
from contop.core.messages import ToolCall, ToolCallPayload, ToolResult
from contop.security.decision import GateContext
from contop.security.gate import classify_command
from contop.testing.server import ServerProcess
from tests.transport.conftest import pair

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(
    "command",
    [
        "chmod -R 777 /\x00tmp/work",  # what would run: chmod -R 777 /
        "rm -rf ~\x00/tmp/work/x",
        "cp a.py b.py\x00.new",  # overwriting an existing file asks; 'b.py\0.new' looked like a new one
    ],
)
def test_the_gate_does_not_judge_a_command_holding_a_nul(command: str, tmp_path: Path) -> None:
    ctx = GateContext(cwd=str(tmp_path), home=str(tmp_path), state_dir=str(tmp_path / "state"))
    decision = classify_command(command, ctx)
    assert decision.verdict == "block" and "NUL character" in decision.reason


async def test_a_command_with_a_nul_is_refused_and_runs_nowhere(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.py").write_text("new = 1\n")
    (work / "b.py").write_text("precious = 1\n")
    server = ServerProcess(tmp_path / "home")
    try:
        await asyncio.to_thread(server.start)
        async with ContopClient(pair(server)["url"], video=False) as client:
            args = {"command": f"cd {work} && cp a.py b.py\x00.new"}
            call = ToolCall(payload=ToolCallPayload(tool="execute_cli", args=args))
            result = await client.request(call, expect_type="tool_result", timeout=60)
        assert isinstance(result, ToolResult)
        data = result.to_dict()["payload"]
        assert data["status"] == "invalid_args" and "NUL character" in str(data), data
        assert (work / "b.py").read_text() == "precious = 1\n"
    finally:
        await asyncio.to_thread(server.stop)
