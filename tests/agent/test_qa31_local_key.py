"""A local OpenAI-compatible server that wants an API key (vLLM or llama.cpp started with --api-key, LM Studio with
authentication, a LiteLLM proxy): ``local_model_api_key``, or ``LOCAL_MODEL_API_KEY``, is sent to it as a Bearer
token, a refusal names that setting, and the key is hidden wherever the other API keys are.

QA (round 31): the agent always sent ``Authorization: Bearer not-needed`` to such a server, and its 401 reached the
phone as "ModelAuthenticationError: status_code: 401 … body: {...}". These tests run a fake server on loopback that
answers only with the right key: the agent's own service, and a real ``contop serve`` with a phone over WebRTC.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from contop.agent.events import RecordingEvents
from contop.agent.models import ModelSpec, resolve_model
from contop.client.client import ContopClient
from contop.core.messages import UserIntent, UserIntentPayload
from contop.core.settings import Settings
from contop.testing.server import ServerProcess
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(90)

KEY = "vllm-qa31-" + "6b1f0c9e2d7a4853"  # no provider's key shape: only a server that knows it can hide it
WRONG = "wrong-qa31-" + "a94c1e07b3d2f568"
MARK = "command-ran-" + "c1d2"


@dataclass
class FakeServer:
    """A loopback OpenAI-compatible server: ``GET /v1/models`` and ``POST /v1/chat/completions``, answered only
    when ``Authorization`` is ``Bearer <key>`` (401 or ``refuse`` otherwise, quoting the header back as OpenAI
    does). The model runs ``command`` with execute_cli once, then answers ``final``."""

    key: str
    command: str = ""
    final: str = "all done"
    refuse: int = 401
    seen: list[str] = field(default_factory=list)  # the Authorization header of each request
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler(fake: FakeServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _allowed(self) -> bool:
            given = self.headers.get("Authorization", "")
            with fake.lock:
                fake.seen.append(given)
            if given == f"Bearer {fake.key}":
                return True
            message = f"Incorrect API key provided: {given.removeprefix('Bearer ')}"
            self._json(fake.refuse, {"error": {"message": message, "type": "invalid_request_error"}})
            return False

        def do_GET(self) -> None:
            if self._allowed():
                self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            with fake.lock:
                fake.bodies.append(body)
            if not self._allowed():
                return
            ran = any(m.get("role") == "tool" for m in body["messages"])
            if fake.command and not ran:
                function = {"name": "execute_cli", "arguments": json.dumps({"command": fake.command})}
                call = {"index": 0, "id": "call_1", "type": "function", "function": function}
                self._answer(body, {"role": "assistant", "tool_calls": [call]}, "tool_calls")
            else:
                self._answer(body, {"role": "assistant", "content": fake.final}, "stop")

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, body: dict[str, Any], message: dict[str, Any], finish: str) -> None:
            if not body.get("stream"):
                choice = {"index": 0, "message": message, "finish_reason": finish}
                self._json(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": "fake",
                                 "choices": [choice]})  # fmt: skip
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(_chunk(message) + _chunk({}, finish) + b"data: [DONE]\n\n")
            self.close_connection = True

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def fake_server(key: str = KEY, **options: Any) -> Iterator[FakeServer]:
    fake = FakeServer(key, **options)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def use_local(env: Env, url: str, **more: Any) -> None:
    env.settings = env.settings.model_copy(
        update={"execution_model": "openai-compatible:fake", "local_model_base_url": url, **more}
    )


def stored_text(env: Env) -> bytes:
    return b"".join(p.read_bytes() for p in (env.state / "data").glob("sessions.db*"))


def llm_log(env: Env) -> str:
    """The model call log. (The audit log these tests give the agent knows no secrets: the server's does, and
    the tests through the server look at it.)"""
    return "".join(p.read_text(errors="replace") for p in (env.state / "logs").glob("llm-*.log"))


# --- the key is sent -------------------------------------------------------------------------------------------


async def test_the_key_in_the_settings_is_sent_as_a_bearer_token(env: Env, events: RecordingEvents) -> None:
    with fake_server(command=f"echo {MARK}") as fake:
        use_local(env, fake.url, local_model_api_key=KEY)
        result = await run_intent(env.service(), "run it", events)
    assert result.status == "completed" and result.answer == "all done", result
    assert len(fake.seen) == 2 and set(fake.seen) == {f"Bearer {KEY}"}, fake.seen  # the tool step's request too
    tool_turn = json.dumps(fake.bodies[-1]["messages"])
    assert MARK in tool_turn, tool_turn  # the command ran and its result went back to the model


async def test_the_environment_variable_is_used_when_the_setting_is_empty(env: Env, events: RecordingEvents) -> None:
    env.env["LOCAL_MODEL_API_KEY"] = KEY
    with fake_server() as fake:
        use_local(env, fake.url)
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "completed" and result.answer == "all done", result
    assert set(fake.seen) == {f"Bearer {KEY}"}, fake.seen


async def test_the_setting_wins_over_the_environment_variable(env: Env, events: RecordingEvents) -> None:
    env.env["LOCAL_MODEL_API_KEY"] = WRONG
    with fake_server() as fake:
        use_local(env, fake.url, local_model_api_key=KEY)
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "completed", result
    assert set(fake.seen) == {f"Bearer {KEY}"}, fake.seen


async def test_the_key_wins_over_a_user_and_password_in_the_url(env: Env, events: RecordingEvents) -> None:
    """httpx sends a URL's user and password as Basic authentication in place of any Authorization header."""
    with fake_server() as fake:
        use_local(env, fake.url.replace("http://", "http://alice:url-pw-31@"), local_model_api_key=KEY)
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "completed", (result, fake.seen)
    assert set(fake.seen) == {f"Bearer {KEY}"}, fake.seen


