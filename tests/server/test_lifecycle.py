"""Start, stop, restart and bad environments of the real ``contop serve`` process."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contop.testing.server import ServerProcess
from tests.server.wsutil import offer, passed_gate, signal_once

JSON = {"Accept": "application/json"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_directory_modes(server: ServerProcess) -> None:
    server.request("POST", "/api/pair")
    home = server.home
    assert mode(home) == 0o700
    for directory in ("dtls", "data", "logs", "skills"):
        assert mode(home / directory) == 0o700, directory
    for secret in ("admin.token", "settings.json", "tokens.json", "dtls/key.pem", "dtls/cert.pem"):
        assert mode(home / secret) == 0o600, secret
    assert len(server.admin_token) == 64 and int(server.admin_token, 16) >= 0  # 256 bits in hex
    assert not list(home.rglob("*.tmp"))  # atomic writes leave no temp files behind


def test_restart_keeps_permanent_tokens_and_identity_drops_temporary(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "home").start()
    try:
        permanent = srv.request("POST", "/api/pair", headers=JSON).json()
        temp = srv.request("POST", "/api/pair", params={"connection_type": "temp"}, headers=JSON).json()
        assert passed_gate(signal_once(srv.port, permanent["token"], offer("phone-p", "P")))
        admin = srv.admin_token
        fingerprint = permanent["payload"]["d"]
    finally:
        assert srv.stop() == 0
    srv2 = ServerProcess(tmp_path / "home").start()
    try:
        assert srv2.admin_token == admin
        again = srv2.request("POST", "/api/pair", params={"connection_type": "temp"}, headers=JSON).json()
        assert again["payload"]["d"] == fingerprint  # the QR fingerprint survives restarts
        assert signal_once(srv2.port, temp["token"], offer("phone-t")).close_code == 4001
        assert passed_gate(signal_once(srv2.port, permanent["token"], offer("phone-p", "P")))
        assert signal_once(srv2.port, permanent["token"], offer("intruder")).close_code == 4003
        devices = srv2.request("GET", "/api/devices").json()["devices"]
        assert [(d["device_id"], d["device_name"], d["connected"]) for d in devices] == [("phone-p", "P", False)]
        assert "restored 1 permanent pairing token" in srv2.log()
    finally:
        srv2.stop()


def test_corrupt_tokens_file_is_kept_and_server_starts_empty(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "tokens.json").write_text('{"tokens": [{"token": 5}')
    (home / "tokens.json").chmod(0o644)
    with ServerProcess(home) as srv:
        assert srv.request("GET", "/api/devices").json()["devices"] == []
        backups = list(home.glob("tokens.json.corrupt-*"))
        assert len(backups) == 1 and backups[0].read_text() == '{"tokens": [{"token": 5}'
        assert backups[0].stat().st_mode & 0o777 == 0o600
        assert "pairing file" in srv.log() and "corrupt" in srv.log()


def test_graceful_shutdown_on_sigint_and_sigterm(tmp_path: Path) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        srv = ServerProcess(tmp_path / f"home-{sig}").start()
        assert srv.stop(sig) == 0
        log = srv.log()
        assert "shutting down" in log and "Application shutdown complete" in log


def test_second_server_on_same_port_fails_clearly(server: ServerProcess, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "contop",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--no-qr",
            "--home",
            str(tmp_path / "other"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert f"port {server.port}" in out.stderr and "already in use" in out.stderr


def test_unusable_state_directory_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "contop", "serve", "--port", str(port), "--home", str(blocker / "state"), "--no-qr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "cannot use the state directory" in out.stderr and "--home" in out.stderr
    assert f"{blocker} is a file, but it must be a folder" in out.stderr  # not "fix its permissions"


def test_no_secret_in_any_log_line(tmp_path: Path) -> None:
    with ServerProcess(
        tmp_path / "home", env={"GEMINI_API_KEY": "AIzaSecretFromEnv42"}, extra_args=["--log-level", "DEBUG"]
    ) as srv:
        tokens = [srv.request("POST", "/api/pair", headers=JSON).json()["token"] for _ in range(2)]
        tokens.append(
            srv.request("POST", "/api/pair", params={"connection_type": "temp"}, headers=JSON).json()["token"]
        )
        png = srv.request("POST", "/api/pair", params={"connection_type": "temp"})
        tokens.append(png.headers["x-pairing-token"])
        for tok in tokens:
            signal_once(srv.port, tok, offer(f"dev-{tok[:4]}"))
        signal_once(srv.port, "x" * 43)
        settings = srv.request("GET", "/api/settings").json()
        settings["anthropic_api_key"] = "sk-ant-SecretInFile77"
        srv.request("PUT", "/api/settings", json=settings)
        srv.request("GET", "/api/decrypted-keys")
        log = srv.log()
    assert "/ws/signaling?token=***" in log  # the access log is there, with the token masked
    assert "GET /api/settings" in log
    for secret in [*tokens, srv.admin_token, "AIzaSecretFromEnv42", "sk-ant-SecretInFile77"]:
        assert secret not in log
    assert json.loads((tmp_path / "home" / "settings.json").read_text())["gemini_api_key"] == ""


def test_polling_from_this_computer_does_not_fill_the_log(server: ServerProcess) -> None:
    """The desktop app reads status every few seconds: those reads are not logged, changes and failures are."""
    for _ in range(5):
        assert server.request("GET", "/api/settings").status_code == 200
        assert server.request("GET", "/api/devices").status_code == 200
    settings = server.request("GET", "/api/settings").json()
    assert server.request("PUT", "/api/settings", json={**settings, "video_fps": 24}).status_code == 200
    denied = httpx.get(f"{server.base_url}/api/settings", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert denied.status_code == 401
    deadline = time.monotonic() + 5
    while "PUT /api/settings" not in (log := server.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "PUT /api/settings" in log
    assert 'GET /api/settings HTTP/1.1" 401' in log
    assert 'GET /api/settings HTTP/1.1" 200' not in log and "GET /api/devices" not in log


def test_listening_on_all_ipv6_addresses_answers_ipv4_too(tmp_path: Path) -> None:
    """'--host ::' is every address, as 0.0.0.0 is: the pairing URL names an IPv4 address the phone must reach."""
    if not socket.has_ipv6 or not socket.has_dualstack_ipv6():
        pytest.skip("this machine has no dual-stack IPv6 sockets")
    with ServerProcess(tmp_path / "home", host="[::]") as srv:  # as written in a URL, too
        assert httpx.get(f"http://127.0.0.1:{srv.port}/health", timeout=5).status_code == 200
        assert httpx.get(f"http://[::1]:{srv.port}/health", timeout=5).status_code == 200
        paired = srv.request("POST", "/api/pair", headers=JSON)  # the admin API from 127.0.0.1
        assert paired.status_code == 200 and "[::]" not in paired.json()["url"]  # a reachable address in the QR
        assert "warning" not in srv.log()


def test_the_servers_environment_block_shows_no_secret(tmp_path: Path) -> None:
    """Any process of the same user can read /proc/<server pid>/environ; the gate refuses such reads, and a read it
    misses (a glob, a path built at run time) finds stars where the API keys were. The server still uses them."""
    key = "AIzaTESTSECRET0123456789abcdefghijk"
    env = {"GEMINI_API_KEY": key, "MY_DB_PASSWORD": "hunter2hunter2", "CONTOP_TEST_MARK": "kept"}
    with ServerProcess(tmp_path / "home", env=env) as srv:
        assert srv.proc is not None
        block = Path(f"/proc/{srv.proc.pid}/environ").read_bytes().split(b"\0")
        served = srv.request("GET", "/api/decrypted-keys").json()
    assert b"GEMINI_API_KEY=" + b"*" * len(key) in block and b"MY_DB_PASSWORD=**************" in block
    assert not any(key.encode() in entry or b"hunter2" in entry for entry in block)
    assert b"CONTOP_TEST_MARK=kept" in block  # the rest is untouched
    assert served["gemini_api_key"] == key
