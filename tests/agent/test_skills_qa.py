"""Findings of the skills QA: imported names are not tools, YAML aliases are refused, a tool's answer and output are
bounded and say so, a deleted built-in or skill does not come back by accident."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contop.agent.events import RecordingEvents
from contop.agent.skills.runtime import SkillRuntime
from contop.agent.skills.spec import SkillError, parse_skill_md
from contop.agent.skills.store import SkillStore
from contop.agent.skills.workflow import parse_workflow
from contop.server.skills_install import RECORD_NAME, install_builtin_skills
from contop.testing.server import ServerProcess
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(120)

PY_SKILL = "---\nname: {name}\ndescription: Python tools\nskill_type: python\n---\n\n# Tools\n"
# A self-referencing alias, and 458 bytes that expand to ten million nodes ("billion laughs").
LOOP = "---\nname: {name}\ndescription: x\nloop: &a [*a]\n---\nbody\n"
LAUGHS = (
    "---\nname: {name}\ndescription: x\nl0: &l0 [lol]\n"
    + "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 8))
    + "---\nbody\n"
)
GOOD = "---\nname: {name}\ndescription: A fine skill\n---\n\n# Fine\n"


def python_skill(root: Path, name: str, code: str) -> Path:
    folder = root / name
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(PY_SKILL.format(name=name))
    (folder / "scripts" / "tools.py").write_text(code)
    return folder


# --- 1. only the functions a script defines are tools ---------------------------------------------------------------


async def test_a_name_the_script_imports_cannot_be_called_as_a_tool(env: Env, events: RecordingEvents) -> None:
    marker = env.work / "ran"
    python_skill(
        env.state / "skills",
        "pyt",
        "import os\nfrom subprocess import check_output\n\ndef count(text):\n    return len(text)\n",
    )
    env.settings = env.settings.model_copy(update={"enabled_skills": ["pyt"]})
    command = {"args": f"touch {marker}", "shell": True}
    env.script(
        [
            {"tool": "execute_skill", "args": {"skill_name": "pyt", "tool": "check_output", "params": command}},
            {"tool": "execute_skill", "args": {"skill_name": "pyt", "tool": "system", "params": {"command": "x"}}},
            {"tool": "execute_skill", "args": {"skill_name": "pyt", "tool": "count", "params": {"text": "abc"}}},
            {"text": "done"},
        ]
    )
    result = await run_intent(env.service(), "use pyt", events)
    assert result.status == "completed", result.answer
    imported, module_attr, own = events.of("tool_result")
    for refused, name in ((imported, "check_output"), (module_attr, "system")):
        assert refused["status"] == "error", refused
        assert f"has no python tool '{name}'; its python tools are: count" in refused["message"], refused
    assert own["status"] == "success" and own["stdout"] == "3", own
    assert not marker.exists(), "the imported function ran"


async def test_a_tool_name_rebound_to_an_import_is_refused_by_the_runner(tmp_path: Path) -> None:
    """The file defines ``check_output``, so the server's check lets it through; the runner sees what it is."""
    marker = tmp_path / "ran"
    python_skill(
        tmp_path / "skills",
        "pyt",
        "def check_output(args, shell=False):\n    return 'mine'\n\n"
        "def fine():\n    return 'ok'\n\nfrom subprocess import check_output  # noqa\n",
    )
    skills = SkillRuntime(SkillStore(tmp_path / "skills"), ["pyt"])
    with pytest.raises(SkillError) as refused:
        await skills.run_python("pyt", "check_output", {"args": f"touch {marker}", "shell": True})
    message = str(refused.value)
    assert "check_output in tools.py is not a function the script defines" in message, message
    assert "subprocess.check_output" in message and "this script's are: fine" in message, message
    assert not marker.exists()
    assert (await skills.run_python("pyt", "fine", {})).value == "ok"


def test_the_runner_itself_never_calls_an_imported_name(tmp_path: Path) -> None:
    """Whatever the server asks for: the runner is the last line (defence in depth)."""
    marker = tmp_path / "ran"
    script = tmp_path / "tools.py"
    script.write_text("from subprocess import check_output\nfrom os import system\n\ndef mine():\n    return 1\n")
    for tool, params in (("check_output", {"args": f"touch {marker}", "shell": True}), ("system", {})):
        request, answer = tmp_path / "request.json", tmp_path / "answer.json"
        request.write_text(json.dumps({"paths": [str(script)], "tool": tool, "params": params}))
        subprocess.run(
            [sys.executable, "-m", "contop.agent.skills.pyrunner", str(request), str(answer)], check=True, timeout=60
        )
        assert json.loads(answer.read_text()) == {"missing": True}
    assert not marker.exists()


