"""Network detection for pairing: Tailscale via its CLI or a 100.64.0.0/10 interface, and the connection path."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from contop.server.devices import ConnectionPath
from contop.server.network import attempt_address, connection_path
from contop.testing.netns import NetNamespace
from contop.testing.server import ServerProcess


def test_tailscale_from_its_cli(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "tailscale"
    fake.write_text("#!/bin/sh\n[ \"$1 $2\" = 'ip -4' ] && echo 100.101.102.103\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    import os

    path = f"{bin_dir}:{os.environ['PATH']}"
    with ServerProcess(tmp_path / "home", env={"PATH": path}) as srv:
        info = srv.request("GET", "/api/connection-info").json()
        assert info["tailscale_ip"] == "100.101.102.103" and info["tailscale_available"] is True
        payload = srv.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()["payload"]
        assert payload["ts"] == "100.101.102.103"


@pytest.mark.netns
def test_tailscale_from_an_interface_and_lan_ip_inside_a_namespace() -> None:
    if not NetNamespace.available():
        pytest.fail("network namespaces are not available (needs root and iproute2)")
    with NetNamespace() as ns:
        add = ns.run(
            [
                "sh",
                "-c",
                "ip link add ts0 type veth peer name ts1 && ip addr add 100.90.1.2/32 dev ts0 && ip link set ts0 up",
            ]
        )
        assert add.returncode == 0, add.stderr
        script = "from contop.server import network; print(network.tailscale_ip(), network.lan_ip())"
        out = ns.run([sys.executable, "-c", script])
        assert out.returncode == 0, out.stderr
        tailscale, lan = out.stdout.split()
        assert tailscale == "100.90.1.2"
        assert lan == ns.peer_ip  # no default route there: the first non-Tailscale interface address


def test_connection_path_classification() -> None:
    assert connection_path("127.0.0.1", {}) is ConnectionPath.LOOPBACK
    assert connection_path("100.70.1.1", {}) is ConnectionPath.TAILSCALE
    assert connection_path("::ffff:100.70.1.1", {}) is ConnectionPath.TAILSCALE  # through a dual-stack socket
    assert connection_path("192.168.1.20", {}) is ConnectionPath.LAN
    assert connection_path("127.0.0.1", {"cf-connecting-ip": "1.2.3.4"}) is ConnectionPath.TUNNEL
    assert (
        connection_path("10.0.0.5", {"host": "abc.trycloudflare.com"}, "abc.trycloudflare.com") is ConnectionPath.TUNNEL
    )


def test_failed_attempts_count_against_the_phone_behind_the_tunnel_only_from_cloudflared() -> None:
    tunnel = "abc.trycloudflare.com"
    assert attempt_address("127.0.0.1", {"cf-connecting-ip": " 203.0.113.9 "}, tunnel) == "203.0.113.9"
    assert attempt_address("::1", {"cf-connecting-ip": "2001:db8:1:2:3::9"}, tunnel) == "2001:db8:1:2::/64"
    assert attempt_address("127.0.0.1", {"cf-connecting-ip": "203.0.113.9"}, None) == "127.0.0.1"  # no tunnel
    assert attempt_address("192.168.1.20", {"cf-connecting-ip": "203.0.113.9"}, tunnel) == "192.168.1.20"
    assert attempt_address("127.0.0.1", {"cf-connecting-ip": "me, 203.0.113.9"}, tunnel) == "127.0.0.1"
    assert attempt_address("127.0.0.1", {}, tunnel) == "127.0.0.1"
    assert attempt_address(None, {}, tunnel) == "unknown"