async def test_without_a_key_a_url_password_is_still_sent_as_basic(env: Env, events: RecordingEvents) -> None:
    basic = "Basic " + base64.b64encode(b"alice:url-pw-31").decode()
    with fake_server(key="unused") as fake:
        use_local(env, fake.url.replace("http://", "http://alice:url-pw-31@"))
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "failed"
    assert fake.seen and set(fake.seen) == {basic}, fake.seen
    assert "http://alice:***@127.0.0.1" in result.answer and "url-pw-31" not in json.dumps(events.events)


# --- a refusal says what to set --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_without_the_key_the_refusal_names_the_setting(env: Env, events: RecordingEvents, status: int) -> None:
    with fake_server(refuse=status) as fake:
        use_local(env, fake.url)
        result = await run_intent(env.service(), "hi", events)
    said = (
        f"the model server at {fake.url} refused the request ({status}): set local_model_api_key "
        "(or LOCAL_MODEL_API_KEY) to its API key"
    )
    assert result.status == "failed"
    assert result.answer == f"The model failed, so I stopped: {said}", result.answer
    assert [s["message"] for s in events.of("agent_status") if s["status_type"] == "model_error"] == [said]
    assert "status_code" not in result.answer
    assert fake.seen == ["Bearer not-needed"]  # refused at once: not asked again


async def test_a_refused_key_is_named_and_never_shown(env: Env, events: RecordingEvents) -> None:
    """The server quotes the key it was sent back in its 401 (as OpenAI does): the phone, the model call log and
    the stored conversation never hold it."""
    with fake_server() as fake:
        use_local(env, fake.url.replace("http://", "http://bob:pw-qa31-hidden@"), local_model_api_key=WRONG)
        result = await run_intent(env.service(), "hi", events)
    shown = fake.url.replace("http://", "http://bob:***@")
    assert result.status == "failed"
    assert (
        f"the model server at {shown} refused the API key it was sent (401): set local_model_api_key "
        "(or LOCAL_MODEL_API_KEY) to its API key"
    ) in result.answer, result.answer
    assert fake.seen == [f"Bearer {WRONG}"]
    assert env.store is not None
    stored = json.dumps([dataclasses.asdict(m) for m in await env.store.load(result.session_id)], default=str)
    for where in (json.dumps(events.events), llm_log(env), stored, stored_text(env).decode("latin-1")):
        assert WRONG not in where and "pw-qa31-hidden" not in where


async def test_a_key_the_model_repeats_is_hidden_from_the_phone_and_the_history(
    env: Env, events: RecordingEvents
) -> None:
    with fake_server(command=f"echo {KEY}", final=f"the key is {KEY}") as fake:
        use_local(env, fake.url, local_model_api_key=KEY)
        result = await run_intent(env.service(), "hi", events)
    assert result.status == "completed", result
    answer = events.of("agent_result")[0]["answer"]  # what the phone is sent
    assert answer.startswith("the key is ") and KEY not in answer, answer
    assert llm_log(env).count('"event": "request"') == 2  # the model call log was written, for both turns
    assert env.store is not None
    stored = json.dumps([dataclasses.asdict(m) for m in await env.store.load(result.session_id)], default=str)
    for where in (json.dumps(events.events), llm_log(env), stored, stored_text(env).decode("latin-1")):
        assert KEY not in where


# --- the key is no provider ------------------------------------------------------------------------------------


def test_the_local_key_alone_chooses_no_model() -> None:
    """Only the cloud providers' keys pick a model when execution_model is empty."""
    assert resolve_model(Settings(local_model_api_key="k"), {}) is None
    assert resolve_model(Settings(), {"LOCAL_MODEL_API_KEY": "k"}) is None
    spec = resolve_model(Settings(local_model_api_key="k", anthropic_api_key="a"), {})
    assert spec is not None and (spec.provider, spec.api_key) == ("anthropic", "a")


