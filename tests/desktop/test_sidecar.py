"""The sidecar server process: start, health, crash detection, tree kill, and death with the app (any death)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from contop.desktop.sidecar import ParentDeath, Sidecar, SidecarConfig, SidecarState

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(sys.platform != "linux", reason="POSIX process groups")]

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def server_pids(home: Path) -> list[int]:
    """Processes running ``serve`` for this state directory (found through /proc, whoever started them)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and str(home).encode() in argv and alive(int(entry)):
            pids.append(int(entry))
    return pids


def test_start_health_stop_kills_the_group(tmp_path: Path) -> None:
    side = Sidecar(SidecarConfig(home=tmp_path / "home", port=0, host="127.0.0.1", parent_death=ParentDeath.default()))
    side.start()
    try:
        assert side.state is SidecarState.STARTING
        assert side.wait_healthy(30)
        side.mark_healthy()
        assert side.state is SidecarState.RUNNING
        assert httpx.get(f"http://127.0.0.1:{side.port}/health").json()["status"] == "healthy"
        pid = side.pid
        assert pid is not None and os.getpgid(pid) == pid  # its own process group
        assert "serving on" in (tmp_path / "home" / "logs" / "server.log").read_text()
    finally:
        side.stop()
    assert side.state is SidecarState.STOPPED
    assert not alive(pid)
    side.stop()  # idempotent


def test_a_server_that_dies_is_noticed_and_restarts(tmp_path: Path) -> None:
    side = Sidecar(SidecarConfig(home=tmp_path / "home", port=0, host="127.0.0.1"))
    side.start()
    try:
        assert side.wait_healthy(30)
        side.mark_healthy()
        assert side.poll()
        pid = side.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not side.poll())
        assert side.state is SidecarState.CRASHED
        assert side.returncode == -signal.SIGKILL
        side.start()
        assert side.wait_healthy(30)
    finally:
        side.stop()


def _app_stub(home: Path, mode: ParentDeath) -> str:
    # A minimal "app": starts the sidecar like the desktop app does, then lives until it is killed.
    return textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from contop.desktop.sidecar import ParentDeath, Sidecar, SidecarConfig
        side = Sidecar(SidecarConfig(home=Path({str(home)!r}), port=0, host="127.0.0.1",
                                     parent_death=ParentDeath({mode.value})))
        side.start()
        assert side.wait_healthy(30)
        print(side.pid, flush=True)
        time.sleep(600)
        """
    )


@pytest.mark.parametrize("mode", [ParentDeath.PDEATHSIG, ParentDeath.PIPE], ids=["pdeathsig", "pipe"])
def test_server_dies_when_the_app_is_killed(tmp_path: Path, mode: ParentDeath) -> None:
    home = tmp_path / "home"
    app = subprocess.Popen([sys.executable, "-c", _app_stub(home, mode)], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert app.stdout is not None
        server_pid = int(app.stdout.readline())
        assert alive(server_pid)
        app.kill()  # SIGKILL: the app gets no chance to clean up
        app.wait(10)
        wait_for(lambda: not alive(server_pid), timeout=10)
    finally:
        app.kill()
        app.wait(10)
        if app.stdout is not None:
            app.stdout.close()
        for pid in server_pids(home):
            os.kill(pid, signal.SIGKILL)


def _start_desktop(home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen(
        [sys.executable, "-m", "contop", "desktop", "--home", str(home), "--port", "0"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("how", ["quit", "sigkill"])
def test_no_server_survives_the_desktop_app(tmp_path: Path, how: str) -> None:
    home = tmp_path / "home"
    app = _start_desktop(home)
    try:
        log = home / "logs" / "server.log"
        wait_for(lambda: log.exists() and "Application startup complete" in log.read_text(), timeout=40)
        pids = server_pids(home)
        assert len(pids) == 1
        if how == "quit":
            app.send_signal(signal.SIGTERM)  # the app's Quit path: stops the sidecar tree, then exits
            assert app.wait(20) == 0
            assert not alive(pids[0])
        else:
            app.kill()
            app.wait(10)
            wait_for(lambda: not alive(pids[0]), timeout=10)
        assert server_pids(home) == []
    finally:
        app.kill()
        app.wait(10)
        for pid in server_pids(home):
            os.kill(pid, signal.SIGKILL)


def test_a_server_that_cannot_start_says_why(tmp_path: Path, qapp: object) -> None:
    import socket

    from contop.desktop.controller import SidecarController
    from contop.desktop.tasks import TaskRunner

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        side = Sidecar(SidecarConfig(home=tmp_path / "home", port=port, host="127.0.0.1"))
        tasks = TaskRunner()
        controller = SidecarController(side, tasks)
        states: list[str] = []
        controller.state_changed.connect(states.append)
        controller.start()
        try:
            deadline = time.monotonic() + 40
            while controller.state is not SidecarState.CRASHED and time.monotonic() < deadline:
                qapp.processEvents()  # type: ignore[attr-defined]
                time.sleep(0.05)
            assert controller.state is SidecarState.CRASHED
            assert "already in use" in controller.error and controller.error.startswith("exit code 1")
        finally:
            controller.stop()
            tasks.shutdown()


IN_USE = (
    "contop: error: the state directory /home/u/.contop is in use by another Contop server (pid 4242, listening on "
    "127.0.0.1:8000). Stop that server, or give this one a state directory of its own with --home / CONTOP_HOME"
)


def test_the_servers_reason_is_kept_whole_and_another_server_is_recognised() -> None:
    from contop.desktop.controller import exit_reason, exit_text, other_server

    reason = exit_reason(f"INFO starting\n{IN_USE}\n")
    assert exit_text(1, reason) == "exit code 1: " + IN_USE.removeprefix("contop: error: ")
    assert other_server(reason) == "pid 4242, listening on 127.0.0.1:8000"
    assert other_server("cannot listen on 127.0.0.1:8000: already in use") is None
    assert exit_text(1, "") == "exit code 1"
    # A line far too long for the banner is shortened between words, never inside one.
    long = " ".join(f"word{i}" for i in range(200))
    text = exit_text(1, long).removeprefix("exit code 1: ")
    assert text.endswith(" …") and len(text) <= 400
    assert long.startswith(text.removesuffix(" …") + " ")
