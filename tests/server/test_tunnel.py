"""The remote access tunnel with a fake ``cloudflared`` that behaves like the real one's quick-tunnel output."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from contop.cli.run import _ask_local_server
from contop.core.pairing_payload import parse_pairing_url
from contop.server.network import lan_ip
from contop.testing.server import ServerProcess
from tests.server.wsutil import SignalingOutcome, offer, passed_gate, signal_once

FAKE_CLOUDFLARED = """#!/bin/sh
# Prints what cloudflared prints for a quick tunnel, on stderr, then stays up like the real one.
echo "$$" > "{pidfile}"
echo "$@" > "{argsfile}"
echo "2026-11-21T20:00:00Z INF Requesting new quick Tunnel on trycloudflare.com..." >&2
echo "2026-11-21T20:00:00Z INF +-----------------------------------------------------------+" >&2
echo "2026-11-21T20:00:00Z INF |  https://calm-river-test-42.trycloudflare.com             |" >&2
exec sleep 300
"""


def fake_bin(tmp_path: Path, script: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "cloudflared"
    exe.write_text(script.format(pidfile=tmp_path / "cf.pid", argsfile=tmp_path / "cf.args"))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_tunnel_start_reports_url_and_temp_qr_carries_it(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as srv:
        assert srv.request("GET", "/api/connection-info").json()["tunnel_active"] is False
        started = srv.request("POST", "/api/tunnel/start").json()
        assert started == {"tunnel_url": "https://calm-river-test-42.trycloudflare.com", "already_running": False}
        assert f"--url http://127.0.0.1:{srv.port}" in (tmp_path / "cf.args").read_text()
        assert srv.request("POST", "/api/tunnel/start").json()["already_running"] is True
        info = srv.request("GET", "/api/connection-info").json()
        assert info["tunnel_active"] is True and info["tunnel_url"].endswith("trycloudflare.com")
        temp = srv.request(
            "POST", "/api/pair", params={"connection_type": "temp"}, headers={"Accept": "application/json"}
        ).json()
        assert parse_pairing_url(temp["url"])["s"] == "wss://calm-river-test-42.trycloudflare.com/ws/signaling"
        # A phone away from the LAN opens the app through the tunnel (the LAN address would not load)
        assert temp["url"].startswith("https://calm-river-test-42.trycloudflare.com/#p=")
        perm = srv.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
        assert "s" not in perm["payload"]  # permanent codes are for LAN/Tailscale
        assert perm["url"].startswith(f"http://{perm['payload']['h']}:{srv.port}/#p=")

        # What arrives through the tunnel reaches only the phone app and signaling.
        tunnel_host = {"Host": "calm-river-test-42.trycloudflare.com", **srv.admin_headers()}
        assert httpx.get(f"{srv.base_url}/api/settings", headers=tunnel_host).status_code == 403
        assert httpx.get(f"{srv.base_url}/health", headers=tunnel_host).status_code == 403
        assert httpx.get(f"{srv.base_url}/", headers=tunnel_host).status_code == 200
        via_cf = {"cf-connecting-ip": "203.0.113.9", **srv.admin_headers()}
        assert httpx.get(f"{srv.base_url}/api/devices", headers=via_cf).status_code == 403

        pid = int((tmp_path / "cf.pid").read_text())
        assert srv.request("POST", "/api/tunnel/stop").json() == {"stopped": True}
        assert not alive(pid)
        assert srv.request("GET", "/api/connection-info").json()["tunnel_active"] is False


def test_tunnel_process_dies_with_the_server(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)).start()
    try:
        srv.request("POST", "/api/tunnel/start")
        pid = int((tmp_path / "cf.pid").read_text())
    finally:
        assert srv.stop() == 0
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_missing_or_broken_cloudflared(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", env={"PATH": "/usr/bin:/bin"}) as srv:
        r = srv.request("POST", "/api/tunnel/start")
        assert r.status_code == 503 and "install" in r.json()["detail"].lower()
    broken = "#!/bin/sh\necho \"$$\" > {pidfile}\necho 'ERR failed to dial to edge' >&2\nexit 1\n# {argsfile}\n"
    with ServerProcess(tmp_path / "home2", env=fake_bin(tmp_path, broken)) as srv:
        r = srv.request("POST", "/api/tunnel/start")
        assert r.status_code == 502 and "failed to dial to edge" in r.json()["detail"]
        assert srv.request("GET", "/api/connection-info").json()["tunnel_active"] is False


def test_contop_run_talks_to_its_own_server_over_loopback_while_the_tunnel_runs(tmp_path: Path) -> None:
    """`contop run` pairs through the local server; with the tunnel up its code is a tunnel code, whose URL points
    at the tunnel. It must still signal over loopback, not through Cloudflare or the LAN address."""
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as srv:
        srv.request("POST", "/api/tunnel/start")
        env = {k: v for k, v in os.environ.items() if k not in ("CONTOP_PAIR_URL", "CONTOP_HOME", "CONTOP_PORT")}
        env.update({"CONTOP_HOME": str(srv.home), "CONTOP_PORT": str(srv.port)})
        done = subprocess.run(
            [sys.executable, "-m", "contop", "run", "--tool", "execute_cli", "--args", '{"command": "echo via-lo"}'],
            capture_output=True, text=True, timeout=90, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        local = _ask_local_server(argparse.Namespace(home=str(srv.home), port=srv.port))
        assert local is not None
        local.release()
    assert done.returncode == 0 and "via-lo" in done.stdout, done.stderr
    assert local.url.startswith(f"http://127.0.0.1:{srv.port}/#p="), local.url  # what the client signals to first
    assert parse_pairing_url(local.url)["s"].startswith("wss://calm-river-test-42")  # the same code


def test_failed_signaling_through_the_tunnel_is_limited_per_phone_not_for_all(tmp_path: Path) -> None:
    """Every phone reaches the server from cloudflared on loopback; Cloudflare names the phone in cf-connecting-ip.
    Strangers' wrong guesses must not lock the owner's phone out, and nobody else may choose their own address."""
    lan = lan_ip()
    if lan is None:
        pytest.fail("this machine has no LAN address to connect from; this test cannot be skipped")
    with ServerProcess(tmp_path / "home", host="0.0.0.0", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as srv:
        good = srv.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()["token"]

        def via_tunnel(token: str, phone: str) -> SignalingOutcome:
            return signal_once(srv.port, token, offer("phone-a"), headers={"cf-connecting-ip": phone})

        def codes(outcomes: list[SignalingOutcome]) -> list[int | None]:
            return [o.close_code for o in outcomes]

        srv.request("POST", "/api/tunnel/start")
        strangers = [via_tunnel(f"wrong-{i}", f"203.0.113.{i}") for i in range(6)]
        strangers += [via_tunnel(f"wrong-{i}", f"2001:db8:1:{i}::1") for i in range(6)]
        assert codes(strangers) == [4001] * 12
        assert passed_gate(via_tunnel(good, "203.0.113.77"))  # the owner's phone
        # One stranger is still limited: by address, and on IPv6 by the /64 it holds.
        assert codes([via_tunnel(f"again-{i}", "203.0.113.5") for i in range(6)]) == [4001] * 5 + [4029]
        assert codes([via_tunnel(f"again-{i}", f"2001:db8:1:1::{i + 2}") for i in range(6)]) == [4001] * 5 + [4029]
        # A client on the network cannot pass for a tunnel phone: its attempts count against its own address.
        spoofed = [
            signal_once(srv.port, f"spoof-{i}", host=lan, source=lan, headers={"cf-connecting-ip": f"192.0.2.{i}"})
            for i in range(7)
        ]
        assert codes(spoofed) == [4001] * 6 + [4029]
        # Loopback without the header (or with one that is no address) is limited as before.
        assert codes([signal_once(srv.port, f"local-{i}") for i in range(3)]) == [4001] * 3
        assert codes([via_tunnel(f"odd-{i}", f"not-an-ip-{i}") for i in range(3)]) == [4001] * 3
        assert signal_once(srv.port, good, offer("phone-a")).close_code == 4029
        assert passed_gate(via_tunnel(good, "203.0.113.78"))
        # Without the tunnel nobody is a tunnel phone: the header counts for nothing.
        srv.request("POST", "/api/tunnel/stop")
        assert via_tunnel(good, "203.0.113.79").close_code == 4029


# What cloudflared prints when it cannot reach Cloudflare to create a quick tunnel (offline, DNS blocked).
OFFLINE_CLOUDFLARED = """#!/bin/sh
echo "$$" > "{pidfile}"
echo "$@" > "{argsfile}"
echo "2026-11-21T20:00:00Z INF Requesting new quick Tunnel on trycloudflare.com..." >&2
echo '2026-11-21T20:00:00Z ERR failed to request quick Tunnel: Post "https://api.trycloudflare.com/tunnel": \
dial tcp: lookup api.trycloudflare.com on 127.0.0.53:53: server misbehaving' >&2
exit 1
"""


def test_a_cloudflared_that_cannot_reach_cloudflare_is_an_error_not_a_tunnel(tmp_path: Path) -> None:
    """Its error names Cloudflare's API host, which is no tunnel: the owner must be told the tunnel failed."""
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, OFFLINE_CLOUDFLARED)) as srv:
        r = srv.request("POST", "/api/tunnel/start")
        assert r.status_code == 502, r.text
        assert "failed to request quick Tunnel" in r.json()["detail"]
        info = srv.request("GET", "/api/connection-info").json()
        assert info["tunnel_active"] is False and info["tunnel_url"] is None


