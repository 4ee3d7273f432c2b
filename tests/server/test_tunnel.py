"""The remote access tunnel with a fake ``cloudflared`` that behaves like the real one's quick-tunnel output."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx

from contop.core.pairing_payload import parse_pairing_url
from contop.testing.server import ServerProcess

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