def test_the_key_goes_only_to_the_local_server() -> None:
    local = Settings(execution_model="openai-compatible:m", local_model_base_url="http://h/v1", local_model_api_key="k")
    spec = resolve_model(local, {})
    assert spec == ModelSpec("openai-compatible", "m", base_url="http://h/v1", api_key="k")
    assert "k" not in repr(spec) and spec.label == "openai-compatible:m"
    cloud = resolve_model(local.model_copy(update={"execution_model": "openai:gpt-4.1", "openai_api_key": "o"}), {})
    assert cloud is not None and cloud.api_key == "o"


# --- through the server: a phone over WebRTC -------------------------------------------------------------------


def _holding(root: Path, secret: str) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes())


async def _run_from_a_phone(server: ServerProcess, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Pair a phone, send ``text``; the agent_result payload and every message the phone received."""
    paired = await asyncio.to_thread(server.pair, connection_type="temp")
    client = ContopClient(paired["url"], device_id="qa31-key-phone", video=False)
    received: list[dict[str, Any]] = []
    await client.connect()
    try:
        client.send(UserIntent(payload=UserIntentPayload(text=text)))
        async with asyncio.timeout(60):
            async for message in client.messages():
                received.append(message.to_dict())
                if message.type == "agent_result":
                    return received[-1]["payload"], received
    finally:
        await client.aclose()
    raise AssertionError(f"the connection closed before the agent_result: {received}")


@pytest.mark.slow
@pytest.mark.parametrize("source", ["settings", "environment"])
async def test_through_the_server_the_key_is_sent_and_never_shown(tmp_path: Path, source: str) -> None:
    home = tmp_path / "home"
    # The command also prints the variable: the agent's commands run without the server's secret variables.
    command = f'echo {KEY} {MARK} "from-env=$LOCAL_MODEL_API_KEY."'
    with fake_server(command=command, final=f"done; the key was {KEY}") as fake:
        env = {"LOCAL_MODEL_API_KEY": KEY} if source == "environment" else {}
        server = await asyncio.to_thread(ServerProcess(home, env=env).start)
        try:
            settings = (await asyncio.to_thread(server.request, "GET", "/api/settings")).json()
            settings.update(execution_model="openai-compatible:fake", local_model_base_url=fake.url)
            if source == "settings":
                settings["local_model_api_key"] = KEY
            put = await asyncio.to_thread(server.request, "PUT", "/api/settings", json=settings)
            assert put.status_code == 200, put.text
            result, received = await _run_from_a_phone(server, "run it")
        finally:
            await asyncio.to_thread(server.stop)
        server_log = server.log()
    assert result["status"] == "completed", (result, fake.seen)
    assert result["answer"].startswith("done; the key was "), result
    assert set(fake.seen) == {f"Bearer {KEY}"} and len(fake.seen) == 2, fake.seen
    tool_turn = json.dumps(fake.bodies[-1]["messages"])
    assert f"{KEY} {MARK} from-env=." in tool_turn, tool_turn  # the command ran, and had no LOCAL_MODEL_API_KEY
    states = [m["payload"] for m in received if m["type"] == "state_update"]
    assert states and all(s["models"][0]["id"] == "openai-compatible:fake" for s in states), states
    audit = "\n".join(p.read_text() for p in (home / "logs").glob("session-*.jsonl"))
    assert MARK in audit  # the command was audited, with the key hidden
    assert KEY not in json.dumps(received), received  # the phone: state_update, progress, results
    assert KEY not in server_log
    assert _holding(home, KEY) == (
        [str(home / "settings.json")] if source == "settings" else []
    )  # only settings.json holds it: not the audit log, the model call log or the stored conversation


@pytest.mark.slow
async def test_through_the_server_a_missing_key_is_named_on_the_phone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with fake_server() as fake:
        server = await asyncio.to_thread(ServerProcess(home).start)
        try:
            settings = (await asyncio.to_thread(server.request, "GET", "/api/settings")).json()
            settings.update(execution_model="openai-compatible:fake", local_model_base_url=fake.url)
            put = await asyncio.to_thread(server.request, "PUT", "/api/settings", json=settings)
            assert put.status_code == 200, put.text
            result, received = await _run_from_a_phone(server, "hi")
        finally:
            await asyncio.to_thread(server.stop)
    said = (
        f"the model server at {fake.url} refused the request (401): set local_model_api_key "
        "(or LOCAL_MODEL_API_KEY) to its API key"
    )
    assert result["status"] == "failed" and said in result["answer"], result
    statuses = [m["payload"]["message"] for m in received if m["type"] == "agent_status"]
    assert said in statuses, statuses
