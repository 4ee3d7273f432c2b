"""ProxySupervisor against a fake proxy program: start, health, watchdog restart with backoff, user stop."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contop.desktop.proxies import (
    ProxyManager,
    ProxyStatus,
    ProxySupervisor,
    WatchdogTiming,
    proxy_command_factory,
)

pytestmark = pytest.mark.timeout(60)

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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
