"""The run loop with the scripted model, real tools, the real gate and real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from contop.agent.events import RecordingEvents
from contop.agent.models import no_model_answer
from contop.agent.run import AgentBusy, Limits
from contop.core.messages import AgentProgress
from contop.security.enforce import ConfirmationRequest
from tests.agent.conftest import Env, FakeConfirmer, run_intent

pytestmark = pytest.mark.timeout(60)


async def test_creates_a_folder_and_reads_a_file_back(env: Env, events: RecordingEvents) -> None:
    target = env.work / "made"
    env.script(
        [
            {"thinking": "I will make the folder, then write and read a file."},
            {"tool": "execute_cli", "args": {"command": f"mkdir -p '{target}' && echo hi > '{target}/note.txt'"}},
            {"tool": "read_file", "args": {"file_path": str(target / "note.txt")}},
            {"text": "Done: the folder exists and note.txt says hi."},
        ]
    )
    result = await run_intent(env.service(), "make a folder", events)
    assert target.is_dir() and (target / "note.txt").read_text() == "hi\n"
    assert result.status == "completed"
    kinds = events.types()
    assert kinds[0] == "agent_thinking"
    tool_events = [k for k in kinds if k in ("agent_progress", "tool_result")]
    assert tool_events == ["agent_progress", "agent_progress", "tool_result"] * 2
    progress = events.of("agent_progress")
    assert [(p["step"], p["tool"], p["status"]) for p in progress] == [
        (1, "execute_cli", "running"), (1, "execute_cli", "completed"),
        (2, "read_file", "running"), (2, "read_file", "completed"),
    ]  # fmt: skip
    assert progress[0]["detail"].startswith("Running: mkdir")
    assert progress[0]["model"].startswith("scripted:") and progress[0]["backend"] == "scripted"
    results = events.of("tool_result")
    assert results[0]["ref_id"] == results[0]["call_id"] and results[0]["status"] == "success"
    assert "hi" in results[1]["stdout"]
    assert "agent_text" in kinds and kinds[-1] == "agent_result"
    text = "".join(p["text"] for p in events.of("agent_text"))
    assert text == "Done: the folder exists and note.txt says hi."
    final = events.of("agent_result")[0]
    assert final["answer"] == text and final["steps_taken"] == 2
    assert final["tool_summary"] == {"execute_cli": {"success": 1}, "read_file": {"success": 1}}
    assert final["session_id"] == result.session_id and final["duration_ms"] >= 0
    # the model saw the file's content in the tool return of its third request
    received = env.received()
    # its tools are the guarded toolset's, plus generate_plan
    assert {"execute_cli", "read_file", "load_skill", "generate_plan"} <= set(received[0]["tools"])
    assert len(received) == 3 and "hi" in received[2]["parts"][-1]["text"]
    # audit entries come from the toolset
    await env.audit.flush()  # type: ignore[union-attr]
    audit = "".join(p.read_text() for p in (env.state / "logs").glob("session-*.jsonl"))
    assert audit.count('"tool_end"') == 2 and result.session_id in audit


async def test_plain_question_is_answered_without_tools(env: Env, events: RecordingEvents) -> None:
    env.script([{"text": "Paris."}])
    result = await run_intent(env.service(), "capital of France?", events)
    assert result.answer == "Paris." and result.steps_taken == 0
    assert "agent_progress" not in events.types()


@pytest.mark.parametrize("approve", [True, False])
async def test_destructive_command_asks_first(env: Env, events: RecordingEvents, approve: bool) -> None:
    victim = env.work / "x"
    victim.mkdir()
    (victim / "f").write_text("data")
    env.script(
        [
            {"tool": "execute_cli", "args": {"command": "rm -r ./x"}},
            {"tool": "execute_cli", "args": {"command": "echo after"}},
            {"text": "finished"},
        ]
    )
    service = env.service()
    confirmer = FakeConfirmer(approve)
    service.tool_context("sess-destructive").cwd = str(env.work)  # the session's working directory
    result = await run_intent(service, "remove x", events, confirmer=confirmer, session_id="sess-destructive")
    assert len(confirmer.requests) == 1 and confirmer.requests[0].tool == "execute_cli"
    assert victim.exists() is not approve
    statuses = [r["status"] for r in events.of("tool_result")]
    assert statuses == (["success", "success"] if approve else ["rejected", "success"])
    assert result.answer == "finished" and result.status == "completed"
    if not approve:
        assert "did not approve" in env.received()[1]["parts"][-1]["text"]  # the model hears what to do instead
        failed = [p for p in events.of("agent_progress") if p["status"] == "failed"]
        assert [p["detail"] for p in failed] == ["Not approved, so it was skipped."]  # the user, plain words
        assert result.tool_summary["execute_cli"] == {"rejected": 1, "success": 1}


async def _first_step(events: RecordingEvents) -> None:
    """Wait (up to 2 s) until the run reports its first step."""
    for _ in range(200):
        if events.of("agent_progress"):
            return
        await asyncio.sleep(0.01)


async def test_cancel_during_sleep_returns_fast_and_kills_the_process(env: Env, events: RecordingEvents) -> None:
    marker = f"contop-agent-cancel-{os.getpid()}"
    env.script([{"tool": "execute_cli", "args": {"command": f"sleep 30; echo {marker}", "timeout": 60}}])
    service = env.service()
    execution = service.start("sleep", device_id="d", events=events, confirmer=None)
    await _first_step(events)
    await asyncio.sleep(0.3)
    started = time.monotonic()
    assert service.stop("d")
    result = await execution
    assert time.monotonic() - started < 1.0
    assert result.status == "cancelled" and result.answer.startswith("Stopped at your request.")
    assert events.types()[-1] == "agent_result" and events.of("agent_result")[0]["status"] == "cancelled"
    await asyncio.sleep(0.2)
    ps = await asyncio.create_subprocess_exec("pgrep", "-f", f"sleep 30; echo {marker}", stdout=asyncio.subprocess.PIPE)
    out, _ = await ps.communicate()
    assert out.strip() == b""
    assert service.current("d") is None
    [log] = (env.state / "logs").glob("llm-*.log")
    last = json.loads(log.read_text().splitlines()[-1])  # the model call log says how the run ended
    assert last["event"] == "error" and last["error"].startswith("Stopped at your request."), last


async def test_a_run_stopped_for_the_user_says_why(env: Env, events: RecordingEvents) -> None:
    """The phone's link was lost (a reload, a tunnel): the run is stopped, and its answer must not claim the
    user asked for that."""
    env.script([{"tool": "execute_cli", "args": {"command": "sleep 5"}}])
    service = env.service()
    execution = service.start("wait", device_id="d", events=events, confirmer=None)
    await _first_step(events)
    execution.cancel("the connection to the phone was lost")
    result = await execution
    assert result.status == "cancelled"
    # the killed command did not run to the end: it is the step in progress, not a step that had run
    assert result.answer == (
        "Stopped: the connection to the phone was lost. "
        "The step in progress (execute_cli) was stopped before it finished."
    )
    # before it started, too
    early = service.start("x", device_id="e", events=RecordingEvents(), confirmer=None)
    early.cancel("the connection was closed (pairing revoked)")
    assert (await early).answer == "Stopped: the connection was closed (pairing revoked)."


class WaitingConfirmer:
    """Never answers: the approval is still pending when the run is stopped."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def confirm(self, request: ConfirmationRequest) -> bool:
        self.asked.set()
        await asyncio.Event().wait()
        return True


