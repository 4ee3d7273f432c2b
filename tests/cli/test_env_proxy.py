"""An HTTP proxy set in the environment (HTTP_PROXY, ALL_PROXY: common on company machines) is never used for the
calls to the local server: they carry the admin token, and a proxy could not reach the server's loopback anyway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.desktop.sidecar import Sidecar, SidecarConfig
from contop.testing.server import ServerProcess
from tests.desktop.test_sidecar import Squatter

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture
def proxy() -> Iterator[Squatter]:
    """The proxy the environment names: it answers 200 to everything and keeps what it was sent."""
    with Squatter() as squatter:
        yield squatter


@pytest.fixture
def proxy_env(proxy: Squatter, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"http://127.0.0.1:{proxy.port}"
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, url)
    for name in ("NO_PROXY", "no_proxy", "CONTOP_PORT", "CONTOP_HOME"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def test_contop_pair_sends_the_admin_token_to_the_server_not_to_the_proxy(
    server: ServerProcess, proxy: Squatter, proxy_env: dict[str, str]
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "contop", "pair", "--json", "--home", str(server.home)],
        capture_output=True,
        text=True,
        timeout=60,
        env=proxy_env,
    )
    assert out.returncode == 0, out.stderr
    assert f":{server.port}/#p=" in out.stdout
    assert proxy.requests == [] and proxy.authorizations == []


def test_the_desktop_apps_health_checks_reach_its_server_not_the_proxy(
    tmp_path: Path, proxy: Squatter, proxy_env: dict[str, str]
) -> None:
    side = Sidecar(SidecarConfig(home=tmp_path / "home", port=0, host="127.0.0.1"))
    side.start()
    try:
        assert side.wait_healthy(30), "the app took its server for one that never started"
        side.mark_healthy()
        assert side.answers(5)
    finally:
        side.stop()
    assert proxy.requests == []


def test_contop_run_reaches_the_server_directly_though_a_proxy_is_set(
    server: ServerProcess, proxy: Squatter, proxy_env: dict[str, str]
) -> None:
    """Its pairing request carries the admin token, and its signaling socket (plain ws:// to this computer or the
    LAN) the pairing token in its URL: neither may go through the proxy, which could not reach the desktop anyway."""
    out = subprocess.run(
        [sys.executable, "-m", "contop", "run", "--home", str(server.home), "--tool", "get_action_history"],
        capture_output=True,
        text=True,
        timeout=90,
        env=proxy_env,
    )
    assert out.returncode == 0, out.stderr
    assert proxy.requests == [] and proxy.authorizations == []
