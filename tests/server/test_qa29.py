"""A phone that knows this computer by a name the server cannot find out (a router's DNS name): ``--advertise-host``
puts it in the pairing URL and lets the phone app's Origin through, and a refused Origin is named in the log with
that fix, once. Also: an admin token file replaced at start is said so. A real ``contop serve`` in each."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from contop.server.network import OwnOrigins, parse_advertise_host, refusal_hint
from contop.testing.server import ServerProcess

pytestmark = [pytest.mark.timeout(120)]


def handshake_status(port: int, origin: str) -> int:
    """The HTTP status of a signaling handshake from a page at ``origin`` (101: let through to the token check)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        head = (
            f"GET /ws/signaling?token=x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        s.sendall(head.encode())
        return int(s.recv(4096).split(b" ", 2)[1])


def serve_error(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "CONTOP_HOME": str(tmp_path / "refused-home"), **env}
    return subprocess.run(
        [sys.executable, "-m", "contop", "serve", "--port", "0", "--no-qr", *args],
        capture_output=True, text=True, timeout=30, env=full_env,
    )  # fmt: skip


def test_advertise_host_values() -> None:
    assert parse_advertise_host("Desk.LAN.") == "desk.lan"
    assert parse_advertise_host(" 192.168.1.20 ") == "192.168.1.20"
    assert parse_advertise_host("[fd00::1]") == "fd00::1"
    assert parse_advertise_host("my-desk") == "my-desk"
    for bad, why in [
        ("http://desk.lan:8000", "has a scheme"),
        ("desk.lan:8000", "has a port"),
        ("desk.lan/app", "not a host name"),
        ("", "is empty"),
        ("desk_pc.lan", "not a valid host name"),
        ("-desk.lan", "not a valid host name"),
        ("999.1.1.1", "not a valid IPv4 address"),
        ("0.0.0.0", "not an address a phone can connect to"),
        ("fe80::1%eth0", "has a zone"),
        ("[fe80::1", "not a valid IPv6 address"),
        ("a" * 64 + ".lan", "not a valid host name"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_advertise_host(bad)


def test_refusal_hint_names_the_fix_only_for_a_host_it_could_be() -> None:
    assert "--advertise-host desk.lan (or CONTOP_ADVERTISE_HOST=desk.lan)" in refusal_hint("http://desk.lan:8000", 8000)
    assert "--advertise-host" not in refusal_hint("http://desk.lan:9000", 8000)  # another port: another program
    assert "port 8000" in refusal_hint("http://desk.lan:9000", 8000)
    for foreign in ("null", "file:///x", "http://a b:8000", "http://x_y:8000\r\nInjected: 1"):
        hint = refusal_hint(foreign, 8000)
        assert "--advertise-host" not in hint and "nothing to do" in hint, foreign


def test_the_advertised_name_is_in_the_pairing_url_and_its_origin_is_allowed(tmp_path: Path) -> None:
    for how in ("flag", "env"):
        home = tmp_path / how
        name = f"desk-{how}.lan"
        extra = ["--advertise-host", name.upper()] if how == "flag" else []
        env = {"CONTOP_ADVERTISE_HOST": name} if how == "env" else {}
        with ServerProcess(home, host="0.0.0.0", extra_args=extra, env=env) as srv:
            pairing = srv.pair()
            assert pairing["payload"]["h"] == name, pairing
            assert pairing["url"].startswith(f"http://{name}:{srv.port}/#p="), pairing
            assert handshake_status(srv.port, f"http://{name}:{srv.port}") == 101
            assert handshake_status(srv.port, f"http://other-{name}:{srv.port}") == 403


def test_an_invalid_advertised_host_is_refused_with_exit_2(tmp_path: Path) -> None:
    out = serve_error(tmp_path, "--advertise-host", "http://desk.lan:8000")
    assert out.returncode == 2 and "--advertise-host: 'http://desk.lan:8000' has a scheme" in out.stderr, out.stderr
    out = serve_error(tmp_path, CONTOP_ADVERTISE_HOST="desk.lan:8000")
    assert out.returncode == 2, out.stderr
    assert "contop serve: error: CONTOP_ADVERTISE_HOST 'desk.lan:8000' has a port" in out.stderr, out.stderr
    assert not (tmp_path / "refused-home").exists()  # refused before anything is written


def test_a_refused_origin_is_logged_once_with_the_fix(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", host="0.0.0.0") as srv:
        for _ in range(4):
            assert handshake_status(srv.port, f"http://desk.lan:{srv.port}") == 403
            assert handshake_status(srv.port, "null") == 403
        log = srv.log()
    warnings = [line for line in log.splitlines() if "WARNING" in line and "was refused signaling" in line]
    assert len(warnings) == 2, log  # one per origin, not one per attempt
    desk = next(line for line in warnings if "desk.lan" in line)
    assert "--advertise-host desk.lan" in desk and "CONTOP_ADVERTISE_HOST=desk.lan" in desk, desk
    assert "--advertise-host" not in next(line for line in warnings if "'null'" in line)


def test_a_replaced_admin_token_is_logged_without_the_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    token_file = home / "admin.token"
    token_file.write_text("short-old-token\n")
    token_file.chmod(0o600)
    with ServerProcess(home) as srv:
        log = srv.log()
        new = srv.admin_token
    assert new != "short-old-token" and len(new) == 64
    line = next((line for line in log.splitlines() if "held no valid admin token" in line), None)
    assert line is not None and "WARNING" in line and str(token_file) in line, log
    assert "short-old-token" not in log and new not in log
    with ServerProcess(home) as srv:  # a valid token is kept, silently
        assert srv.admin_token == new and "admin token" not in srv.log()


def test_many_refused_origins_cannot_flood_the_log(caplog: pytest.LogCaptureFixture) -> None:
    own = OwnOrigins(gather=lambda: frozenset({"192.168.1.20"}))
    memory = OwnOrigins.REPORTED_MEMORY

    async def refuse_all() -> None:
        for round_ in range(2):
            for i in range(memory + 10):
                assert not await own.allowed(f"http://page-{i}.example:8000", 8000, None, None), round_

    with caplog.at_level(logging.WARNING, logger="contop.server.network"):
        asyncio.run(refuse_all())
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == memory + 1, messages[-3:]
    assert f"pages at {memory} different origins were refused signaling; further ones are not logged" in messages[-1]


def test_the_log_names_refused_origins_again_after_an_hour(caplog: pytest.LogCaptureFixture) -> None:
    """Pages that used up the lines must not keep the owner's own name (a router's) out of the log for good."""
    now = [1000.0]
    own = OwnOrigins(gather=lambda: frozenset({"192.168.1.20"}), clock=lambda: now[0])
    memory = OwnOrigins.REPORTED_MEMORY

    async def refuse(origins: list[str]) -> None:
        for origin in origins:
            assert not await own.allowed(origin, 8000, None, None)

    with caplog.at_level(logging.WARNING, logger="contop.server.network"):
        asyncio.run(refuse([f"http://page-{i}.example:8000" for i in range(memory + 5)]))
        asyncio.run(refuse(["http://desk.lan:8000"]))
        assert not any("desk.lan" in r.getMessage() for r in caplog.records)
        now[0] += OwnOrigins.REPORTED_PERIOD_S
        asyncio.run(refuse(["http://desk.lan:8000"]))
    assert "--advertise-host desk.lan" in caplog.records[-1].getMessage()
