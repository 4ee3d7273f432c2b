"""The admin API answers only loopback peers with a loopback Host and the admin token (CONTRACTS.md §3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from contop.testing.netns import NetNamespace
from contop.testing.server import ServerProcess


def test_public_routes_need_nothing(server: ServerProcess) -> None:
    health = httpx.get(f"{server.base_url}/health")
    assert health.json() == {"status": "healthy", "service": "contop-server", "version": "0.1.0"}
    page = httpx.get(f"{server.base_url}/")
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_missing_or_wrong_token_is_401(server: ServerProcess) -> None:
    url = f"{server.base_url}/api/settings"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Basic {server.admin_token}"}).status_code == 401
    assert httpx.get(url, headers=server.admin_headers()).status_code == 200


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_loopback_host_names_with_any_port_are_accepted(server: ServerProcess, host: str) -> None:
    r = httpx.get(f"{server.base_url}/api/settings", headers={**server.admin_headers(), "Host": f"{host}:1234"})
    assert r.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "abc.trycloudflare.com", "192.168.1.5:8000", "localhost.evil.com"])
def test_foreign_host_header_is_403_even_with_the_token(server: ServerProcess, host: str) -> None:
    r = httpx.get(f"{server.base_url}/api/settings", headers={**server.admin_headers(), "Host": host})
    assert r.status_code == 403
    assert "loopback" in r.json()["detail"]


def test_no_cors_headers_ever(server: ServerProcess) -> None:
    origin = {"Origin": "http://evil.example"}
    r = httpx.get(f"{server.base_url}/api/settings", headers={**server.admin_headers(), **origin})
    assert not any(h.lower().startswith("access-control-") for h in r.headers)
    pre = httpx.options(
        f"{server.base_url}/api/settings",
        headers={**origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"},
    )
    assert not any(h.lower().startswith("access-control-") for h in pre.headers)
    assert not any(h.lower().startswith("access-control-") for h in httpx.get(f"{server.base_url}/health").headers)


@pytest.mark.netns
def test_non_loopback_peer_is_403_even_with_token_and_local_host(tmp_path: Path) -> None:
    """A real second host: a network namespace joined by a veth pair, talking to the server's 0.0.0.0 socket."""
    if not NetNamespace.available():
        pytest.fail("network namespaces are not available (needs root and iproute2); this test cannot be skipped")
    with NetNamespace() as ns, ServerProcess(tmp_path / "home", host="0.0.0.0") as srv:
        script = (
            "import sys, urllib.request, urllib.error\n"
            "def get(path, headers):\n"
            f"    req = urllib.request.Request('http://{ns.host_ip}:{srv.port}' + path, headers=headers)\n"
            "    try:\n"
            "        return urllib.request.urlopen(req, timeout=5).status\n"
            "    except urllib.error.HTTPError as e:\n"
            "        return e.code\n"
            "print(get('/health', {}))\n"
            f"print(get('/api/settings', {{'Authorization': 'Bearer {srv.admin_token}', 'Host': 'localhost'}}))\n"
        )
        out = ns.run(["python3", "-c", script])
        assert out.returncode == 0, out.stderr
        health, admin = out.stdout.split()
        assert health == "200"  # the peer really reaches the server...
        assert admin == "403"  # ...and is refused the admin API


def test_phone_app_shell_is_revalidated(server: ServerProcess) -> None:
    for path in ("/", "/sw.js", "/index.html"):
        r = httpx.get(f"{server.base_url}{path}")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-cache", path
    manifest = httpx.get(f"{server.base_url}/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
