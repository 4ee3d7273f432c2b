"""The server answers only once what must survive a crash is on disk: pairing codes, claims and revocations."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest
import websockets

from tests.server.disk import SlowDisk, full_disk
from tests.server.wsutil import offer
from tests.transport.conftest import LocalServer

JSON = {"Accept": "application/json"}


async def test_the_server_answers_only_once_codes_claims_and_revocations_are_on_disk(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    SlowDisk(monkeypatch, 0.2)  # a write still in progress when the answer left would show here
    path = local_server.state.pairing._path
    on_disk = lambda: json.loads(path.read_text())  # noqa: E731
    token = (await local_server.pair())["token"]
    assert [t["token"] for t in on_disk()["tokens"]] == [token]
    url = f"ws://127.0.0.1:{local_server.port}/ws/signaling?token={token}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps(offer("phone-1", "One")))
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.recv()  # the placeholder SDP is refused after the claim
    assert [t["device_id"] for t in on_disk()["tokens"]] == ["phone-1"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{local_server.port}") as http:
        auth = {"Authorization": f"Bearer {local_server.state.admin_token}"}
        revoked = await http.delete("/api/pair", params={"device_id": "phone-1"}, headers=auth)
        assert revoked.json() == {"revoked": True}
        assert on_disk()["tokens"] == []
        full_disk(monkeypatch)
        temp = await http.post("/api/pair", params={"connection_type": "temp"}, headers={**auth, **JSON})
        assert temp.status_code == 200  # a temporary code is never written, so a full disk does not matter
        permanent = await http.post("/api/pair", headers={**auth, **JSON})
        assert permanent.status_code == 507
        assert "could not save tokens.json: No space left on device" in permanent.json()["detail"]