def test_the_tunnel_forwards_to_the_loopback_address_the_server_listens_on(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", host="::1", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as srv:
        assert srv.request("POST", "/api/tunnel/start").status_code == 200
        assert f"--url http://[::1]:{srv.port}" in (tmp_path / "cf.args").read_text()


def wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_a_killed_server_leaves_no_tunnel_open(tmp_path: Path) -> None:
    """A server killed outright (SIGKILL, a crash) must not leave the desktop reachable from the internet through a
    tunnel nobody watches: cloudflared, in a session of its own, dies with it."""
    srv = ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)).start()
    try:
        assert srv.request("POST", "/api/tunnel/start").status_code == 200
        pid = int((tmp_path / "cf.pid").read_text())
        assert alive(pid)
    finally:
        srv.stop(signal.SIGKILL)
    assert wait_dead(pid), "cloudflared outlived the server killed with SIGKILL"


# cloudflared started by a wrapper that leaves a child holding the output pipe: the wrapper prints the URL and
# exits after a while; the child lives on.
WRAPPED_CLOUDFLARED = """#!/bin/sh
sleep 300 &
echo "$!" > "{pidfile}"
echo "2026-11-21T20:00:00Z INF |  https://wrapped-test-7.trycloudflare.com  |" >&2
sleep "$(cat {argsfile}.delay)"
exit 4
"""


