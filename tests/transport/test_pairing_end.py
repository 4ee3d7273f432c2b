"""A connected phone whose pairing ends is told on its signaling socket which way it ended: revoked or expired."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from contop.client import ContopClient
from contop.core.clock import utcnow
from tests.transport.conftest import LocalServer

pytestmark = pytest.mark.slow


async def closed_by_the_server(client: ContopClient) -> tuple[int | None, str]:
    async with asyncio.timeout(10):
        while client.signaling_close is None:
            await asyncio.sleep(0.05)
    return client.signaling_close


async def test_an_expired_code_closes_the_phone_as_expired(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = (await local_server.pair(connection_type="temp"))["url"]
    async with ContopClient(url, device_id="guest", keep_signaling=True) as client:
        pairing = local_server.state.pairing
        monkeypatch.setattr(pairing.tokens, "_clock", lambda: utcnow() + timedelta(hours=5))  # past the 4 hours
        assert await pairing.expire() == ["guest"]  # what the server's periodic check runs
        assert await closed_by_the_server(client) == (4001, "pairing code expired")


async def test_a_revoked_device_is_closed_as_revoked(local_server: LocalServer) -> None:
    url = (await local_server.pair())["url"]
    async with ContopClient(url, device_id="phone", keep_signaling=True) as client:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{local_server.port}") as http:
            r = await http.delete(
                "/api/pair",
                params={"device_id": "phone"},
                headers={"Authorization": f"Bearer {local_server.state.admin_token}"},
            )
        assert r.json() == {"revoked": True}
        assert await closed_by_the_server(client) == (4001, "pairing revoked")
