"""What the Proxies page says when a proxy runs but cannot work (its CLI is missing) or cannot start (its port is
taken): the supervisor and the page against a real ``contop proxy`` with a fake CLI, installed or not."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pytestqt.qtbot import QtBot

from contop.desktop.api import ApiClient
from contop.desktop.pages.proxies import ProxiesPage, detail_text
from contop.desktop.proxies import (
    ProxyManager,
    ProxyStatus,
    ProxySupervisor,
    WatchdogTiming,
    cli_problem,
    exit_reason,
    proxy_command_factory,
)
from contop.desktop.tasks import TaskRunner
from contop.testing.server import ServerProcess
from tests.proxy.fakecli import install_fake
from tests.proxy.proxyproc import free_port

pytestmark = pytest.mark.timeout(90)

FAST = WatchdogTiming(health_interval=0.2, start_timeout=20, stable_after=60, backoff_base=0.2, backoff_cap=1.0)
WAIT = 30_000
CLAUDE_HINT = (
    "Running, but Claude Code is not installed: install it with `npm install -g @anthropic-ai/claude-code`, "
    "then run `claude` once to log in"
)


def test_cli_problem_from_health() -> None:
    health = {"status": "ok", "cli_installed": False, "install": "npm install -g @anthropic-ai/claude-code"}
    assert cli_problem("anthropic", {**health, "login": "claude"}) == CLAUDE_HINT
    assert cli_problem("openai", {"cli_installed": False}) == (
        "Running, but Codex CLI is not installed: see the proxy's log"
    )
    assert cli_problem("anthropic", {**health, "cli_installed": True}) == ""
    assert cli_problem("anthropic", {"status": "ok"}) == ""  # an older proxy that does not say
    assert cli_problem("anthropic", None) == ""


def test_exit_reason_from_output() -> None:
    out = (
        "\n----- contop desktop: gemini proxy starting at 2026-01-01 10:00:00 UTC -----\n"
        "2026-01-01 10:00:01 WARNING contop.proxy.app: Gemini CLI (`gemini`) is not installed\n"
        "contop proxy: error: cannot listen on 127.0.0.1:3457: already in use\n"
    )
    assert exit_reason(out) == "cannot listen on 127.0.0.1:3457: already in use"
    trace = "Traceback (most recent call last):\n  File ...\nOSError: [Errno 24] Too many open files\n"
    assert exit_reason(trace) == "[Errno 24] Too many open files"
    assert exit_reason("anthropic request failed: cli_error\n") == ""
    assert exit_reason("") == ""


def test_detail_text() -> None:
    assert detail_text(ProxyStatus.DEGRADED, "Running, but x", "exited with code 1", 0) == "Running, but x."
    assert detail_text(ProxyStatus.DEGRADED, "", "exited with code 1: in use", 1) == (
        "Exited with code 1: in use. Restarted 1 time."
    )
    assert detail_text(ProxyStatus.RUNNING, "", "exited with code 1", 3) == "Restarted 3 times."
    assert detail_text(ProxyStatus.STOPPED, "Running, but x", "", 0) == ""


def real_proxy(home: Path) -> Callable[[str, int], list[str]]:
    return lambda provider, port: [
        *(sys.executable, "-m", "contop", "proxy", provider, "--port", str(port)),
        *("--home", str(home), "--min-interval", "0"),
    ]


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The proxies started by the tests see this folder (empty: no CLI installed) on PATH, and no real CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    script = tmp_path / "script.json"
    script.write_text('[{"reply": "hi"}]')
    monkeypatch.setenv("FAKE_CLI_SCRIPT", str(script))
    monkeypatch.setenv("FAKE_CLI_RECORD", str(tmp_path / "record"))
    return bin_dir


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_supervisor_degraded_while_the_cli_is_missing(tmp_path: Path, fake_path: Path) -> None:
    home = tmp_path / "state"  # a state directory of its own: the test's bin/ and script.json are not Contop's
    sup = ProxySupervisor("anthropic", free_port(), home / "proxy-anthropic.log", real_proxy(home), FAST)
    try:
        sup.start()
        wait_for(lambda: sup.status is ProxyStatus.DEGRADED and bool(sup.problem))
        assert sup.problem == CLAUDE_HINT
        assert sup.pid is not None and sup.restarts == 0  # it runs, and is not restarted for this
        install_fake(fake_path, "anthropic")  # the user installs it: no restart needed
        wait_for(lambda: sup.status is ProxyStatus.RUNNING)
        assert sup.problem == "" and sup.restarts == 0
    finally:
        sup.stop()
    assert sup.status is ProxyStatus.STOPPED and sup.problem == ""


def test_supervisor_says_the_port_is_in_use(tmp_path: Path, fake_path: Path, taken_port: int) -> None:
    install_fake(fake_path, "gemini")
    home = tmp_path / "state"
    sup = ProxySupervisor("gemini", taken_port, home / "proxy-gemini.log", real_proxy(home), FAST)
    try:
        sup.start()
        wait_for(lambda: sup.status is ProxyStatus.STOPPED)
        assert sup.last_error.startswith(f"port {taken_port} is already used by another program")
        time.sleep(1.5)  # longer than the backoff: it is not restarted in a loop
        assert sup.status is ProxyStatus.STOPPED and sup.restarts == 0 and sup.pid is None
    finally:
        sup.stop()


def test_page_shows_a_missing_cli_and_a_taken_port(
    qtbot: QtBot, tmp_path: Path, fake_path: Path, taken_port: int, artifacts: Path, server: ServerProcess
) -> None:
    install_fake(fake_path, "openai")  # codex is there; claude is not; gemini's port is taken
    manager = ProxyManager(server.home, real_proxy(server.home), FAST)  # the desktop app's home, as in the app
    tasks = TaskRunner()
    api = ApiClient(server.base_url, lambda: server.admin_token)
    page = ProxiesPage(manager, tasks, api)
    qtbot.addWidget(page)
    page.resize(1100, 560)
    page.show()
    try:
        page.ports["anthropic"].setValue(free_port())
        page.ports["gemini"].setValue(taken_port)
        page.ports["openai"].setValue(free_port())
        for provider in ("anthropic", "gemini", "openai"):
            page.start(provider)

        qtbot.waitUntil(lambda: "Running" in page.chips["openai"].text(), timeout=WAIT)
        assert page.details["openai"].text() == ""

        qtbot.waitUntil(lambda: "Degraded" in page.chips["anthropic"].text(), timeout=WAIT)
        qtbot.waitUntil(lambda: page.details["anthropic"].text() == CLAUDE_HINT + ".", timeout=WAIT)
        assert page.chips["anthropic"].kind == "warn"
        assert page.stop_buttons["anthropic"].isEnabled()

        qtbot.waitUntil(lambda: "already used" in page.details["gemini"].text(), timeout=WAIT)
        gemini = page.details["gemini"].text()
        assert gemini.startswith(f"Port {taken_port} is already used by another program")
        assert gemini.endswith("choose another port and press Start.") and "Restarted" not in gemini
        assert "Stopped" in page.chips["gemini"].text() and page.start_buttons["gemini"].isEnabled()
        assert page.ports["gemini"].isEnabled()
        assert page.grab().save(str(artifacts / "proxies-problems.png"))

        page.stop("anthropic")
        qtbot.waitUntil(lambda: "Stopped" in page.chips["anthropic"].text(), timeout=WAIT)
        assert page.details["anthropic"].text() == ""
    finally:
        manager.stop_all()
        page.timer.stop()
        tasks.shutdown()
        api.close()
    assert all(sup.pid is None for sup in manager.supervisors.values())


def test_the_desktops_proxies_keep_their_call_logs_in_its_home(tmp_path: Path, fake_path: Path) -> None:
    """``contop desktop --home X`` runs proxies that log to X/logs, not to ~/.contop."""
    install_fake(fake_path, "openai")
    home = tmp_path / "desk-home"
    factory = proxy_command_factory(home)
    assert factory is not None
    port = free_port()
    sup = ProxySupervisor("openai", port, tmp_path / "proxy-openai.log", factory, FAST)
    try:
        sup.start()
        wait_for(lambda: sup.status is ProxyStatus.RUNNING)
        body = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30).status_code == 200
        wait_for(lambda: any((home / "logs").glob("llm-sub-*.log")))
    finally:
        sup.stop()
