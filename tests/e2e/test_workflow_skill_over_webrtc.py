"""A workflow skill types into a test app, end to end: a real ``contop serve`` whose DISPLAY is the test X session,
the scripted model, and the Python client over real WebRTC sending the user's intent."""
# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.agent.test_skills_gui import DECOY, SKILL_MD, TARGET, TEXT, WORKFLOW, assert_workflow_audited
from tests.e2e.test_agent_over_webrtc import connect, home, run_until_result, script, server_factory  # noqa: F401
from tests.platform.conftest import launch_recorder, xsession  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.x11, pytest.mark.timeout(120)]


def install_skill(server: ServerProcess) -> None:
    """The way a user does it: create the skill and write its SKILL.md over the REST API, drop the workflow file into
    the skill's folder (the API has no endpoint for workflow files), then enable it in the settings."""
    created = server.request("POST", "/api/skills", json={"name": "typist", "description": "Types text into a window"})
    assert created.status_code == 201, created.text
    put = server.request("PUT", "/api/skills/typist", json={"content": SKILL_MD})
    assert put.status_code == 200 and put.json()["skill_type"] == "workflow", put.text
    workflows = server.home / "skills" / "typist" / "workflows"
    workflows.mkdir()
    (workflows / "type-text.yaml").write_text(WORKFLOW, encoding="utf-8")
    listed = server.request("GET", "/api/skills/typist/workflows").json()
    assert [w["filename"] for w in listed["workflows"]] == ["type-text.yaml"]
    settings = server.request("GET", "/api/settings").json()
    settings["enabled_skills"] = ["typist"]
    saved = server.request("PUT", "/api/settings", json=settings)
    assert saved.status_code == 200 and saved.json()["enabled_skills"] == ["typist"], saved.text
    skills = server.request("GET", "/api/skills").json()
    assert [s["name"] for s in skills if s["enabled"]] == ["typist"]


def extra(payload: Any) -> dict[str, Any]:
    return dict(payload.model_extra or {})


async def test_a_workflow_skill_types_into_a_test_app_over_webrtc(
    tmp_path: Path, home: Path, server_factory: list[ServerProcess], xsession: XSession
) -> None:
    # The target opens first, then a decoy takes the focus: only the workflow's window_focus step brings it back.
    target = launch_recorder(xsession, tmp_path, title=TARGET, geometry="500x300+50+50")
    decoy = None
    try:
        decoy = launch_recorder(xsession, tmp_path, title=DECOY, geometry="500x300+700+50", color="#cc6633")
        steps = script(
            tmp_path / "s.json",
            [
                {"tool": "load_skill", "args": {"skill_name": "typist"}},
                {"tool": "execute_skill", "args": {"skill_name": "typist", "params": {"text": TEXT}}},
                {"text": "Typed it."},
            ],
        )
        env = {
            "CONTOP_EXECUTION_MODEL": f"scripted:{steps}",
            "DISPLAY": xsession.display,
            "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"],
        }
        srv = await asyncio.to_thread(ServerProcess(home, env=env).start)
        server_factory.append(srv)
        await asyncio.to_thread(install_skill, srv)

        client = await connect(srv, device_id="skill-phone")
        try:
            seen = await run_until_result(client, "type my greeting into the skill target window")
        finally:
            await client.aclose()

        # The app really got the text, exactly, then the Return key; the decoy got nothing.
        await asyncio.to_thread(target.wait_for, lambda ev: target.last_text() == TEXT)
        assert target.last_text() == TEXT
        after = target.events()
        last_text = max(i for i, e in enumerate(after) if e["event"] == "text")
        assert any(e["event"] == "key" and e["keysym"] == "Return" for e in after[last_text:])
        assert decoy.last_text() is None

        # The phone saw the skill load and the workflow finish, every step successful, then the scripted answer.
        progress = [(m.payload.tool, m.payload.status) for m in seen if m.type == "agent_progress"]  # type: ignore[attr-defined]
        assert progress == [
            ("load_skill", "running"), ("load_skill", "completed"),
            ("execute_skill", "running"), ("execute_skill", "completed"),
        ]  # fmt: skip
        results = [m.payload for m in seen if m.type == "tool_result"]
        assert [(r.tool, r.status) for r in results] == [("load_skill", "success"), ("execute_skill", "success")]  # type: ignore[attr-defined]
        assert extra(results[0])["result"]["workflows"] == ["type-text"]
        workflow = extra(results[1])["result"]
        assert workflow["status"] == "success" and workflow["workflow"] == "type-text"
        assert [(s["tool"], s["status"]) for s in workflow["steps"]] == [
            ("window_focus", "success"), ("execute_gui", "success"), ("execute_gui", "success"),
        ]  # fmt: skip
        assert workflow["steps"][0]["summary"] == f"Focused {TARGET!r}."
        assert workflow["steps"][1]["summary"] == f"Typed {len(TEXT)} characters."
        final = seen[-1]
        assert final.type == "agent_result"
        assert final.payload.answer == "Typed it."  # type: ignore[attr-defined]
        assert extra(final.payload).get("status") == "completed"
        session_id = final.payload.session_id  # type: ignore[attr-defined]
        assert session_id

        # Every workflow step went through the security gate: the server's audit log has each GUI call, judged safe.
        assert await asyncio.to_thread(srv.stop) == 0  # a clean stop flushes the audit log
        assert_workflow_audited(home / "logs", session_id)
    finally:
        target.stop()
        if decoy is not None:
            decoy.stop()
