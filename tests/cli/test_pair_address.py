"""`contop pair` finds the server of its state directory, and says so when that server cannot be asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contop.testing.netns import NetNamespace
from contop.testing.server import ServerProcess


def contop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CONTOP_PORT", "CONTOP_HOME")}
    return subprocess.run([sys.executable, "-m", "contop", *args], capture_output=True, text=True, timeout=60, env=env)


def test_pair_asks_the_server_of_its_home_on_whatever_port_it_listens(server: ServerProcess) -> None:
    out = contop("pair", "--json", "--home", str(server.home))  # no --port: the server's own, not 8000
    assert out.returncode == 0, out.stderr
    assert f":{server.port}/#p=" in out.stdout


def test_pair_on_another_port_says_where_the_server_is(server: ServerProcess) -> None:
    out = contop("pair", "--port", "1", "--home", str(server.home))
    assert out.returncode == 1
    assert f"listening on 127.0.0.1:{server.port}) does not listen on port 1: use --port {server.port}" in out.stderr


def test_the_admin_token_goes_to_no_program_but_the_server_of_its_home(tmp_path: Path) -> None:
    """A program listening on the port asked (8000 by default, or --port) while this home's server is down, or
    listening elsewhere, must not be handed the admin token: with it, it could pair devices later."""
    import http.server
    import threading

    seen: list[str] = []

    class Squatter(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    squatter = http.server.HTTPServer(("127.0.0.1", 0), Squatter)
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    home = tmp_path / "home"
    try:
        with ServerProcess(home) as srv:  # leaves its admin token behind, then stops
            pass
        for args in (["pair"], ["run", "--tool", "get_action_history"]):
            out = contop(*args, "--home", str(home), "--port", str(squatter.server_port))
            assert out.returncode in (1, 3) and f"no Contop server is running with {home}" in out.stderr, out.stderr
        with ServerProcess(home) as srv:
            out = contop("pair", "--home", str(home), "--port", str(squatter.server_port))
            assert out.returncode == 1 and f"use --port {srv.port}" in out.stderr, out.stderr
    finally:
        squatter.shutdown()
        squatter.server_close()
    assert seen == [], "the admin token was sent to another program"


class ElsewhereServer(ServerProcess):
    """A server bound to one non-loopback address of this machine: only that address answers."""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.mark.netns
def test_a_server_on_a_non_loopback_address_is_named_as_such(tmp_path: Path) -> None:
    if not NetNamespace.available():
        pytest.fail("network namespaces are not available (needs root and iproute2); this test cannot be skipped")
    with NetNamespace() as ns, ElsewhereServer(tmp_path / "home", host=ns.host_ip) as srv:
        assert "the admin API" in srv.log() and "cannot be reached" in srv.log()  # serve warns at start
        out = contop("pair", "--home", str(srv.home))
        assert out.returncode == 1
        assert f"listening on {ns.host_ip}:{srv.port}) does not listen on this computer's loopback" in out.stderr
        assert "--host 0.0.0.0" in out.stderr
        assert "no Contop server answers" not in out.stderr


def serve_banner(home: Path, host: str) -> str:
    """What `contop serve --host HOST` prints at start, up to the line after the pairing URL."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "contop", "serve", "--host", host, "--port", "0", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        with proc.stdout:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if len(lines) >= 2 and "#p=" in lines[-2]:
                    break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    return "".join(lines)


def test_serve_on_loopback_says_only_this_computer_can_pair(tmp_path: Path) -> None:
    banner = serve_banner(tmp_path / "home", "127.0.0.1")
    assert "#p=" in banner
    assert "listens on loopback (127.0.0.1) only: only this computer can use it" in banner
    assert "no LAN address found" not in banner
