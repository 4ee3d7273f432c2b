"""A run whose approval is lost with the phone's link (QA round 30): the step never ran, and the run says so.

The real session answers the open question "no" as it kills the run; on Python 3.11 the confirmer's wait then
returns that "no" before the cancellation reaches the run, so the step no longer looked as if it waited.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contop.agent.events import RecordingEvents
from contop.server.agent_setup import SessionExecution
from contop.transport.router import Router
from contop.transport.session import Session, SessionConfirmer, Timing
from tests.agent.conftest import Env
from tests.server.nullpeer import NullPeer

pytestmark = pytest.mark.timeout(60)

LOST = "the connection to the phone was lost"


class _Hooks:
    def mark_connected(self, device_id: str, connected: bool, path: Any = None) -> None:
        pass

    def seen(self, device_id: str) -> None:
        pass


def _open_session() -> Session:
    session = Session(device_id="phone", device_name="phone", connection_type="temp", router=Router(),
                      hooks=_Hooks(), timing=Timing(heartbeat=60, check=60))  # fmt: skip
    session.attach(NullPeer())  # type: ignore[arg-type]
    session.link_open()
    return session


async def _asked(session: Session) -> None:
    for _ in range(1000):
        if session.pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the run never asked for approval")


async def test_a_link_lost_while_a_step_waits_for_approval_says_the_step_did_not_run(
    env: Env, events: RecordingEvents
) -> None:
    project = env.work / "pyproject.toml"
    project.write_text("a = 1\n")
    env.script(
        [
            {"tool": "execute_cli", "args": {"command": "echo first"}},
            {"tool": "execute_cli", "args": {"command": f"cd '{env.work}' && echo 'b = 2' > pyproject.toml"}},
            {"text": "end"},
        ]
    )
    service = env.service()
    session = _open_session()
    execution = service.start("two steps", device_id="phone", events=events, confirmer=SessionConfirmer(session))
    session.set_execution(SessionExecution(execution))
    try:
        await _asked(session)
        session.link_lost("the phone acknowledged nothing for 6.0 s")  # kills the run and answers "no"
        result = await asyncio.wait_for(execution.wait(), 10)
    finally:
        await session.aclose()
    assert project.read_text() == "a = 1\n"
    assert result.status == "cancelled"
    assert result.answer == (
        "Stopped: the connection to the phone was lost. 1 step(s) had run before the stop. "
        "The step waiting for your approval (execute_cli) did not run."
    )
    assert result.tool_summary == {"execute_cli": {"cancelled": 1, "success": 1}}
    final = events.of("agent_progress")[-1]
    assert (final["step"], final["status"]) == (2, "cancelled")
    # the step's card names why the approval was not given: the link dropped while it waited
    assert final["detail"] == (
        "The connection to the phone was lost while it waited for your approval, so it did not run."
    )
    assert "stopped before it finished" not in final["detail"].lower()