def _steps(events: RecordingEvents) -> list[tuple[int, str, str]]:
    return [(p["step"], p["tool"], p["status"]) for p in events.of("agent_progress")]


async def test_stop_while_a_step_waits_for_approval_counts_only_the_steps_that_ran(
    env: Env, events: RecordingEvents
) -> None:
    victim = env.work / "victim"
    victim.write_text("x")
    env.script(
        [
            {"tool": "execute_cli", "args": {"command": "echo first"}},
            {"tool": "execute_cli", "args": {"command": f"rm '{victim}'"}},
            {"text": "end"},
        ]
    )
    service = env.service()
    confirmer = WaitingConfirmer()
    execution = service.start("two steps", device_id="d", events=events, confirmer=confirmer)
    await asyncio.wait_for(confirmer.asked.wait(), 10)
    assert service.stop("d")
    result = await execution
    assert victim.exists()
    assert result.status == "cancelled"
    # step 2 never ran: it waited for the user's answer, so it is not "stopped before it finished"
    assert result.answer == (
        "Stopped at your request. 1 step(s) had run before the stop. "
        "The step waiting for your approval (execute_cli) did not run."
    )
    assert result.steps_taken == 1
    assert result.tool_summary == {"execute_cli": {"cancelled": 1, "success": 1}}
    # step 2 gets a final agent_progress before the result, so the phone does not keep showing it as running
    assert _steps(events) == [
        (1, "execute_cli", "running"), (1, "execute_cli", "completed"),
        (2, "execute_cli", "running"), (2, "execute_cli", "cancelled"),
    ]  # fmt: skip
    assert events.types()[-2:] == ["agent_progress", "agent_result"]
    final = events.of("agent_progress")[-1]
    AgentProgress.model_validate({"type": "agent_progress", "payload": final})  # the protocol accepts it
    assert final["detail"] == "Stopped while it waited for your approval, so it did not run."
    assert events.of("agent_result")[0]["tool_summary"] == result.tool_summary


