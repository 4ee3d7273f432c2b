"""The planner's wait for the model: a hung model server fails it within one no-output limit, like the main call.

QA (round 31): with a local OpenAI-compatible server that never answered the planner, the planning step waited
three times the limit, because the OpenAI SDK retried the plain request's HTTP timeout twice. These tests run a
fake OpenAI-compatible server on loopback that answers the main run and does something else to the planner.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from contop.agent.events import RecordingEvents
from contop.agent.run import Limits
from tests.agent.conftest import Env, FakeConfirmer, run_intent

pytestmark = pytest.mark.timeout(60)

PLAN = "Goal: tidy up.\nSteps:\n1. execute_cli - list the folder"
Planner = Literal["hang", "429", "500"]


@dataclass
class FakeModelServer:
    """What the fake did to the planner: each planner request's SDK retry count and when it came."""

    planner: Planner
    retries: list[str] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    got_planner: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler(fake: FakeModelServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            tools = [t["function"]["name"] for t in body.get("tools", [])]
            if "generate_plan" in tools:  # the main run: ask for a plan, then finish once it has the tool's result
                if any(m.get("role") == "tool" for m in body["messages"]):
                    self._answer(body, {"role": "assistant", "content": "done"}, "stop")
                else:
                    arguments = json.dumps({"task_description": "tidy the work folder"})
                    function = {"name": "generate_plan", "arguments": arguments}
                    call = {"index": 0, "id": "call_1", "type": "function", "function": function}
                    self._answer(body, {"role": "assistant", "tool_calls": [call]}, "tool_calls")
                return
            with fake.lock:
                fake.retries.append(self.headers.get("x-stainless-retry-count", "?"))
                fake.arrived.append(time.monotonic())
                first = len(fake.retries) == 1
            fake.got_planner.set()
            if fake.planner == "hang":
                fake.release.wait(30)  # never answers while the test runs
                return
            if first:
                self._fail(429 if fake.planner == "429" else 500)
                return
            self._answer(body, {"role": "assistant", "content": PLAN}, "stop")

        def _fail(self, status: int) -> None:
            data = json.dumps({"error": {"message": "busy, try again", "code": status}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, body: dict[str, Any], message: dict[str, Any], finish: str) -> None:
            if body.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(_chunk(message) + _chunk({}, finish) + b"data: [DONE]\n\n")
                return
            choice = {"index": 0, "message": message, "finish_reason": finish}
            data = json.dumps(
                {"id": "c1", "object": "chat.completion", "created": 0, "model": "fake", "choices": [choice]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def fake_model(env: Env, planner: Planner) -> Iterator[FakeModelServer]:
    """A fake OpenAI-compatible server on loopback, set as this env's local model."""
    fake = FakeModelServer(planner)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env.settings = env.settings.model_copy(
        update={
            "execution_model": "openai-compatible:fake",
            "local_model_base_url": f"http://127.0.0.1:{server.server_address[1]}/v1",
        }
    )
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


async def test_a_hung_model_fails_the_planner_after_one_no_output_limit(env: Env, events: RecordingEvents) -> None:
    limit = 1.0
    with fake_model(env, "hang") as fake:
        result = await run_intent(
            env.service(limits=Limits(model_call_s=limit)), "tidy up", events, confirmer=FakeConfirmer()
        )
    assert fake.retries == ["0"], f"the planner's request was sent {len(fake.retries)} times"
    assert result.status == "failed", result
    assert result.duration_ms < 3 * limit * 1000, result.duration_ms
    assert "timed out after 1 seconds without producing any output" in result.answer, result.answer
    [status] = events.of("agent_status")
    assert status["status_type"] == "model_error" and "without producing any output" in status["message"]
    assert events.types()[-1] == "agent_result"


@pytest.mark.parametrize("planner", ["429", "500"])
async def test_a_planner_request_refused_once_is_tried_again(
    env: Env, events: RecordingEvents, planner: Planner
) -> None:
    """The provider SDK's own retries of a rate limit (after its Retry-After) and of a server error are kept."""
    with fake_model(env, planner) as fake:
        result = await run_intent(
            env.service(limits=Limits(model_call_s=10)), "tidy up", events, confirmer=FakeConfirmer()
        )
    assert result.status == "completed" and result.answer == "done", result
    assert fake.retries == ["0", "1"]
    if planner == "429":
        assert fake.arrived[1] - fake.arrived[0] >= 0.9  # Retry-After: 1, not the SDK's half-second backoff
    plan = [r for r in events.of("tool_result") if r["tool"] == "generate_plan"]
    assert plan and plan[0]["result"]["plan"] == PLAN and plan[0]["result"]["approved"] is True


async def test_stop_while_the_planner_waits_for_the_model_is_immediate(env: Env, events: RecordingEvents) -> None:
    with fake_model(env, "hang") as fake:
        service = env.service(limits=Limits(model_call_s=30))
        execution = service.start("tidy up", device_id="dev1", events=events, confirmer=FakeConfirmer())
        assert await asyncio.to_thread(fake.got_planner.wait, 10)
        stopped_at = time.monotonic()
        assert service.stop("dev1")
        result = await execution
        assert time.monotonic() - stopped_at < 1.0
    assert result.status == "cancelled" and fake.retries == ["0"]
    assert events.types()[-1] == "agent_result"