# --- 2 and 3. YAML aliases are refused ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [LOOP, LAUGHS, "---\nname: {name}\ndescription: &d x\nother: *d\n---\n"])
def test_yaml_aliases_in_skill_md_are_refused_at_once(text: str) -> None:
    started = time.monotonic()
    with pytest.raises(SkillError) as refused:
        parse_skill_md(text.format(name="rec"), expected_name="rec")
    assert time.monotonic() - started < 0.5
    assert refused.value.status == 422
    assert "YAML aliases (*name) are not allowed in SKILL.md" in str(refused.value)
    assert "on line " in str(refused.value)


def test_yaml_aliases_and_deep_nesting_in_workflows_are_refused() -> None:
    with pytest.raises(SkillError, match=r"YAML aliases \(\*name\) are not allowed in workflow go") as alias:
        parse_workflow("steps: &s\n  - tool: wait\n    args: {seconds: 1}\nagain: *s\n", "go")
    assert alias.value.status == 422
    with pytest.raises(SkillError, match="nested too deeply"):
        parse_workflow("steps: " + "[" * 3000, "deep")


def test_frontmatter_nested_too_deeply_is_an_invalid_skill_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "SKILL.md").write_text("---\nname: deep\ndescription: x\nl: " + "[" * 3000 + "\n---\n")
    (tmp_path / "fine").mkdir()
    (tmp_path / "fine" / "SKILL.md").write_text(GOOD.format(name="fine"))
    infos = {info.name: info for info in SkillStore(tmp_path).discover()}
    assert infos["deep"].meta is None and "nested too deeply" in infos["deep"].error
    assert infos["fine"].meta is not None


async def test_a_skill_with_an_alias_loop_does_not_break_agent_runs(env: Env, events: RecordingEvents) -> None:
    for name in ("rec", "laughs"):
        folder = env.state / "skills" / name
        folder.mkdir(parents=True)
        text = LOOP if name == "rec" else LAUGHS
        (folder / "SKILL.md").write_text(text.format(name=name))
    (env.state / "skills" / "fine").mkdir()
    (env.state / "skills" / "fine" / "SKILL.md").write_text(GOOD.format(name="fine"))
    env.settings = env.settings.model_copy(update={"enabled_skills": ["fine", "laughs"]})
    env.script([{"text": "hello"}])
    started = time.monotonic()
    result = await run_intent(env.service(), "hi", events)
    assert result.status == "completed", result.answer
    assert result.answer == "hello"
    assert time.monotonic() - started < 10
    section = SkillStore(env.state / "skills").prompt_section(["fine", "laughs", "rec"])
    assert "- fine (" in section and "laughs" not in section and "rec" not in section


def test_alias_skills_are_listed_with_their_error_and_a_put_of_one_is_422(
    http: httpx.Client, server: ServerProcess
) -> None:
    for name, text in (("rec", LOOP), ("laughs", LAUGHS)):
        folder = server.home / "skills" / name
        folder.mkdir()
        (folder / "SKILL.md").write_text(text.format(name=name))
    started = time.monotonic()
    listing = http.get("/api/skills")
    assert listing.status_code == 200, listing.text
    assert time.monotonic() - started < 2
    skills = {s["name"]: s for s in listing.json()}
    for name in ("rec", "laughs"):
        assert "YAML aliases (*name) are not allowed in SKILL.md" in skills[name]["error"], skills[name]
    assert "error" not in skills["web-research"]
    assert http.post("/api/skills", json={"name": "target", "description": "A target"}).status_code == 201
    before = (server.home / "skills" / "target" / "SKILL.md").read_bytes()
    for text in (LOOP, LAUGHS):
        started = time.monotonic()
        put = http.put("/api/skills/target", json={"content": text.format(name="target")})
        assert put.status_code == 422, put.text
        assert time.monotonic() - started < 2
        assert "YAML aliases (*name) are not allowed in SKILL.md" in put.json()["detail"]
        assert http.get("/health").status_code == 200
    assert (server.home / "skills" / "target" / "SKILL.md").read_bytes() == before
    enable = http.post("/api/skills/rec/enable")
    assert enable.status_code == 422 and "YAML aliases" in enable.json()["detail"]
    assert "Traceback" not in server.all_logs()


# --- 7. a skill deleted by hand leaves no enabled entry for a new one of its name -----------------------------------


