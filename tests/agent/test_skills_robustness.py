"""One bad skill never breaks the others: text UTF-8 cannot store, non-text frontmatter, a tool's traceback."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from contop.agent.events import RecordingEvents
from contop.agent.skills.runtime import SkillRuntime
from contop.agent.skills.spec import SkillError, parse_skill_md
from contop.agent.skills.store import SkillStore
from contop.testing.server import ServerProcess
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(120)

# ASCII on disk and on the wire, but YAML turns the escape into a lone surrogate, which UTF-8 cannot store
ESCAPED = '---\nname: {name}\ndescription: "bad \\uD800 yaml escape"\n---\nbody\n'
GOOD = "---\nname: {name}\ndescription: A fine skill\n---\n\n# Fine\nDo it.\n"


def listed(http: httpx.Client) -> dict[str, dict]:
    response = http.get("/api/skills")
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()}


def test_a_put_with_a_yaml_escape_utf8_cannot_store_is_refused_and_nothing_is_written(
    http: httpx.Client, server: ServerProcess
) -> None:
    assert http.post("/api/skills", json={"name": "my-skill", "description": "Mine"}).status_code == 201
    before = (server.home / "skills" / "my-skill" / "SKILL.md").read_bytes()
    put = http.put("/api/skills/my-skill", json={"content": ESCAPED.format(name="my-skill")})
    assert put.status_code == 422, put.text
    assert "'description'" in put.json()["detail"] and "UTF-8" in put.json()["detail"]
    assert (server.home / "skills" / "my-skill" / "SKILL.md").read_bytes() == before
    assert listed(http)["my-skill"]["description"] == "Mine"
    got = http.get("/api/skills/my-skill")
    assert got.status_code == 200 and got.json()["content"].encode() == before


def test_a_put_whose_body_utf8_cannot_store_is_refused(http: httpx.Client, server: ServerProcess) -> None:
    assert http.post("/api/skills", json={"name": "body-skill", "description": "Body"}).status_code == 201
    before = (server.home / "skills" / "body-skill" / "SKILL.md").read_bytes()
    raw = b'{"content": "---\\nname: body-skill\\ndescription: d\\n---\\nline one\\nbad \\ud800 here\\n"}'
    put = http.put("/api/skills/body-skill", content=raw, headers={"content-type": "application/json"})
    assert put.status_code == 422, put.text
    assert "UTF-8" in put.json()["detail"] and "line 6" in put.json()["detail"]
    assert (server.home / "skills" / "body-skill" / "SKILL.md").read_bytes() == before
    assert "body-skill" in listed(http)


def test_a_post_with_a_description_utf8_cannot_store_creates_nothing(http: httpx.Client, server: ServerProcess) -> None:
    raw = b'{"name": "surrogate-post", "description": "bad \\ud800 x"}'
    post = http.post("/api/skills", content=raw, headers={"content-type": "application/json"})
    assert post.status_code == 422, post.text
    assert "description" in post.json()["detail"] and "UTF-8" in post.json()["detail"]
    assert not (server.home / "skills" / "surrogate-post").exists()
    assert "surrogate-post" not in listed(http)


def test_a_hand_written_skill_md_with_such_an_escape_is_listed_as_broken(
    http: httpx.Client, server: ServerProcess
) -> None:
    folder = server.home / "skills" / "by-hand"
    folder.mkdir()
    (folder / "SKILL.md").write_text(ESCAPED.format(name="by-hand"), encoding="utf-8")
    skills = listed(http)
    assert "UTF-8" in skills["by-hand"]["error"] and skills["by-hand"]["description"] == ""
    assert "web-research" in skills and "error" not in skills["web-research"]  # the others are still listed
    got = http.get("/api/skills/by-hand")
    assert got.status_code == 200, got.text
    assert "UTF-8" in got.json()["error"] and got.json()["content"] == ESCAPED.format(name="by-hand")  # to fix it
    enable = http.post("/api/skills/by-hand/enable")
    assert enable.status_code == 422 and "UTF-8" in enable.json()["detail"]
    # and it can be repaired through the API
    fixed = http.put("/api/skills/by-hand", json={"content": GOOD.format(name="by-hand")})
    assert fixed.status_code == 200 and "error" not in listed(http)["by-hand"]
    assert "Traceback" not in server.all_logs()


def test_a_skill_folder_whose_name_is_not_utf8_does_not_break_the_list(
    http: httpx.Client, server: ServerProcess
) -> None:
    folder = os.path.join(os.fsencode(server.home / "skills"), b"caf\xe9")
    os.mkdir(folder)
    with open(os.path.join(folder, b"SKILL.md"), "w", encoding="utf-8") as fh:
        fh.write(GOOD.format(name="cafe"))
    skills = listed(http)
    assert "invalid skill name" in skills["caf\ufffd"]["error"]
    assert "Traceback" not in server.all_logs()


def test_frontmatter_that_is_present_but_not_text_says_so() -> None:
    with pytest.raises(SkillError) as name:
        parse_skill_md("---\nname: 123\ndescription: d\n---\n", expected_name="123")
    assert name.value.status == 422
    assert "'name' must be text" in str(name.value) and "is required" not in str(name.value)
    assert 'name: "123"' in str(name.value)
    with pytest.raises(SkillError) as description:
        parse_skill_md("---\nname: demo\ndescription: yes\n---\n", expected_name="demo")
    assert "'description' must be text, not a yes/no value" in str(description.value)
    assert "quotes" in str(description.value)
    with pytest.raises(SkillError, match="'description' is required"):
        parse_skill_md("---\nname: demo\n---\n", expected_name="demo")


def test_escapes_anywhere_in_the_frontmatter_are_refused() -> None:
    nested = '---\nname: demo\ndescription: d\nextra: {list: [ok, "\\uDC80"]}\n---\n'
    with pytest.raises(SkillError, match=r"'extra\.list\[1\]' contains a character that cannot be stored as UTF-8"):
        parse_skill_md(nested, expected_name="demo")
    with pytest.raises(SkillError, match="a key contains"):
        parse_skill_md('---\nname: demo\ndescription: d\n"\\uDC80": 1\n---\n', expected_name="demo")


async def test_an_enabled_skill_with_such_an_escape_is_not_fed_to_the_agent(env: Env, events: RecordingEvents) -> None:
    folder = env.state / "skills" / "by-hand"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(ESCAPED.format(name="by-hand"), encoding="utf-8")
    env.settings = env.settings.model_copy(update={"enabled_skills": ["by-hand"]})
    env.script([{"tool": "load_skill", "args": {"skill_name": "by-hand"}}, {"text": "could not load it"}])
    result = await run_intent(env.service(), "use by-hand", events)
    assert result.status == "completed", result.answer
    failed = events.of("tool_result")[0]
    assert failed["status"] == "error" and "UTF-8" in failed["message"], failed
    assert SkillStore(env.state / "skills").prompt_section(["by-hand"]) == ""
    assert env.store is not None
    assert await env.store.load(result.session_id), "the run's history was not stored"


async def test_a_python_tools_traceback_shows_only_the_skills_own_frames(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "tooly"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tooly\ndescription: Tools\nskill_type: python\n---\n")
    (folder / "scripts" / "tools.py").write_text(
        "import json\n\ndef _parse(text):\n    return json.loads(text)\n\n"
        "def fails():\n    raise RuntimeError('the tool broke')\n\n"
        "def deep():\n    return _parse('{nope')\n\n"
        "async def later():\n    raise ValueError('async broke')\n"
    )
    skills = SkillRuntime(SkillStore(tmp_path / "skills"), ["tooly"])
    for tool, says, lines in [
        ("fails", "fails raised RuntimeError: the tool broke", ["line 7, in fails"]),
        ("deep", "deep raised JSONDecodeError", ["line 10, in deep", "line 4, in _parse"]),
        ("later", "later raised ValueError: async broke", ["line 13, in later"]),
    ]:
        with pytest.raises(SkillError) as info:
            await skills.run_python("tooly", tool, {})
        message = str(info.value)
        assert message.startswith(says), message
        assert all(line in message for line in lines), message
        assert str(folder / "scripts" / "tools.py") in message
        assert "pyrunner" not in message and "asyncio" not in message and "json/" not in message, message


async def test_a_python_tool_answering_text_utf8_cannot_store_does_not_lose_the_history(
    env: Env, events: RecordingEvents
) -> None:
    folder = env.state / "skills" / "lister"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: lister\ndescription: Lists\nskill_type: python\n---\n")
    (folder / "scripts" / "tools.py").write_text(
        "import os\n\ndef names(path):\n    return os.listdir(path)[0]\n\n"
        "def fails():\n    raise ValueError('bad \\ud800 value')\n"
    )
    # a skill script whose own name is not UTF-8 is ignored rather than named to the agent
    open(os.path.join(os.fsencode(folder / "scripts"), b"caf\xe9.yaml"), "w").close()
    odd = env.work / "odd"
    odd.mkdir()
    open(os.path.join(os.fsencode(odd), b"caf\xe9.txt"), "w").close()  # os.listdir gives 'caf\udce9'
    env.settings = env.settings.model_copy(update={"enabled_skills": ["lister"]})
    env.script(
        [
            {"tool": "execute_skill", "args": {"skill_name": "lister", "tool": "names", "params": {"path": str(odd)}}},
            {"tool": "execute_skill", "args": {"skill_name": "lister", "tool": "fails"}},
            {"tool": "load_skill", "args": {"skill_name": "lister"}},
            {"text": "done"},
        ]
    )
    result = await run_intent(env.service(), "list it", events)
    assert result.status == "completed", result.answer
    named, failed, loaded = events.of("tool_result")
    assert named["status"] == "success" and named["stdout"] == "caf\ufffd.txt", named
    assert failed["status"] == "error" and "bad \ufffd value" in failed["message"], failed
    assert loaded["status"] == "success" and loaded["result"]["workflows"] == [], loaded
    assert env.store is not None
    assert await env.store.load(result.session_id), "the run's history was not stored"


async def test_a_workflow_with_such_an_escape_is_refused_and_the_history_kept(
    env: Env, events: RecordingEvents
) -> None:
    folder = env.state / "skills" / "flow"
    (folder / "workflows").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: flow\ndescription: A flow\nskill_type: workflow\n---\n")
    (folder / "workflows" / "go.yaml").write_text(
        'steps:\n  - tool: execute_cli\n    args: {command: "echo \\uD800"}\n', encoding="utf-8"
    )
    env.settings = env.settings.model_copy(update={"enabled_skills": ["flow"]})
    env.script([{"tool": "execute_skill", "args": {"skill_name": "flow"}}, {"text": "done"}])
    result = await run_intent(env.service(), "go", events)
    assert result.status == "completed", result.answer
    failed = events.of("tool_result")[0]
    assert failed["status"] == "error", failed
    assert "'steps[0].args.command' contains a character that cannot be stored as UTF-8" in failed["message"]
    assert env.store is not None
    assert await env.store.load(result.session_id), "the run's history was not stored"
