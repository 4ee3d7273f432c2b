"""A skill's python tools run in a process of their own: without the server's secrets, killed when stuck."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contop.agent.skills import runtime as runtime_module
from contop.agent.skills.runtime import SkillRuntime
from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import SkillStore

pytestmark = pytest.mark.timeout(60)

SKILL = "---\nname: tooly\ndescription: Python tools\nversion: 1.0.0\nskill_type: python\n---\n\n# Tooly\n"
TOOLS = """
import asyncio, os, sys, time

def env(name):
    return os.environ.get(name)

def whoami():
    return {"pid": os.getpid(), "cwd": os.getcwd()}

def chatty(n: int):
    print("working", n)
    os.system("echo from a child process")
    return n * 2

async def later(x):
    await asyncio.sleep(0.01)
    return [x, x]

def fails():
    raise RuntimeError("the tool broke")

def leaves():
    os._exit(3)

def sleeps():
    time.sleep(60)

def odd():
    return {1, 2}
"""


@pytest.fixture
def skills(tmp_path: Path) -> SkillRuntime:
    folder = tmp_path / "skills" / "tooly"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL)
    (folder / "scripts" / "tools.py").write_text(TOOLS)
    return SkillRuntime(SkillStore(tmp_path / "skills"), ["tooly"])


async def test_a_python_tool_never_sees_the_servers_secrets(
    skills: SkillRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    monkeypatch.setenv("CONTOP_HOME", "/somewhere/private")
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert (await skills.run_python("tooly", "env", {"name": "OPENAI_API_KEY"})).value is None
    assert (await skills.run_python("tooly", "env", {"name": "CONTOP_HOME"})).value is None
    assert (await skills.run_python("tooly", "env", {"name": "LANG"})).value == "C.UTF-8"


async def test_it_runs_in_its_own_process_in_the_sessions_folder(skills: SkillRuntime, tmp_path: Path) -> None:
    ran = await skills.run_python("tooly", "whoami", {}, cwd=str(tmp_path))
    assert ran.value["pid"] != os.getpid() and ran.value["cwd"] == str(tmp_path)


async def test_what_it_prints_is_its_output_and_the_value_its_answer(skills: SkillRuntime) -> None:
    ran = await skills.run_python("tooly", "chatty", {"n": 21})
    assert ran.value == 42
    assert "working 21" in ran.output and "from a child process" in ran.output
    assert (await skills.run_python("tooly", "later", {"x": "a"})).value == ["a", "a"]
    assert (await skills.run_python("tooly", "odd", {})).value == "{1, 2}"  # not JSON: its repr


@pytest.mark.parametrize(
    ("tool", "params", "says"),
    [
        ("fails", {}, "fails raised RuntimeError: the tool broke"),
        ("leaves", {}, "ended without an answer (exit code 3)"),
        ("chatty", {"m": 1}, "chatty: missing a required argument: 'n'"),
        ("nope", {}, "has no python tool 'nope'"),
        ("_private", {}, "has no python tool '_private'"),
    ],
)
async def test_failures_are_reported_as_such(skills: SkillRuntime, tool: str, params: dict, says: str) -> None:
    with pytest.raises(SkillError, match=says.replace("(", r"\(").replace(")", r"\)")):
        await skills.run_python("tooly", tool, params)


async def test_a_stuck_tool_is_stopped(skills: SkillRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "PYTHON_TOOL_TIMEOUT_S", 1.0)
    with pytest.raises(SkillError, match="did not finish within 1 s"):
        await skills.run_python("tooly", "sleeps", {})


async def test_a_module_in_the_sessions_folder_does_not_hijack_the_runner(skills: SkillRuntime, tmp_path: Path) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "json.py").write_text("open(__file__ + '.ran', 'w').close()\nraise SystemExit(3)\n")
    ran = await skills.run_python("tooly", "whoami", {}, cwd=str(folder))
    assert ran.value["cwd"] == str(folder)
    assert not (folder / "json.py.ran").exists()
