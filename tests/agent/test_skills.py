"""The skills engine: discovery, validation, conflicts, create/edit, workflows and python tools in a real run."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from contop.agent.events import RecordingEvents
from contop.agent.skills.spec import SkillError, check_name, parse_skill_md
from contop.agent.skills.store import SkillStore
from contop.agent.skills.workflow import bind, parse_workflow
from contop.security.catalog import KNOWN_TOOLS
from contop.server.skills_install import builtin_skills_dir, install_builtin_skills
from contop.tools.gui import GUI_ACTIONS
from contop.tools.registry import all_tools
from tests.agent.conftest import Env, run_intent

TOOLS = dict(all_tools())

pytestmark = pytest.mark.timeout(60)

GOOD = "---\nname: demo\ndescription: A demo skill\nversion: 2.0.0\nskill_type: workflow\n---\n\n# Demo\nDo it.\n"


def make(root: Path, name: str, text: str | None = None, files: dict[str, str] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(text if text is not None else GOOD.replace("name: demo", f"name: {name}"))
    for rel, content in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content)
    return folder


def test_the_six_builtin_skills_are_valid_and_installed(tmp_path: Path) -> None:
    source = builtin_skills_dir()
    assert source is not None
    added = install_builtin_skills(tmp_path / "skills")
    assert sorted(added) == [
        "advanced-workflows", "cli-command-patterns", "ide-chat", "office-documents", "skill-authoring",
        "web-research",
    ]  # fmt: skip
    store = SkillStore(tmp_path / "skills")
    infos = store.discover()
    assert all(info.meta is not None for info in infos), [i.error for i in infos]
    for info in infos:
        for name, path in store.workflow_files(info.name).items():
            steps = parse_workflow(path.read_text(), name).steps
            assert steps and all(step.tool in KNOWN_TOOLS for step in steps)
            for step in steps:  # every argument is one the tool takes (a wrong name fails the step at run time)
                params = inspect.signature(TOOLS[step.tool]).parameters
                assert set(step.args) <= set(params), (info.name, name, step.tool, sorted(step.args))
                if step.tool == "execute_gui":
                    assert step.args["action"] in GUI_ACTIONS


def test_agent_tools_are_reserved() -> None:
    from contop.agent.planning import PLAN_TOOL
    from contop.agent.skills.store import AGENT_TOOLS

    assert PLAN_TOOL in AGENT_TOOLS


@pytest.mark.parametrize("bad", ["../etc", "Demo", "a/b", "", "-x", "a" * 65, "x.y", ".."])
def test_names_are_checked(bad: str) -> None:
    with pytest.raises(SkillError):
        check_name(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no frontmatter", "must start"),
        ("---\nname: demo\n", "not closed"),
        ("---\n- a list\n---\n", "mapping"),
        ("---\nname: demo\n---\n", "description"),
        ("---\ndescription: x\n---\n", "'name' is required"),
        ("---\nname: other\ndescription: x\n---\n", "must match"),
        ("---\nname: demo\ndescription: x\nskill_type: magic\n---\n", "skill_type"),
        ("---\nname: demo\ndescription: x\ntools: nope\n---\n", "tools"),
        ("---\nname: [\n---\n", "not valid YAML"),
    ],
)
def test_frontmatter_validation(text: str, message: str) -> None:
    with pytest.raises(SkillError, match=message) as info:
        parse_skill_md(text, expected_name="demo")
    assert info.value.status == 422


def test_discovery_lists_invalid_skills_with_their_error(tmp_path: Path) -> None:
    make(tmp_path, "demo")
    make(tmp_path, "broken", "---\nname: broken\n---\n")
    (tmp_path / "not-a-skill").mkdir()
    infos = {i.name: i for i in SkillStore(tmp_path).discover()}
    assert set(infos) == {"demo", "broken"}
    assert infos["demo"].meta is not None and infos["demo"].meta.version == "2.0.0"
    assert infos["broken"].meta is None and "description" in infos["broken"].error


def test_create_edit_and_conflicts(tmp_path: Path) -> None:
    store = SkillStore(tmp_path)
    store.create("my-skill", "Does things")
    assert parse_skill_md(store.read("my-skill"), expected_name="my-skill")[0].description == "Does things"
    with pytest.raises(SkillError) as exists:
        store.create("my-skill", "again")
    assert exists.value.status == 409
    with pytest.raises(SkillError) as bad:
        store.update("my-skill", "---\nname: my-skill\n---\n")
    assert bad.value.status == 422 and "Does things" in store.read("my-skill")  # nothing written
    with pytest.raises(SkillError) as missing:
        store.update("nope", GOOD)
    assert missing.value.status == 404
    make(tmp_path, "py-a", files={"scripts/tools.py": "def shout(text):\n    return text.upper()\n"})
    make(
        tmp_path, "py-b", files={"scripts/more.py": "def shout(text):\n    return text\n\ndef _private():\n    pass\n"}
    )
    make(tmp_path, "py-c", files={"scripts/x.py": "def read_file(path):\n    return path\n"})
    builtin = frozenset(KNOWN_TOOLS)
    assert store.conflicts("py-a", [], builtin) == []
    assert store.conflicts("py-b", ["py-a"], builtin) == ["tool 'shout' is also provided by enabled skill 'py-a'"]
    assert "built-in" in store.conflicts("py-c", [], builtin)[0]


def test_workflow_binding_quotes_shell_parameters() -> None:
    workflow = parse_workflow(
        "params:\n  path: {required: true}\n  n: {default: 2}\nsteps:\n"
        "  - tool: execute_cli\n    args: {command: 'ls {{path}}'}\n  - tool: wait\n    args: {seconds: '{{n}}'}\n",
        "wf",
    )
    steps = bind(workflow, {"path": "a b; rm -rf ~"})
    assert steps[0].args["command"] == "ls 'a b; rm -rf ~'"
    assert steps[1].args["seconds"] == 2
    with pytest.raises(SkillError, match="needs the parameter 'path'"):
        bind(workflow, {})
    with pytest.raises(SkillError, match="cannot call execute_skill"):
        parse_workflow("steps:\n  - tool: execute_skill\n", "loop")


async def test_a_workflow_skill_runs_through_the_toolset(env: Env, events: RecordingEvents) -> None:
    out = env.work / "wf-out"
    make(
        env.state / "skills",
        "maker",
        files={
            "workflows/make.yaml": "params:\n  dir: {required: true}\nsteps:\n"
            "  - tool: execute_cli\n    args: {command: 'mkdir -p {{dir}} && echo made > {{dir}}/f.txt'}\n"
            "  - tool: read_file\n    args: {file_path: '{{dir}}/f.txt'}\n",
            "scripts/helpers.py": "def shout(text: str) -> str:\n    return text.upper() + '!'\n",
        },
    )
    env.settings = env.settings.model_copy(update={"enabled_skills": ["maker"]})
    env.script(
        [
            {"tool": "load_skill", "args": {"skill_name": "maker"}},
            {"tool": "execute_skill", "args": {"skill_name": "maker", "params": {"dir": str(out)}}},
            {"tool": "execute_skill", "args": {"skill_name": "maker", "tool": "shout", "params": {"text": "hi"}}},
            {"text": "done"},
        ]
    )
    result = await run_intent(env.service(), "use the maker skill", events)
    assert result.status == "completed", result.answer
    assert (out / "f.txt").read_text() == "made\n"
    results = events.of("tool_result")
    assert [r["status"] for r in results] == ["success"] * 3
    assert results[0]["result"]["instructions"].startswith("# Demo") and results[0]["result"]["workflows"] == ["make"]
    assert [s["tool"] for s in results[1]["result"]["steps"]] == ["execute_cli", "read_file"]
    assert results[2]["stdout"] == "HI!"
    # the workflow's steps went through the gate: they are in the audit log like any call
    await env.audit.flush()  # type: ignore[union-attr]
    audit = "".join(p.read_text() for p in (env.state / "logs").glob("session-*.jsonl"))
    assert audit.count('"tool_end"') == 5
    # the system prompt lists the enabled skill's metadata, not its body
    section = SkillStore(env.state / "skills").prompt_section(["maker"])
    assert "- maker (workflow, v2.0.0): A demo skill Workflows: make." in section and "Do it." not in section
    assert SkillStore(env.state / "skills").prompt_section([]) == ""


async def test_a_disabled_skill_does_not_run(env: Env, events: RecordingEvents) -> None:
    make(env.state / "skills", "sleepy", files={"scripts/t.py": "def boom():\n    raise SystemExit(3)\n"})
    env.script([{"tool": "execute_skill", "args": {"skill_name": "sleepy", "tool": "boom"}}, {"text": "ok"}])
    await run_intent(env.service(), "x", events)
    result = events.of("tool_result")[0]
    assert result["status"] == "error" and "not enabled" in result["message"]


async def test_the_fetch_page_workflow_fails_when_the_page_does(tmp_path: Path) -> None:
    import http.server
    import threading

    from contop.tools.cli import execute_cli
    from contop.tools.context import ToolContext

    class Pages(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/ok":
                self.send_error(404)
                return
            body = b"<html><body><h1>Title</h1>\n\n<p>Some text</p></body></html>\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    path = builtin_skills_dir() / "web-research" / "workflows" / "fetch-page.yaml"
    workflow = parse_workflow(path.read_text(), "fetch-page")
    ctx = ToolContext(session_id="t", state_dir=tmp_path / "state", home=str(tmp_path), cwd=str(tmp_path))
    try:
        ok = await execute_cli(ctx, bind(workflow, {"url": f"{base}/ok"})[0].args["command"])
        assert ok["status"] == "success" and ok["stdout"] == "Title\nSome text\n"
        missing = await execute_cli(ctx, bind(workflow, {"url": f"{base}/gone"})[0].args["command"])
        assert missing["status"] == "error" and missing["exit_code"] == 22  # curl -f: the HTTP error
        assert "404" in missing["stderr"]
    finally:
        server.shutdown()
        server.server_close()


async def test_load_skill_on_a_skill_md_that_is_not_utf8_is_a_tool_error(env: Env, events: RecordingEvents) -> None:
    folder = make(env.state / "skills", "latin1")
    (folder / "SKILL.md").write_bytes((GOOD.replace("demo", "latin1") + "Café\n").encode("latin-1"))
    env.settings = env.settings.model_copy(update={"enabled_skills": ["latin1"]})
    env.script([{"tool": "load_skill", "args": {"skill_name": "latin1"}}, {"text": "could not load it"}])
    result = await run_intent(env.service(), "use latin1", events)
    assert result.status == "completed", result.answer
    failed = events.of("tool_result")[0]
    assert failed["status"] == "error" and "not UTF-8" in failed["message"], failed
