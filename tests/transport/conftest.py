"""Real servers for transport tests: a ``contop serve`` subprocess, or the app in-process when a test must
register its own handlers on the router."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiortc import RTCPeerConnection

from contop.server.app import create_app
from contop.server.state import ServerConfig, ServerState
from contop.server.statedir import StateDir
from contop.testing.server import ServerProcess

JSON = {"Accept": "application/json"}


@pytest.fixture
async def peers() -> AsyncIterator[list[RTCPeerConnection]]:
    """Loopback peers a test adds (``contop.testing.peers.new_peer``); all closed at the end."""
    made: list[RTCPeerConnection] = []
    yield made
    for pc in made:
        await pc.close()


def pair(server: ServerProcess, **params: str) -> dict[str, Any]:
    r = server.request("POST", "/api/pair", params=params, headers=JSON)
    assert r.status_code == 200, r.text
    return dict(r.json())


def devices(server: ServerProcess) -> dict[str, Any]:
    return dict(server.request("GET", "/api/devices").json())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "home").start()
    try:
        yield proc
    finally:
        proc.stop()


@dataclass
class LocalServer:
    """The app served by uvicorn inside the test's event loop; ``state`` is the live ``ServerState``."""

    state: ServerState
    port: int

    async def pair(self, **params: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as http:
            r = await http.post(
                "/api/pair",
                params=params,
                headers={**JSON, "Authorization": f"Bearer {self.state.admin_token}"},
            )
        assert r.status_code == 200, r.text
        return dict(r.json())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def local_server(tmp_path: Path) -> AsyncIterator[LocalServer]:
    port = _free_port()
    home = StateDir(tmp_path / "home")
    config = ServerConfig(state_dir=home, host="127.0.0.1", port=port, advertise_host="127.0.0.1")
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield LocalServer(app.state.contop, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
