"""An unexpected failure in a route is answered as JSON like every other error (CONTRACTS §3), not plain text."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contop.server.app import create_app
from contop.server.state import ServerConfig
from contop.server.statedir import StateDir


async def test_an_unexpected_error_is_a_json_500(tmp_path: Path) -> None:
    app = create_app(ServerConfig(state_dir=StateDir(tmp_path / "state"), host="127.0.0.1", port=8000))

    async def boom(_request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, Route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "internal error; the server log has the details"}
