"""What becomes of a CLI call nobody waits for any more: its client left, or the proxy was stopped or killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest

from tests.proxy.proxyproc import ProxyProcess, wait_gone

pytestmark = pytest.mark.timeout(60)

BODY = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


def post(proxy: ProxyProcess, timeout: float) -> httpx.Response:
    return httpx.post(proxy.url + "/v1/chat/completions", json=BODY, timeout=timeout)


def ask_meanwhile(proxy: ProxyProcess) -> tuple[threading.Thread, list[httpx.Response | httpx.HTTPError]]:
    """A client waiting for an answer in a thread; what it got lands in the list."""
    answers: list[httpx.Response | httpx.HTTPError] = []

    def ask() -> None:
        try:
            answers.append(post(proxy, timeout=30))
        except httpx.HTTPError as exc:
            answers.append(exc)

    client = threading.Thread(target=ask)
    client.start()
    return client, answers


def wait_calls(proxy: ProxyProcess, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(proxy.calls()) < count:
        assert time.monotonic() < deadline, f"the CLI was not started: {proxy.log_path.read_text()}"
        time.sleep(0.05)
    return proxy.calls()


def call_log(proxy: ProxyProcess) -> list[dict[str, Any]]:
    return [
        json.loads(line) for log in (proxy.home / "logs").glob("llm-sub-*.log") for line in log.read_text().splitlines()
    ]


def test_a_client_that_leaves_stops_its_cli_and_frees_the_slot(make_proxy: Any) -> None:
    proxy = make_proxy(args=["--max-concurrent", "1"], steps=[{"sleep": 50, "child": True}, {"reply": "next"}])
    with pytest.raises(httpx.ReadTimeout):
        post(proxy, timeout=1)  # the agent's own model-call timeout, in small
    pids = proxy.cli_pids()
    assert len(pids) == 2 and wait_gone(pids, 5), "the abandoned CLI (or its helper) still runs"
    started = time.monotonic()
    r = post(proxy, timeout=10)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "next"
    assert time.monotonic() - started < 3
    first, second = call_log(proxy)
    assert first["abandoned"] == "client_disconnected" and "error" not in first and "status" not in first
    assert second["status"] == 200


async def test_a_request_that_leaves_the_queue_gives_up_its_place(make_proxy: Any) -> None:
    proxy = make_proxy(
        args=["--max-concurrent", "1", "--max-queue", "1"], steps=[{"sleep": 3, "reply": "first"}, {"reply": "third"}]
    )
    url = proxy.url + "/v1/chat/completions"
    async with httpx.AsyncClient(timeout=30) as client:
        first = asyncio.create_task(client.post(url, json=BODY))
        await asyncio.to_thread(wait_calls, proxy, 1)
        async with httpx.AsyncClient(timeout=1) as impatient:
            with pytest.raises(httpx.ReadTimeout):
                await impatient.post(url, json=BODY)  # waits in the queue, then leaves
        await asyncio.sleep(0.3)
        third = await client.post(url, json=BODY)
        assert third.status_code == 200, third.text  # not 429: the queue has room again
        assert third.json()["choices"][0]["message"]["content"] == "third"
        assert (await first).status_code == 200
    assert len(proxy.calls()) == 2  # the request that left never started a CLI


@pytest.mark.parametrize("signals", [["SIGTERM"], ["SIGINT"], ["SIGINT", "SIGINT"]])
def test_a_stop_during_a_call_kills_the_cli_and_exits_cleanly(make_proxy: Any, signals: list[str]) -> None:
    proxy = make_proxy(steps=[{"sleep": 50, "ignore_term": True, "child": True}])
    client, answers = ask_meanwhile(proxy)
    wait_calls(proxy, 1)
    assert proxy.proc is not None
    started = time.monotonic()
    for name in signals:
        proxy.proc.send_signal(getattr(signal, name))
        time.sleep(0.3)
    assert proxy.proc.wait(10) == 0
    assert time.monotonic() - started < 5
    assert wait_gone(proxy.cli_pids(), 1), "the CLI outlived the proxy"
    client.join(10)
    log = proxy.log_path.read_text()
    assert "Traceback" not in log and "Exception" not in log, log
    if len(signals) == 1:
        answer = answers[0]
        assert isinstance(answer, httpx.Response) and answer.status_code == 503
        assert answer.json()["error"]["code"] == "proxy_stopping" and "retry" in answer.json()["error"]["message"]


def test_the_desktop_apps_stop_leaves_no_cli(make_proxy: Any) -> None:
    """The desktop app: SIGTERM to the proxy's process group, SIGKILL 2 s later. The CLI is in a group of its own."""
    proxy = make_proxy(steps=[{"sleep": 50, "ignore_term": True, "child": True}])
    client, _ = ask_meanwhile(proxy)
    wait_calls(proxy, 1)
    assert proxy.proc is not None
    os.killpg(proxy.proc.pid, signal.SIGTERM)
    try:
        proxy.proc.wait(2)
    except subprocess.TimeoutExpired:
        os.killpg(proxy.proc.pid, signal.SIGKILL)
        proxy.proc.wait()
    assert wait_gone(proxy.cli_pids(), 1), "the CLI or its helper outlived the proxy"
    client.join(10)


def test_a_killed_proxy_takes_its_cli_along(make_proxy: Any) -> None:
    """No cleanup of the proxy's runs on SIGKILL: the CLI's helper, which ignores SIGTERM, must die as well."""
    proxy = make_proxy(steps=[{"sleep": 50, "child": True}])
    client, _ = ask_meanwhile(proxy)
    wait_calls(proxy, 1)
    assert proxy.proc is not None
    proxy.proc.kill()
    proxy.proc.wait()
    assert wait_gone(proxy.cli_pids(), 3), "the CLI or its helper outlived the killed proxy"
    client.join(10)
