"""A workflow skill that types into a real app: the scripted model runs a YAML workflow whose steps focus a Tk window
on Xvfb and type non-ASCII text into it through the guarded GUI tools."""
# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contop.agent.events import RecordingEvents
from contop.testing.xsession import XSession
from tests.agent.conftest import Env, run_intent
from tests.tools.x11 import desk_env, launch_recorder, xsession  # noqa: F401 - fixtures

pytestmark = [pytest.mark.x11, pytest.mark.timeout(90)]

TARGET = "Skill Target — Recorder"
DECOY = "Decoy Recorder"
TEXT = "Héllo wörld ✓ 42"

SKILL_MD = "---\nname: typist\ndescription: Types text into a window\nskill_type: workflow\n---\n\n# Typist\n"
WORKFLOW = """\
description: Type text into the skill target window and submit it
params:
  text: {description: what to type, required: true}
  window: {description: part of the window title, default: skill target}
steps:
  - tool: window_focus
    args: {title: "{{window}}"}
  - tool: execute_gui
    args: {action: type, text: "{{text}}"}
  - tool: execute_gui
    args: {action: press_key, key: enter}
"""


def assert_workflow_audited(logs: Path, session_id: str) -> None:
    """The audit log in ``logs`` has the skill's calls and each GUI step of its workflow, judged safe by the gate."""
    lines = "".join(p.read_text(encoding="utf-8") for p in logs.glob("session-*.jsonl"))
    audit = [json.loads(line) for line in lines.splitlines() if line.strip()]
    ends = [a for a in audit if a["event"] == "tool_end"]
    assert [(a["tool_used"], a["execution_result"]) for a in ends] == [
        ("load_skill", "success"),
        ("window_focus", "success"), ("execute_gui", "success"), ("execute_gui", "success"),
        ("execute_skill", "success"),
    ]  # fmt: skip
    gui = [a for a in audit if str(a.get("call_id", "")).startswith("wf-")]
    assert [(a["event"], a["tool_used"]) for a in gui] == [
        ("tool_start", "window_focus"), ("tool_end", "window_focus"),
        ("tool_start", "execute_gui"), ("tool_end", "execute_gui"),
        ("tool_start", "execute_gui"), ("tool_end", "execute_gui"),
    ]  # fmt: skip
    assert all(a["decision"] == "safe" and a["session_id"] == session_id for a in gui)
    assert TEXT in gui[3]["classified_command"]


async def test_a_workflow_skill_types_into_a_real_window(
    env: Env, events: RecordingEvents, desk_env: XSession, tmp_path: Path
) -> None:
    # The target opens first, then a decoy takes the focus: only the workflow's window_focus step brings it back.
    target = launch_recorder(desk_env, tmp_path, title=TARGET, geometry="500x300+50+50")
    decoy = None
    try:
        decoy = launch_recorder(desk_env, tmp_path, title=DECOY, geometry="500x300+700+50", color="#cc6633")
        skill = env.state / "skills" / "typist"
        (skill / "workflows").mkdir(parents=True)
        (skill / "SKILL.md").write_text(SKILL_MD, encoding="utf-8")
        (skill / "workflows" / "type-text.yaml").write_text(WORKFLOW, encoding="utf-8")
        env.settings = env.settings.model_copy(update={"enabled_skills": ["typist"]})
        env.script(
            [
                {"tool": "load_skill", "args": {"skill_name": "typist"}},
                {"tool": "execute_skill", "args": {"skill_name": "typist", "params": {"text": TEXT}}},
                {"text": "Typed it."},
            ]
        )
        result = await run_intent(env.service(), "type my greeting into the skill target window", events)

        assert result.status == "completed", result.answer
        assert result.answer == "Typed it."
        # The app really got the text, exactly, then the Return key; the decoy got nothing.
        target.wait_for(lambda ev: target.last_text() == TEXT)
        assert target.last_text() == TEXT
        after = target.events()
        last_text = max(i for i, e in enumerate(after) if e["event"] == "text")
        assert any(e["event"] == "key" and e["keysym"] == "Return" for e in after[last_text:])
        assert decoy.last_text() is None

        # The user saw the skill load and the workflow finish, with every step successful.
        progress = [(p["tool"], p["status"]) for p in events.of("agent_progress")]
        assert progress == [
            ("load_skill", "running"), ("load_skill", "completed"),
            ("execute_skill", "running"), ("execute_skill", "completed"),
        ]  # fmt: skip
        results = events.of("tool_result")
        assert [r["status"] for r in results] == ["success", "success"]
        assert results[0]["result"]["workflows"] == ["type-text"]
        workflow = results[1]["result"]
        assert workflow["status"] == "success" and workflow["workflow"] == "type-text"
        steps = workflow["steps"]
        assert [(s["tool"], s["status"]) for s in steps] == [
            ("window_focus", "success"), ("execute_gui", "success"), ("execute_gui", "success"),
        ]  # fmt: skip
        assert steps[0]["summary"] == f"Focused {TARGET!r}."
        assert steps[1]["summary"] == f"Typed {len(TEXT)} characters."
        # The model was told how the workflow went in its next request.
        assert "Workflow type-text finished after 3 of 3 steps." in env.received()[2]["parts"][-1]["text"]

        # Every workflow step went through the security gate: the audit log has each GUI call, start and end.
        await env.audit.flush()  # type: ignore[union-attr]
        assert_workflow_audited(env.state / "logs", result.session_id)
    finally:
        target.stop()
        if decoy is not None:
            decoy.stop()