def test_a_tunnel_whose_cloudflared_exits_is_reported_stopped_even_if_its_child_holds_the_output(
    tmp_path: Path,
) -> None:
    env = fake_bin(tmp_path, WRAPPED_CLOUDFLARED)
    (tmp_path / "cf.args.delay").write_text("2")
    with ServerProcess(tmp_path / "home", env=env) as srv:
        assert (
            srv.request("POST", "/api/tunnel/start").json()["tunnel_url"] == "https://wrapped-test-7.trycloudflare.com"
        )
        child = int((tmp_path / "cf.pid").read_text())
        deadline = time.monotonic() + 10
        while srv.request("GET", "/api/connection-info").json()["tunnel_active"] and time.monotonic() < deadline:
            time.sleep(0.1)
        info = srv.request("GET", "/api/connection-info").json()
        assert info["tunnel_active"] is False and info["tunnel_url"] is None
        assert wait_dead(child), "what the dead cloudflared left behind still runs"
        temp = srv.request(
            "POST", "/api/pair", params={"connection_type": "temp"}, headers={"Accept": "application/json"}
        )
        assert "trycloudflare" not in temp.json()["url"]  # no code points at the dead tunnel

        # A new tunnel is not undone by the end of the one before it.
        (tmp_path / "cf.args.delay").write_text("300")
        assert srv.request("POST", "/api/tunnel/start").json()["already_running"] is False
        child = int((tmp_path / "cf.pid").read_text())
        time.sleep(1.5)
        assert srv.request("GET", "/api/connection-info").json()["tunnel_active"] is True
        assert srv.request("POST", "/api/tunnel/stop").json() == {"stopped": True}
        assert wait_dead(child), "tunnel/stop left what cloudflared started running"
        assert srv.request("POST", "/api/tunnel/stop").json() == {"stopped": False}


def test_a_cloudflared_that_cannot_be_executed_is_a_clear_error(tmp_path: Path) -> None:
    broken = "#!/nonexistent/interpreter\n# {pidfile} {argsfile}\n"
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, broken)) as srv:
        r = srv.request("POST", "/api/tunnel/start")
        assert r.status_code == 502, r.text
        assert "cloudflared" in r.json()["detail"] and "No such file" in r.json()["detail"]


SLOW_CLOUDFLARED = """#!/bin/sh
echo "$$" > "{pidfile}"
echo "# {argsfile}" > /dev/null
echo "2026-11-21T20:00:00Z INF Requesting new quick Tunnel on trycloudflare.com..." >&2
exec sleep 300
"""


def test_stopping_a_tunnel_that_is_still_starting_ends_it_at_once(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, SLOW_CLOUDFLARED)) as srv:
        with ThreadPoolExecutor(1) as pool:
            start = pool.submit(srv.request, "POST", "/api/tunnel/start", timeout=40)
            deadline = time.monotonic() + 10
            while not (tmp_path / "cf.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            pid = int((tmp_path / "cf.pid").read_text())
            began = time.monotonic()
            assert srv.request("POST", "/api/tunnel/stop").json() == {"stopped": True}
            answer = start.result(timeout=10)
            assert time.monotonic() - began < 8  # not the 30 s a start waits for its URL
        assert answer.status_code == 502 and "stopped before" in answer.json()["detail"]
        assert wait_dead(pid)


LONG_LINE_CLOUDFLARED = """#!/bin/sh
echo "$$" > "{pidfile}"
echo "# {argsfile}" > /dev/null
head -c 200000 /dev/zero | tr '\\0' x >&2
echo >&2
echo "2026-11-21T20:00:00Z INF |  https://after-long-line.trycloudflare.com  |" >&2
exec sleep 300
"""


def test_a_line_too_long_to_read_does_not_blind_the_server_to_cloudflared(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, LONG_LINE_CLOUDFLARED)) as srv:
        r = srv.request("POST", "/api/tunnel/start", timeout=40)
        assert r.status_code == 200 and r.json()["tunnel_url"] == "https://after-long-line.trycloudflare.com"
        pid = int((tmp_path / "cf.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while srv.request("GET", "/api/connection-info").json()["tunnel_active"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.request("GET", "/api/connection-info").json()["tunnel_active"] is False