async def test_stop_during_a_running_command_reports_the_killed_call(env: Env, events: RecordingEvents) -> None:
    env.script([{"tool": "execute_cli", "args": {"command": "sleep 30", "timeout": 60}}, {"text": "never"}])
    service = env.service()
    execution = service.start("long job", device_id="d", events=events, confirmer=None)
    await _first_step(events)
    await asyncio.sleep(0.3)
    assert service.stop("d")
    result = await execution
    assert (
        result.answer == "Stopped at your request. The step in progress (execute_cli) was stopped before it finished."
    )
    assert result.steps_taken == 0
    assert result.tool_summary == {"execute_cli": {"cancelled": 1}}
    assert _steps(events) == [(1, "execute_cli", "running"), (1, "execute_cli", "cancelled")]
    assert events.types()[-1] == "agent_result"


async def test_a_step_cut_off_by_the_time_limit_is_closed_and_counted(env: Env, events: RecordingEvents) -> None:
    env.script(
        [
            {"tool": "execute_cli", "args": {"command": "echo one"}},
            {"tool": "execute_cli", "args": {"command": "sleep 20"}},
        ]
    )
    result = await run_intent(env.service(limits=Limits(wall_s=1.0)), "slow", events)
    assert result.status == "timeout"
    assert result.steps_taken == 1
    assert result.tool_summary == {"execute_cli": {"cancelled": 1, "success": 1}}
    assert _steps(events)[-1] == (2, "execute_cli", "cancelled")
    assert result.answer.endswith(
        "1 step(s) had run before the stop. The step in progress (execute_cli) was stopped before it finished."
    )


async def test_second_start_is_busy(env: Env, events: RecordingEvents) -> None:
    env.script([{"tool": "execute_cli", "args": {"command": "sleep 5"}}])
    service = env.service()
    ended: list[object] = []
    first = service.start(
        "one", device_id="d", events=events, confirmer=None, on_end=lambda: ended.append(service.running())
    )
    with pytest.raises(AgentBusy) as same:
        service.start("two", device_id="d", events=events, confirmer=None)
    assert same.value.device_id == "d"
    # Another device too: two runs would drive one mouse and keyboard. The refusal says whose run holds the desk.
    with pytest.raises(AgentBusy) as other_device:
        service.start("other device", device_id="e", events=RecordingEvents(), confirmer=None)
    assert other_device.value.device_id == "d"
    assert service.running() == ("d", first)
    first.cancel()
    assert service.running() == ("d", first), "a stopped run holds the desk until it has ended"
    assert (await first).status == "cancelled"
    assert service.running() is None
    assert ended == [None], "told once, when the desk is free again"
    other = service.start("other device", device_id="e", events=RecordingEvents(), confirmer=None)
    other.cancel()
    await other
    await service.aclose()


async def test_no_model_configured(env: Env, events: RecordingEvents) -> None:
    result = await run_intent(env.service(), "hello", events)
    assert result.status == "no_model" and result.answer == no_model_answer(str(env.state / "settings.json"))
    assert f"in {env.state / 'settings.json'} (an edit takes effect without a restart)" in result.answer  # this home's
    assert events.types() == ["agent_result"]
    for needle in ("gemini_api_key", "OPENROUTER_API_KEY", "local_model_base_url", "openai-compatible:"):
        assert needle in result.answer


async def test_a_conversation_with_no_model_is_kept_and_can_be_resumed(env: Env, events: RecordingEvents) -> None:
    service = env.service()
    await run_intent(service, "hello", events, session_id="s-nm")
    await run_intent(service, "still there?", RecordingEvents(), session_id="s-nm")
    assert env.store is not None and await env.store.exists("s-nm")  # reopened from History, it resumes
    stored = await env.store.load("s-nm")
    said = [p.content for m in stored for p in m.parts if p.part_kind in ("user-prompt", "text")]
    answer = no_model_answer(str(env.state / "settings.json"))
    assert said == ["hello", answer, "still there?", answer]


async def test_a_provider_without_a_key_answers_how_to_add_one(env: Env, events: RecordingEvents) -> None:
    env.settings = env.settings.model_copy(update={"execution_model": "gemini:gemini-2.5-flash"})
    env.env.pop("GEMINI_API_KEY", None)
    result = await run_intent(env.service(), "hello", events)
    assert result.status == "failed" and "GEMINI_API_KEY" in result.answer and "gemini_api_key" in result.answer
    assert events.types()[-1] == "agent_result"


