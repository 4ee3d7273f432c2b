"""``contop proxy`` as a real subprocess over fake provider CLIs: chat, streaming, tool calls, errors, limits."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.proxyproc import ProxyProcess, free_port, processes_with

pytestmark = pytest.mark.timeout(60)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "execute_cli",
            "description": "Run a shell command",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
        },
    }
]


def chat(proxy: ProxyProcess, messages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    body = {"model": "claude-sonnet-4-5", "messages": messages, **extra}
    return httpx.post(proxy.url + "/v1/chat/completions", json=body, timeout=30, headers=extra.pop("headers", None))


def sse_events(text: str) -> list[Any]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_chat_each_provider(make_proxy: Any, provider: str) -> None:
    proxy = make_proxy(provider, steps=[{"reply": f"hello from {provider}"}])
    assert httpx.get(proxy.url + "/health").json()["cli_installed"] is True
    models = httpx.get(proxy.url + "/v1/models").json()
    assert models["object"] == "list" and models["data"]
    r = chat(proxy, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == f"hello from {provider}"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 150
    call = proxy.calls()[0]
    assert "Be brief." in call["stdin"] and "hi" in call["stdin"]
    logs = list((proxy.home / "logs").glob("llm-sub-*.log"))
    assert len(logs) == 1
    line = json.loads(logs[0].read_text().splitlines()[0])
    assert line["exit_code"] == 0 and line["usage"]["total_tokens"] == 150 and "duration_ms" in line


def test_streaming(make_proxy: Any) -> None:
    proxy = make_proxy(steps=[{"reply": "streamed answer"}])
    r = chat(proxy, [{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "streamed answer"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"]["total_tokens"] == 150


def test_tool_call_round_trip_streaming_and_not(make_proxy: Any) -> None:
    call = 'Running it.\n```json\n{"tool_calls": [{"name": "execute_cli", "arguments": {"command": "echo hi"}}]}\n```'
    proxy = make_proxy(steps=[{"reply": call}, {"reply": call}, {"reply": "The command printed hi."}])
    user = [{"role": "user", "content": "say hi"}]
    r = chat(proxy, user, tools=TOOLS)
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    tool_call = choice["message"]["tool_calls"][0]
    assert tool_call["function"]["name"] == "execute_cli"
    assert json.loads(tool_call["function"]["arguments"]) == {"command": "echo hi"}

    streamed = sse_events(chat(proxy, user, tools=TOOLS, stream=True).text)[:-1]
    deltas = [c["choices"][0] for c in streamed if c["choices"]]
    calls = [tc for d in deltas for tc in d["delta"].get("tool_calls") or []]
    assert calls[0]["function"]["name"] == "execute_cli" and calls[0]["index"] == 0
    assert deltas[-1]["finish_reason"] == "tool_calls"

    history = [
        *user,
        {"role": "assistant", "content": None, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "hi\n"},
    ]
    r = chat(proxy, history, tools=TOOLS)
    assert r.json()["choices"][0]["message"]["content"] == "The command printed hi."
    last_prompt = proxy.calls()[-1]["stdin"]
    assert tool_call["id"] in last_prompt and "hi\n" in last_prompt and "echo hi" in last_prompt


def test_malformed_reply_is_plain_text(make_proxy: Any) -> None:
    proxy = make_proxy(steps=[{"reply": 'I would call {"tool_calls": [{"name": "execute_cli", "arguments": oops'}])
    r = chat(proxy, [{"role": "user", "content": "go"}], tools=TOOLS)
    assert r.status_code == 200
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "stop" and "oops" in choice["message"]["content"]


def test_image_refused_before_spawning(make_proxy: Any) -> None:
    proxy = make_proxy()
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    r = chat(proxy, [{"role": "user", "content": [{"type": "text", "text": "what is this"}, image]}])
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "images_not_supported" and "text only" in r.json()["error"]["message"]
    assert proxy.calls() == []


def test_shell_metacharacters_arrive_byte_exact(make_proxy: Any) -> None:
    proxy = make_proxy()
    nasty = "$(rm -rf ~) `touch /tmp/pwned` 'single' \"double\" ; | && $HOME \\ \n\t☃ %s {}"
    r = chat(proxy, [{"role": "user", "content": nasty}])
    assert r.status_code == 200
    call = proxy.calls()[0]
    assert nasty in call["stdin"]
    assert all(nasty not in a for a in call["argv"])
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_auth_and_rate_limit_errors(make_proxy: Any, provider: str) -> None:
    proxy = make_proxy(provider, steps=[{"fail": "auth"}, {"fail": "rate"}, {"fail": "crash"}])
    r = chat(proxy, [{"role": "user", "content": "hi"}])
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["type"] == "authentication_error" and "to log in" in error["message"]
    login = {"anthropic": "`claude`", "gemini": "`gemini`", "openai": "`codex login`"}[provider]
    assert login in error["message"]
    r = chat(proxy, [{"role": "user", "content": "hi"}])
    assert r.status_code == 429 and r.json()["error"]["code"] == "cli_rate_limit"
    r = chat(proxy, [{"role": "user", "content": "hi"}], stream=True)
    assert r.status_code == 502 and r.json()["error"]["code"] == "cli_error"


def test_missing_cli_is_503_with_install_command(make_proxy: Any) -> None:
    proxy = make_proxy()
    (proxy.bin / "claude").unlink()
    assert httpx.get(proxy.url + "/health").json()["cli_installed"] is False
    r = chat(proxy, [{"role": "user", "content": "hi"}])
    assert r.status_code == 503
    assert "npm install -g @anthropic-ai/claude-code" in r.json()["error"]["message"]
    assert httpx.get(proxy.url + "/v1/models").status_code == 503


def test_timeout_kills_the_whole_group(make_proxy: Any) -> None:
    proxy = make_proxy(args=["--timeout", "1"], steps=[{"sleep": 60, "ignore_term": True, "child": True}])
    started = time.monotonic()
    r = chat(proxy, [{"role": "user", "content": "hang"}])
    assert r.status_code == 504 and r.json()["error"]["code"] == "cli_timeout"
    assert time.monotonic() - started < 15
    pid = proxy.calls()[0]["pid"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (processes_with("fake-cli-child") or Path(f"/proc/{pid}").exists()):
        time.sleep(0.1)
    assert processes_with("fake-cli-child") == []
    assert not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()


async def test_concurrency_limit_gives_429(make_proxy: Any) -> None:
    proxy = make_proxy(args=["--max-concurrent", "1", "--max-queue", "1"], steps=[{"sleep": 2, "reply": "slow"}])
    async with httpx.AsyncClient(timeout=30) as client:
        body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}

        async def post() -> httpx.Response:
            return await client.post(proxy.url + "/v1/chat/completions", json=body)

        first = asyncio.create_task(post())
        await asyncio.sleep(0.3)
        second = asyncio.create_task(post())
        await asyncio.sleep(0.3)
        third = await post()
        assert third.status_code == 429 and third.json()["error"]["code"] == "proxy_queue_full"
        assert (await first).status_code == 200
        assert (await second).status_code == 200


def test_session_logs_are_per_session(make_proxy: Any) -> None:
    proxy = make_proxy()
    msgs = [{"role": "user", "content": "hi"}]
    chat(proxy, msgs, headers={"x-contop-session": "abcdef1234567890"})
    chat(proxy, msgs, user="zzzz9999-session")
    names = sorted(p.name for p in (proxy.home / "logs").glob("llm-sub-*.log"))
    assert [n.split("-")[2] for n in names] == ["abcdef12", "zzzz9999"]


def test_refuses_non_loopback_bind(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "contop", "proxy", "anthropic", "--host", "0.0.0.0", "--port", str(free_port())]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={"CONTOP_HOME": str(tmp_path)})
    assert done.returncode == 2 and "loopback" in done.stderr


def test_a_new_home_is_private(tmp_path: Path) -> None:
    proxy = ProxyProcess(tmp_path / "p")
    proxy.home = tmp_path / "p" / "new" / "nested" / "home"
    try:
        proxy.start()
        assert chat(proxy, [{"role": "user", "content": "hi"}]).status_code == 200
    finally:
        proxy.stop()
    logs = list((proxy.home / "logs").glob("llm-sub-*.log"))
    assert len(logs) == 1
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (proxy.home, proxy.home / "logs", logs[0])}
    assert modes == {"home": 0o700, "logs": 0o700, logs[0].name: 0o600}