def test_a_new_skill_with_the_name_of_one_deleted_by_hand_starts_disabled(
    http: httpx.Client, server: ServerProcess
) -> None:
    assert http.post("/api/skills", json={"name": "ghost", "description": "First"}).status_code == 201
    assert http.post("/api/skills/ghost/enable").status_code == 200
    shutil.rmtree(server.home / "skills" / "ghost")  # by hand: settings still list it
    assert "ghost" in http.get("/api/settings").json()["enabled_skills"]
    created = http.post("/api/skills", json={"name": "ghost", "description": "Second"})
    assert created.status_code == 201 and created.json()["enabled"] is False
    assert "ghost" not in http.get("/api/settings").json()["enabled_skills"]
    assert {s["name"]: s for s in http.get("/api/skills").json()}["ghost"]["enabled"] is False
    # a create that fails because the skill exists changes nothing
    assert http.post("/api/skills/ghost/enable").status_code == 200
    assert http.post("/api/skills", json={"name": "ghost", "description": "Third"}).status_code == 409
    assert "ghost" in http.get("/api/settings").json()["enabled_skills"]


async def test_create_skill_by_the_agent_drops_a_stale_enabled_entry(env: Env, events: RecordingEvents) -> None:
    settings_file = env.state / "settings.json"
    settings_file.write_text(json.dumps({"enabled_skills": ["other", "ghost"], "gemini_api_key": "kept"}))
    env.settings = env.settings.model_copy(update={"enabled_skills": ["other", "ghost"]})
    env.script(
        [
            {"tool": "create_skill", "args": {"name": "ghost", "description": "A new one"}},
            {"tool": "load_skill", "args": {"skill_name": "ghost"}},
            {"text": "done"},
        ]
    )
    result = await run_intent(env.service(), "make ghost", events)
    assert result.status == "completed", result.answer
    created, loaded = events.of("tool_result")
    assert created["status"] == "success", created
    assert loaded["status"] == "error" and "not enabled" in loaded["message"], loaded
    saved = json.loads(settings_file.read_text())
    assert saved["enabled_skills"] == ["other"] and saved["gemini_api_key"] == "kept"


# --- 4 and 5. a tool's answer is bounded, its cut output is reported -----------------------------------------------


async def test_a_python_tools_huge_answer_is_refused_saying_so(tmp_path: Path) -> None:
    python_skill(
        tmp_path / "skills",
        "big",
        "import json, os, sys\n\n"
        "def returns():\n    return 'y' * (2 * 2**20)\n\n"
        "def just_fits():\n    return 'y' * (2**20 - 100)\n\n"
        "def writes():\n"  # past the runner: the server's own check
        "    with open(sys.argv[2], 'w') as fh:\n"
        "        fh.write(json.dumps({'value': 'y' * (3 * 2**20)}))\n"
        "    os._exit(0)\n",
    )
    skills = SkillRuntime(SkillStore(tmp_path / "skills"), ["big"])
    with pytest.raises(SkillError, match=r"the tool returned 2\.0 MB; only results up to 1 MiB are accepted"):
        await skills.run_python("big", "returns", {})
    with pytest.raises(SkillError, match=r"writes of skill 'big' returned 3\.0 MB; only results up to 1 MiB"):
        await skills.run_python("big", "writes", {})
    assert len((await skills.run_python("big", "just_fits", {})).value) == 2**20 - 100


async def test_output_cut_at_50_kb_is_reported(env: Env, events: RecordingEvents) -> None:
    python_skill(env.state / "skills", "loud", "def shout():\n    print('x' * 80_000)\n    return 'ok'\n")
    env.settings = env.settings.model_copy(update={"enabled_skills": ["loud"]})
    env.script([{"tool": "execute_skill", "args": {"skill_name": "loud", "tool": "shout"}}, {"text": "done"}])
    result = await run_intent(env.service(), "shout", events)
    assert result.status == "completed", result.answer
    ran = events.of("tool_result")[0]
    assert ran["status"] == "success", ran
    assert ran["result"]["truncated"] is True, ran
    assert "stderr truncated" in ran["result"]["note"] and "dropped" in ran["result"]["note"], ran


# --- 6. an unreadable record of installed built-ins brings none back ------------------------------------------------


@pytest.mark.parametrize("record", ["{not json", '{"a": 1}', "[1, 2]"])
def test_an_unreadable_record_does_not_bring_back_a_deleted_builtin(
    tmp_path: Path, record: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "src"
    for name in ("alpha", "beta"):
        (source / name).mkdir(parents=True)
        (source / name / "SKILL.md").write_text(GOOD.format(name=name))
    target = tmp_path / "skills"
    assert install_builtin_skills(target, source) == ["alpha", "beta"]
    shutil.rmtree(target / "alpha")
    (target / RECORD_NAME).write_text(record)
    with caplog.at_level(logging.WARNING, logger="contop.server.skills_install"):
        assert install_builtin_skills(target, source) == []
    assert not (target / "alpha").exists()
    assert json.loads((target / RECORD_NAME).read_text()) == ["alpha", "beta"]
    assert "unreadable" in caplog.text
