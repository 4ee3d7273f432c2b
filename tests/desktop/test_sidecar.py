"""The sidecar server process: start, health, crash detection, tree kill, and death with the app (any death)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


def wait_for_crash(controller: Any, qapp: object) -> None:
    """Turn the Qt event loop until the controller has seen its server exit (40 s at most)."""
    deadline = time.monotonic() + 40
    while controller.state is not SidecarState.CRASHED and time.monotonic() < deadline:
        qapp.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.05)
    assert controller.state is SidecarState.CRASHED


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
            wait_for_crash(controller, qapp)
            assert "already in use" in controller.error and controller.error.startswith("exit code 1")
        finally:
            controller.stop()
            tasks.shutdown()


def test_a_bad_value_in_the_environment_is_the_reason_the_app_gives(
    tmp_path: Path, qapp: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`contop serve` refuses a bad CONTOP_ADVERTISE_HOST with argparse's kind of line ("contop serve: error: …"):
    the app says that, not only "exit code 2"."""
    from contop.desktop.controller import SidecarController
    from contop.desktop.tasks import TaskRunner

    monkeypatch.setenv("CONTOP_ADVERTISE_HOST", "desk.lan:8000")
    side = Sidecar(SidecarConfig(home=tmp_path / "home", port=0, host="127.0.0.1"))
    tasks = TaskRunner()
    controller = SidecarController(side, tasks)
    controller.start()
    try:
        wait_for_crash(controller, qapp)
        assert controller.error.startswith("exit code 2: CONTOP_ADVERTISE_HOST"), controller.error
        assert "has a port" in controller.error
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


class Squatter:
    """Another program on the app's port (``port`` 0: any free one): answers 200 (a healthy-looking JSON body) to
    everything, and keeps the requests and Authorization headers it was sent."""

    def __init__(self, port: int = 0) -> None:
        self.authorizations: list[str] = []
        self.requests: list[str] = []
        squatter = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                squatter.requests.append(f"{self.command} {self.path}")
                if "Authorization" in self.headers:
                    squatter.authorizations.append(self.headers["Authorization"])
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                body = json.dumps({"status": "healthy"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="squatter", daemon=True)

    def __enter__(self) -> Squatter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def test_a_squatter_on_the_port_is_not_taken_for_the_server(tmp_path: Path) -> None:
    with Squatter() as squatter:
        side = Sidecar(SidecarConfig(home=tmp_path / "home", port=squatter.port, host="127.0.0.1"))
        side.start()
        try:
            assert not side.wait_healthy(30)
            assert side.returncode == 1
            assert "already in use" in side.log_since_start().decode()
        finally:
            side.stop()
        assert squatter.authorizations == []


def test_the_server_of_another_app_on_the_same_home_and_port_is_not_taken_for_its_own(tmp_path: Path) -> None:
    from contop.testing.server import ServerProcess

    other = ServerProcess(tmp_path / "home").start()
    try:
        side = Sidecar(SidecarConfig(home=other.home, port=other.port, host="127.0.0.1"))
        side.start()
        try:
            assert not side.wait_healthy(30)
            assert side.returncode == 1
            assert "in use by another Contop server" in side.log_since_start().decode()
        finally:
            side.stop()
    finally:
        other.stop()


def test_only_the_childs_own_binding_counts() -> None:
    from contop.desktop.sidecar import is_own_server
    from contop.server.statedir import ServerInfo

    assert is_own_server(ServerInfo(pid=42, host="0.0.0.0", port=8000), 42, 8000)
    assert not is_own_server(None, 42, 8000)  # nobody holds the state directory
    assert not is_own_server(ServerInfo(pid=42), 42, 8000)  # still starting: not bound yet
    assert not is_own_server(ServerInfo(pid=7, host="0.0.0.0", port=8000), 42, 8000)  # another app's server
    assert not is_own_server(ServerInfo(pid=42, host="0.0.0.0", port=8001), 42, 8000)  # bound elsewhere
    # A Windows venv's python.exe is a launcher: the server is the child of the process the app started.
    assert is_own_server(ServerInfo(pid=43, host="0.0.0.0", port=8000, parent=42), 42, 8000)
    assert not is_own_server(ServerInfo(pid=43, host="0.0.0.0", port=8000, parent=41), 42, 8000)
