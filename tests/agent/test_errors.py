"""Models that fail: reported with agent_status, the run ends with an honest agent_result."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.server
import json
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from contop.agent.events import RecordingEvents
from contop.agent.run import Limits
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(60)


def streaming(respond: Callable[[list[ModelMessage], AgentInfo], ModelResponse]) -> FunctionModel:
    """A FunctionModel (streamed, as the agent asks) whose responses come from ``respond``."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        response = respond(messages, info)
        for index, part in enumerate(response.parts):
            if isinstance(part, ToolCallPart):
                args = part.args if isinstance(part.args, str) else json.dumps(part.args)
                yield {index: DeltaToolCall(name=part.tool_name, json_args=args, tool_call_id=part.tool_call_id)}
            elif isinstance(part, TextPart):
                yield part.content

    return FunctionModel(stream_function=stream)


@contextlib.contextmanager
def model_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A model server on loopback that answers with ``handler``; its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def scripted(*responses: ModelResponse) -> FunctionModel:
    queue = list(responses)

    def respond(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        return queue.pop(0) if queue else ModelResponse(parts=[TextPart("end")])

    return streaming(respond)


async def test_a_model_that_raises(env: Env, events: RecordingEvents) -> None:
    def broken(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        raise ConnectionError("provider unreachable")

    result = await run_intent(env.service(), "hi", events, model=streaming(broken))
    assert result.status == "failed" and "provider unreachable" in result.answer
    status = events.of("agent_status")
    assert status and status[0]["status_type"] == "model_error"
    assert events.types()[-1] == "agent_result"


async def test_unknown_tool_is_reported_and_the_run_continues(env: Env, events: RecordingEvents) -> None:
    model = scripted(
        ModelResponse(parts=[ToolCallPart("launch_rocket", {}, tool_call_id="u1")]),
        ModelResponse(parts=[TextPart("I cannot do that here.")]),
    )
    result = await run_intent(env.service(), "launch", events, model=model)
    assert result.status == "completed" and result.answer == "I cannot do that here."
    status = events.of("agent_status")
    assert status[0]["status_type"] == "model_error" and "launch_rocket" in status[0]["message"]


async def test_malformed_arguments_are_reported(env: Env, events: RecordingEvents) -> None:
    model = scripted(
        ModelResponse(parts=[ToolCallPart("execute_cli", "{not json", tool_call_id="m1")]),
        ModelResponse(parts=[ToolCallPart("execute_cli", json.dumps({"command": 5, "bogus": 1}), tool_call_id="m2")]),
        ModelResponse(parts=[TextPart("gave up")]),
    )
    result = await run_intent(env.service(), "x", events, model=model)
    assert result.status == "completed" and result.answer == "gave up"
    assert events.of("agent_status")[0]["status_type"] == "model_error"
    # the second call reaches the toolset, which refuses the bad arguments and tells the model
    assert [r["status"] for r in events.of("tool_result")] == ["invalid_args"]


async def test_a_model_that_keeps_calling_bad_tools_ends_cleanly(env: Env, events: RecordingEvents) -> None:
    def forever(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart("nope", {}, tool_call_id="n")])

    result = await run_intent(env.service(), "x", events, model=streaming(forever))
    assert result.status == "failed"
    assert events.types()[-1] == "agent_result"
    assert "the model called nope wrongly 4 times in a row" in result.answer, result.answer
    assert "pydantic.dev" not in json.dumps(events.events) and "retry limit" not in result.answer


async def test_iteration_limit(env: Env, events: RecordingEvents) -> None:
    env.script([{"tool": "get_action_history", "args": {}}] * 10)
    result = await run_intent(env.service(limits=Limits(max_requests=4)), "loop", events)
    assert result.status == "limit" and "4 model requests" in result.answer
    assert result.steps_taken == 4


async def test_wall_time_limit(env: Env, events: RecordingEvents) -> None:
    env.script([{"tool": "execute_cli", "args": {"command": "sleep 20"}}])
    result = await run_intent(env.service(limits=Limits(wall_s=0.5)), "slow", events)
    assert result.status == "timeout" and result.duration_ms < 5000
    assert "took longer than 0.5 seconds" in result.answer  # not "0 minutes"


def test_time_limits_read_as_people_say_them() -> None:
    from contop.agent.run import _duration

    assert [_duration(s) for s in (600, 60, 90, 1, 0.5)] == [
        "10 minutes", "1 minute", "90 seconds", "1 second", "0.5 seconds"
    ]  # fmt: skip


async def test_a_model_call_that_hangs_is_timed_out(env: Env, events: RecordingEvents) -> None:
    async def slow(_messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
        await asyncio.sleep(30)
        yield "never"

    result = await run_intent(
        env.service(limits=Limits(model_call_s=0.3)), "x", events, model=FunctionModel(stream_function=slow)
    )
    assert result.status == "failed" and result.duration_ms < 5000
    assert events.of("agent_status")[0]["status_type"] == "model_error"


async def test_a_slow_model_still_writing_its_answer_is_not_cut_off(env: Env, events: RecordingEvents) -> None:
    """A local model on a CPU writes slowly: the call limit is for the wait for each piece, not for the answer."""

    async def slow_writer(_messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
        for word in ("one ", "two ", "three ", "four ", "five"):
            yield word
            await asyncio.sleep(0.3)

    result = await run_intent(
        env.service(limits=Limits(model_call_s=0.6)), "x", events, model=FunctionModel(stream_function=slow_writer)
    )
    assert result.status == "completed" and result.answer == "one two three four five", result
    assert result.duration_ms > 1200


class _EchoKeyHandler(http.server.BaseHTTPRequestHandler):
    """An upstream that refuses the key and quotes it back, as some OpenAI-compatible servers do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {self.headers.get('Authorization')}", "code": 401}}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


async def test_a_key_quoted_back_by_the_provider_is_hidden_everywhere(
    env: Env, events: RecordingEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-qa-SECRETOPENAI-9f8e7d"
    with model_server(_EchoKeyHandler) as port:
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
        env.settings = env.settings.model_copy(update={"execution_model": "openai:gpt-4.1", "openai_api_key": key})
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "failed" and "Incorrect API key provided" in result.answer, result.answer
    assert key not in json.dumps(events.events)  # the phone: agent_status and agent_result
    logs = "".join(p.read_text() for p in (env.state / "logs").glob("llm-*.log"))
    assert "Incorrect API key provided" in logs and key not in logs
    assert env.store is not None
    stored = json.dumps([m.parts[0].content for m in await env.store.load(result.session_id)], default=str)  # type: ignore[union-attr]
    assert "Incorrect API key provided" in stored and key not in stored


async def test_nothing_listening_at_a_local_model_says_where_and_what_to_start(
    env: Env, events: RecordingEvents
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    env.settings = env.settings.model_copy(
        update={"execution_model": "openai-compatible:llama3.1", "local_model_base_url": url}
    )
    result = await run_intent(env.service(), "hi", events)
    assert result.status == "failed"
    assert f"nothing answered at {url}" in result.answer and "ollama serve" in result.answer, result.answer


@pytest.mark.parametrize("password", ["qapass-SECRET-77", "pw1"])
async def test_a_password_in_the_local_model_url_is_never_shown(
    env: Env, events: RecordingEvents, password: str
) -> None:
    """Credentials in local_model_base_url (a remote OpenAI-compatible server's only way in) stay on the desktop."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.settings = env.settings.model_copy(
        update={
            "execution_model": "openai-compatible:x",
            "local_model_base_url": f"http://qa:{password}@127.0.0.1:{port}/v1",
        }
    )
    result = await run_intent(env.service(), "hi", events)
    assert result.status == "failed"
    assert f"nothing answered at http://qa:***@127.0.0.1:{port}/v1" in result.answer, result.answer
    logs = "".join(p.read_text() for p in (env.state / "logs").glob("*"))
    assert env.store is not None
    stored = json.dumps([dataclasses.asdict(m) for m in await env.store.load(result.session_id)], default=str)
    for where in (json.dumps(events.events), logs, stored):
        assert password not in where


class _AnsweringHandler(http.server.BaseHTTPRequestHandler):
    """A local model server that streams a short answer, as Ollama does."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for delta, finish in (({"role": "assistant", "content": "Hello there"}, None), ({}, "stop")):
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x", "choices": [choice]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *_args: Any) -> None:
        pass


async def test_a_password_in_the_local_model_url_is_not_stored_with_its_answer(
    env: Env, events: RecordingEvents
) -> None:
    """A response records the URL it came from; the conversation is stored, and sent again on later turns."""
    password = "qa-stored-SECRET-42"
    with model_server(_AnsweringHandler) as port:
        url = f"http://bob:{password}@127.0.0.1:{port}/v1"
        env.settings = env.settings.model_copy(
            update={"execution_model": "openai-compatible:x", "local_model_base_url": url}
        )
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "completed" and "Hello there" in result.answer, result
    assert env.store is not None
    stored = json.dumps([dataclasses.asdict(m) for m in await env.store.load(result.session_id)], default=str)
    assert "127.0.0.1" in stored  # the URL is there, only its password is not
    assert password not in stored
    database = b"".join(p.read_bytes() for p in (env.state / "data").glob("sessions.db*"))
    assert password.encode() not in database


class _CutStreamHandler(http.server.BaseHTTPRequestHandler):
    """A local model server that starts streaming its answer, then drops the connection."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delta = {"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x", "choices": [delta]}
        data = f"data: {json.dumps(chunk)}\n\n".encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not close
        self.connection.close()
        self.close_connection = True

    def log_message(self, *_args: Any) -> None:
        pass


async def test_a_stream_cut_mid_answer_is_not_called_a_server_that_is_not_running(
    env: Env, events: RecordingEvents
) -> None:
    with model_server(_CutStreamHandler) as port:
        url = f"http://127.0.0.1:{port}/v1"
        env.settings = env.settings.model_copy(
            update={"execution_model": "openai-compatible:x", "local_model_base_url": url}
        )
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "failed", result
    assert "broke while it was answering" in result.answer and "nothing answered" not in result.answer, result.answer


class _CrashingProxyHandler(http.server.BaseHTTPRequestHandler):
    """A subscription proxy whose CLI crashes: each request is one run of the CLI, and spends its quota."""

    calls = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls += 1
        body = json.dumps({"error": {"message": "Claude Code crashed", "type": "upstream_error"}}).encode()
        self.send_response(502)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


async def test_a_failing_subscription_proxy_is_asked_once_per_model_request(env: Env, events: RecordingEvents) -> None:
    from contop.core.settings import ProviderAuth

    with model_server(_CrashingProxyHandler) as port:
        url = f"http://127.0.0.1:{port}"
        auth = {"anthropic": ProviderAuth(mode="cli_proxy", proxy_url=url)}
        env.settings = env.settings.model_copy(update={"provider_auth": auth})
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "failed" and "Claude Code crashed" in result.answer, result.answer
    assert _CrashingProxyHandler.calls == 1  # not three CLI runs for one failure


async def test_a_key_in_a_completed_run_is_not_stored(env: Env, events: RecordingEvents) -> None:
    """What a completed run stores is sent to the model again on every later turn: no API key in it."""
    key = "sk-qa-STOREDKEY-0123456789abcdef"
    env.settings = env.settings.model_copy(update={"openai_api_key": key})
    model = scripted(
        ModelResponse(parts=[ToolCallPart("get_action_history", {"note": key}, tool_call_id="k1")]),
        ModelResponse(parts=[TextPart(f"The key in settings.json is {key}.")]),
    )
    result = await run_intent(env.service(), f"what is {key}?", events, model=model)
    assert result.status == "completed"
    assert key not in json.dumps(events.events)
    assert env.store is not None
    stored = await env.store.load(result.session_id)
    text = json.dumps([dataclasses.asdict(m) for m in stored], default=str)
    assert "The key in settings.json is [REDACTED]" in text and key not in text


async def test_a_key_streamed_in_pieces_never_reaches_the_phone(env: Env, events: RecordingEvents) -> None:
    """The phone gets the answer as it streams: a key cut across two pieces is hidden like a whole one, and the
    text held back to see it whole comes before the run's result."""
    key = "local-PASSWORD-0123456789"
    env.settings = env.settings.model_copy(update={"openai_api_key": key})
    answer = f"Your key is {key} and sk-proj-a1B2c3D4e5F6g7H8i9J0k1L2 is another one, s"

    async def stream(_messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
        for at in range(0, len(answer), 5):
            yield answer[at : at + 5]

    result = await run_intent(env.service(), "what is my key?", events, model=FunctionModel(stream_function=stream))
    assert result.status == "completed"
    streamed = [payload["text"] for payload in events.of("agent_text")]
    assert len(streamed) > 5  # it did stream
    for piece in streamed:
        assert "PASSWORD" not in piece and "a1B2c3D4" not in piece and "0123456789" not in piece
    assert "".join(streamed) == "Your key is [REDACTED] and [REDACTED] is another one, s"
    types = events.types()
    assert types.index("agent_result") > max(i for i, kind in enumerate(types) if kind == "agent_text")
