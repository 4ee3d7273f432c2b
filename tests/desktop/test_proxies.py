"""ProxySupervisor against a fake proxy program: start, health, watchdog restart with backoff, user stop."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contop.desktop.proxies import (
    ProxyManager,
    ProxyStatus,
    ProxySupervisor,
    WatchdogTiming,
    local_port,
    proxy_command_factory,
    proxy_url,
)

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
FAKE = str(Path(__file__).with_name("fake_proxy.py"))
FAST = WatchdogTiming(health_interval=0.2, start_timeout=10, stable_after=60, backoff_base=0.2, backoff_cap=1.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake(*extra: str) -> Callable[[str, int], list[str]]:
    return lambda provider, port: [sys.executable, FAKE, provider, "--port", str(port), *extra]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its re-parented reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[ProxySupervisor]:
    sup = ProxySupervisor("anthropic", free_port(), tmp_path / "proxy-anthropic.log", fake(), FAST)
    try:
        yield sup
    finally:
        sup.stop()


def test_start_reaches_running_and_logs_to_its_file(supervisor: ProxySupervisor) -> None:
    assert supervisor.status is ProxyStatus.STOPPED
    supervisor.start()
    assert supervisor.status is ProxyStatus.STARTING
    wait_for(lambda: supervisor.status is ProxyStatus.RUNNING)
    wait_for(lambda: "GET /health" in supervisor.log_path.read_text())
    assert "fake anthropic proxy" in supervisor.log_path.read_text()


def test_watchdog_restarts_a_crashed_proxy(supervisor: ProxySupervisor) -> None:
    supervisor.start()
    wait_for(lambda: supervisor.status is ProxyStatus.RUNNING)
    first = supervisor.pid
    assert first is not None
    os.kill(first, 9)
    wait_for(lambda: supervisor.status is ProxyStatus.DEGRADED or supervisor.restarts > 0)
    wait_for(lambda: supervisor.status is ProxyStatus.RUNNING and supervisor.pid not in (None, first))
    assert supervisor.restarts == 1
    assert "exited" in supervisor.last_error


def test_user_stop_is_final(supervisor: ProxySupervisor) -> None:
    supervisor.start()
    wait_for(lambda: supervisor.status is ProxyStatus.RUNNING)
    pid = supervisor.pid
    assert pid is not None
    supervisor.stop()
    assert supervisor.status is ProxyStatus.STOPPED
    wait_for(lambda: not alive(pid))
    time.sleep(1.0)  # longer than the backoff: nothing brings it back
    assert supervisor.status is ProxyStatus.STOPPED and supervisor.pid is None


def test_a_proxy_that_keeps_crashing_backs_off(tmp_path: Path) -> None:
    sup = ProxySupervisor("gemini", free_port(), tmp_path / "proxy-gemini.log", fake("--exit-after", "0.3"), FAST)
    try:
        sup.start()
        wait_for(lambda: sup.restarts >= 3, timeout=20)
        assert sup.status in (ProxyStatus.DEGRADED, ProxyStatus.STARTING, ProxyStatus.RUNNING)
    finally:
        sup.stop()
    assert sup.status is ProxyStatus.STOPPED


def test_a_program_that_cannot_start_is_degraded_not_fatal(tmp_path: Path) -> None:
    sup = ProxySupervisor("openai", free_port(), tmp_path / "p.log", lambda p, port: [str(tmp_path / "nope")], FAST)
    try:
        sup.start()
        wait_for(lambda: sup.restarts >= 1)
        assert "cannot start" in sup.last_error
    finally:
        sup.stop()


def test_proxy_detection_matches_this_build(tmp_path: Path) -> None:
    installed = importlib.util.find_spec("contop.cli.proxy") is not None
    installed = installed or importlib.util.find_spec("contop.proxy.__main__") is not None
    factory = proxy_command_factory()
    assert (factory is not None) == installed
    manager = ProxyManager(tmp_path, factory)
    assert manager.available == installed
    assert set(manager.supervisors) == ({"anthropic", "gemini", "openai"} if installed else set())


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _app_stub(home: Path, port: int) -> str:
    # A minimal "app": supervises a proxy as the desktop app does, then lives until it is killed.
    return textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from contop.desktop.proxies import ProxyStatus, ProxySupervisor, WatchdogTiming, proxy_command_factory
        command = proxy_command_factory(Path({str(home)!r}))  # the real proxy, as the app starts it
        sup = ProxySupervisor("anthropic", {port}, Path({str(home)!r}) / "proxy-anthropic.log", command,
                              WatchdogTiming(health_interval=0.2))
        sup.start()
        while sup.status not in (ProxyStatus.RUNNING, ProxyStatus.DEGRADED):  # degraded: no Claude CLI here
            time.sleep(0.05)
        print(sup.pid, flush=True)
        time.sleep(600)
        """
    )


def test_a_proxy_does_not_outlive_an_app_killed_outright(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    app = subprocess.Popen([sys.executable, "-c", _app_stub(home, port)], stdout=subprocess.PIPE, cwd=REPO)
    proxy_pid = 0
    try:
        assert app.stdout is not None
        proxy_pid = int(app.stdout.readline())
        assert alive(proxy_pid)
        app.kill()  # SIGKILL: the app gets no chance to stop its proxies
        app.wait(10)
        wait_for(lambda: not alive(proxy_pid), timeout=5)
        assert not _answers(port)  # the next start of the app finds its port free
    finally:
        app.kill()
        app.wait(10)
        if app.stdout is not None:
            app.stdout.close()
        if proxy_pid and alive(proxy_pid):
            os.kill(proxy_pid, signal.SIGKILL)


def test_a_port_held_by_another_program_is_reported_and_not_retried(tmp_path: Path) -> None:
    port = free_port()
    # As a proxy left running by an earlier app: it answers /health on the port.
    other = subprocess.Popen([sys.executable, FAKE, "anthropic", "--port", str(port)], stdout=subprocess.DEVNULL)
    sup = ProxySupervisor("anthropic", port, tmp_path / "proxy-anthropic.log", fake(), FAST)
    try:
        wait_for(lambda: _answers(port))
        statuses: list[ProxyStatus] = []
        sup.start()
        deadline = time.monotonic() + 3  # longer than a few backoff rounds
        while time.monotonic() < deadline:
            statuses.append(sup.status)
            time.sleep(0.02)
        assert ProxyStatus.RUNNING not in statuses  # the other program's /health is not taken for ours
        assert sup.status is ProxyStatus.STOPPED and sup.restarts == 0 and sup.pid is None
        assert sup.last_error.startswith(f"port {port} is already used by another program")
        assert "choose another port" in sup.last_error
        assert other.poll() is None  # left alone
    finally:
        sup.stop()
        other.kill()
        other.wait(10)


def test_proxy_urls_and_their_local_ports() -> None:
    assert proxy_url(3460) == "http://127.0.0.1:3460"
    assert local_port(proxy_url(3460)) == 3460
    assert local_port("http://localhost:3456/v1") == 3456
    assert local_port("") is None
    assert local_port("http://10.0.0.5:3456") is None  # a proxy on another computer
    assert local_port("http://127.0.0.1:99999") is None
