"""Every /api request passes the admin rule before anything else, and errors are JSON (CONTRACTS.md §3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from contop.testing.netns import NetNamespace
from contop.testing.server import ServerProcess

# (method, path, what a request with the admin token gets): unknown routes, and known paths with a wrong method
PROBES = [
    ("GET", "/api/no-such-route", 404),
    ("PUT", "/api/no-such-route", 404),
    ("GET", "/api", 404),
    ("GET", "/api/pair", 405),  # POST and DELETE only
    ("DELETE", "/api/settings", 405),  # GET and PUT only
    ("PATCH", "/api/skills/ide-chat", 405),
]


def test_no_token_or_a_foreign_host_is_refused_before_routing(server: ServerProcess) -> None:
    for method, path, _served in PROBES:
        url = f"{server.base_url}{path}"
        missing = httpx.request(method, url)
        assert missing.status_code == 401 and "admin token" in missing.json()["detail"], (method, path)
        assert httpx.request(method, url, headers={"Authorization": "Bearer nope"}).status_code == 401
        foreign = httpx.request(method, url, headers={**server.admin_headers(), "Host": "evil.example"})
        assert foreign.status_code == 403 and "loopback" in foreign.json()["detail"], (method, path)


def test_with_the_token_unknown_routes_are_404_and_wrong_methods_405(server: ServerProcess) -> None:
    for method, path, served in PROBES:
        r = server.request(method, path)
        assert r.status_code == served, (method, path, r.status_code)
        assert r.headers["content-type"] == "application/json"
        assert r.json()["detail"] == ("Not Found" if served == 404 else "Method Not Allowed")
    assert server.request("GET", "/api/pair").headers["allow"] == "POST, DELETE"
    assert server.request("DELETE", "/api/settings").headers["allow"] == "GET, PUT"


def test_the_phone_app_is_still_served_outside_api(server: ServerProcess) -> None:
    assert httpx.get(f"{server.base_url}/").status_code == 200
    assert httpx.get(f"{server.base_url}/apiary.html").status_code == 404  # /api only, not every /api… prefix
    assert httpx.get(f"{server.base_url}/health").json()["status"] == "healthy"


@pytest.mark.netns
def test_a_stranger_on_the_network_learns_nothing_about_routes(tmp_path: Path) -> None:
    if not NetNamespace.available():
        pytest.fail("network namespaces are not available (needs root and iproute2); this test cannot be skipped")
    with NetNamespace() as ns, ServerProcess(tmp_path / "home", host="0.0.0.0") as srv:
        script = (
            "import urllib.request, urllib.error\n"
            "for method, path in [('GET', '/api/no-such-route'), ('PUT', '/api/no-such-route'), "
            "('GET', '/api/pair'), ('GET', '/api/settings')]:\n"
            f"    req = urllib.request.Request('http://{ns.host_ip}:{srv.port}' + path, method=method,\n"
            f"        headers={{'Authorization': 'Bearer {srv.admin_token}', 'Host': 'localhost'}})\n"
            "    try:\n"
            "        print(urllib.request.urlopen(req, timeout=5).status)\n"
            "    except urllib.error.HTTPError as e:\n"
            "        print(e.code)\n"
        )
        out = ns.run(["python3", "-c", script])
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["403", "403", "403", "403"]


DEEP = ("[" * 200_000 + "]" * 200_000).encode()
MODERATE = ('{"content": ' + "[" * 100 + "]" * 100 + "}").encode()
JSON_BODY_ROUTES = [
    ("PUT", "/api/settings"),
    ("POST", "/api/skills"),
    ("PUT", "/api/skills/ide-chat"),
    ("POST", "/api/provider-health"),
]


def test_deeply_nested_json_is_a_400_not_a_crash(server: ServerProcess) -> None:
    for method, path in JSON_BODY_ROUTES:
        for body in (DEEP, MODERATE):  # past the decoder's recursion limit, and within it but past ours
            r = server.request(method, path, content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400, (method, path, r.status_code, r.text[:200])
            assert r.headers["content-type"] == "application/json"
            assert "nested too deeply" in r.json()["detail"]
    assert "RecursionError" not in server.log()


def test_settings_nested_within_reason_are_still_saved(server: ServerProcess) -> None:
    settings = server.request("GET", "/api/settings").json()
    nested: object = "leaf"
    for _ in range(40):
        nested = {"n": nested}
    settings["x_plugin"] = nested  # unknown keys are kept, however they are shaped
    r = server.request("PUT", "/api/settings", json=settings)
    assert r.status_code == 200 and r.json()["x_plugin"] == nested