async def test_malformed_script_file_is_a_clear_error(env: Env, events: RecordingEvents) -> None:
    path = env.script([])
    path.write_text('[{"tool": 3}]')
    result = await run_intent(env.service(), "x", events)
    assert result.status == "failed" and "item 0" in result.answer
    assert events.of("agent_status")[0]["status_type"] == "model_error"


async def test_only_the_newest_image_reaches_the_model(env: Env, events: RecordingEvents) -> None:
    from PIL import Image

    for index, colour in enumerate(("red", "blue")):
        Image.new("RGB", (32, 24), colour).save(env.work / f"shot{index}.png")
    env.script(
        [
            {"tool": "read_image", "args": {"path": str(env.work / "shot0.png")}},
            {"tool": "read_image", "args": {"path": str(env.work / "shot1.png")}},
            {"tool": "get_action_history", "args": {}},
            {"text": "two images seen"},
        ]
    )
    result = await run_intent(env.service(), "look", events)
    assert result.status == "completed"
    received = env.received()
    assert [r["images"] for r in received] == [0, 1, 1, 1]
    # the image is attached after the read_image return, as an image, not as base64 text
    last = received[3]["parts"]
    assert not any("image_b64" in p["text"] for p in last)
    assert sum("only the newest image is kept" in p["text"] for p in last) == 1
    assert all(len(p["text"]) < 2000 for p in last)
    # the phone is told of the image, without its data (it watches the screen live)
    first = events.of("tool_result")[0]
    assert "image_b64" not in first["result"] and "not sent to the phone" in first["result"]["image"]
    assert len(json.dumps(first)) < 1500


async def test_long_tool_output_is_cut_for_the_model(env: Env, events: RecordingEvents) -> None:
    env.script([{"tool": "execute_cli", "args": {"command": "python3 -c 'print(30000 * \"a\")'"}}, {"text": "ok"}])
    service = env.service()
    service.tool_context("big").cwd = str(env.work)
    await run_intent(service, "big", events, session_id="big")
    last = env.received()[1]["parts"][-1]
    assert "output cut" in last["text"] and last["chars"] < 8500
    phone = events.of("tool_result")[0]
    assert len(phone["stdout"]) >= 30000 and "stdout" not in phone["result"]  # the phone gets it all, once
    assert env.store is not None  # the cut is for the request only: the stored conversation keeps it all
    stored = await env.store.load("big")
    returns = [p.content for m in stored for p in m.parts if getattr(p, "part_kind", "") == "tool-return"]
    assert returns and "a" * 30000 in str(returns[0])


async def test_blocked_command_runs_in_the_sandbox_and_says_so(env: Env, events: RecordingEvents) -> None:
    from contop.security.sandbox import BubblewrapBackend

    backend = BubblewrapBackend()
    if not backend.available():
        pytest.skip("bubblewrap unusable here")

    async def sandbox() -> BubblewrapBackend:
        return backend

    env.script([{"tool": "execute_cli", "args": {"command": "cat /etc/shadow"}}, {"text": "done"}])
    await run_intent(env.service(sandbox=sandbox), "read shadow", events)
    status = events.of("agent_status")
    assert status and status[0]["status_type"] == "sandbox_fallback" and "sandbox" in status[0]["message"]
    assert events.of("tool_result")[0]["executed_on"] == "sandbox"


async def test_the_phones_frame_reaches_the_model_as_an_image(env: Env, events: RecordingEvents) -> None:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "green").save(buffer, format="PNG")
    env.script([{"text": "I see a green square."}])
    frame = base64.b64encode(buffer.getvalue()).decode()
    result = await run_intent(env.service(), "what is on my screen?", events, frame_b64=frame)
    assert result.status == "completed"
    assert env.received()[0]["images"] == 1


async def test_ocr_fallback_of_a_screen_tool_is_reported_as_vision_fallback(env: Env, events: RecordingEvents) -> None:
    async def observe_screen(ctx: object, mode: str = "grounding") -> dict[str, object]:
        return {
            "status": "success",
            "stdout": "3 elements",
            "fallback": "ocr",
            "note": "no accessibility bus: elements found by OCR",
        }

    env.script([{"tool": "observe_screen", "args": {}}, {"text": "Looked."}])
    result = await run_intent(env.service(tools={"observe_screen": observe_screen}), "look", events)
    assert result.status == "completed"
    statuses = events.of("agent_status")
    assert statuses == [
        {
            "status_type": "vision_fallback",
            "message": "no accessibility bus: elements found by OCR",
            "tool": "observe_screen",
            "ref_id": statuses[0]["ref_id"],
        }
    ]
