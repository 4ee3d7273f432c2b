"""A real aiortc client against a real ``contop serve``: pairing URL → signaling → both channels → messages."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from contop.client import ClientError, ContopClient, FingerprintMismatch
from contop.core.messages import (
    AgentConfirmationResponse,
    ConfirmationResponsePayload,
    Error,
    Keepalive,
    ToolCall,
    ToolCallPayload,
    ToolResult,
    new_id,
)
from contop.core.pairing_payload import encode_fragment, parse_pairing_url
from contop.testing.server import ServerProcess
from contop.transport.peer import sdp_fingerprints
from tests.core.test_messages import PHONE_SAMPLES
from tests.transport.conftest import devices, pair

pytestmark = pytest.mark.slow


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")


async def test_pair_connect_and_every_message_type_gets_its_answer(server: ServerProcess) -> None:
    url = pair(server)["url"]
    async with ContopClient(url, device_id="phone-1", device_name="Pixel") as client:
        assert client.connect_seconds is not None
        assert {c.readyState for c in client.channels.values()} == {"open"}
        assert client.pc is not None
        answer = client.pc.remoteDescription.sdp
        assert set(sdp_fingerprints(answer)) == {parse_pairing_url(url)["d"].upper()}  # the persisted certificate

        greeting = await client.next_message("state_update", timeout=5)  # the phone learns its session kind
        # no model configured (the test server has no API key): the phone is told so with an empty list
        expected = {
            "ai_state": "idle",
            "connection_type": "permanent",
            "keep_host_awake": False,
            "desk_busy": None,  # no other device's task holds the desktop
            "models": [],
        }
        assert greeting.to_dict()["payload"] == expected
        reply = await client.request(Keepalive(), expect_type="keepalive", timeout=5)
        assert reply.type == "keepalive"
        owned = {"keepalive", "tool_call", "agent_confirmation_response"}  # answered by the transport itself
        for kind, payload in PHONE_SAMPLES.items():
            msg_id = new_id()
            raw = {"type": kind, "id": msg_id, "payload": payload}
            if kind in owned:
                got = await client.request(raw, timeout=15)
                assert got.payload.ref_id == msg_id  # type: ignore[attr-defined]
                if kind == "keepalive":
                    assert got.type == "keepalive"
                elif kind == "tool_call":
                    assert isinstance(got, ToolResult)
                    assert got.payload.tool == "execute_cli" and got.payload.status in ("success", "error")
                else:  # nothing pending with that id
                    assert isinstance(got, Error) and got.payload.code == "invalid_payload"
                continue
            # Other parts own these (agent, manual control, device control, away mode): whatever they answer,
            # nothing may crash and the session stays usable.
            client.send(raw)
            assert (await client.request(Keepalive(), expect_type="keepalive", timeout=15)).type == "keepalive"
        await asyncio.sleep(1.0)
        async with asyncio.timeout(5):
            async for message in client.messages():
                assert not (isinstance(message, Error) and message.payload.code == "internal"), message
                if client._inbox.empty():
                    break

        body = devices(server)
        [device] = body["devices"]
        assert (device["device_id"], device["device_name"], device["connected"]) == ("phone-1", "Pixel", True)
        assert device["connection_path"] == "loopback"
        assert [e["type"] for e in body["events"]] == ["connected"]

    def disconnected() -> dict[str, Any] | None:
        body = devices(server)
        return None if body["devices"][0]["connected"] else body

    body = await wait_for(disconnected)
    assert [e["type"] for e in body["events"]] == ["connected", "disconnected"]


async def test_tool_call_goes_through_the_gate(server: ServerProcess) -> None:
    async with ContopClient(pair(server)["url"]) as client:
        call = ToolCall(payload=ToolCallPayload(tool="execute_cli", args={"command": "echo transport-ok"}))
        result = await client.request(call, expect_type="tool_result", timeout=30)
        assert isinstance(result, ToolResult)
        assert result.payload.status == "success" and "transport-ok" in (result.payload.stdout or "")
        data = result.to_dict()["payload"]
        assert data["decision"] == "safe" and data["executed_on"] == "host"

        unknown = await client.request(ToolCall(payload=ToolCallPayload(tool="format_disk")), timeout=10)
        assert isinstance(unknown, ToolResult) and unknown.payload.status == "blocked"


async def test_a_reply_bigger_than_the_channel_allows_is_cut_to_fit(server: ServerProcess, tmp_path: Path) -> None:
    """A 700 KB file read by a tool_call: the reply (stdout twice, ~1.4 MB) arrives cut to the phone's 256 KiB
    limit, its beginning and end intact, instead of failing the call; the session goes on."""
    lines = [f"{i:05d} " + "ü" * 60 for i in range(5000)]
    big = tmp_path / "big.txt"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    async with ContopClient(pair(server)["url"]) as client:
        args = {"file_path": str(big), "limit": 10_000}
        call = ToolCall(payload=ToolCallPayload(tool="read_file", args=args))
        result = await client.request(call, expect_type="tool_result", timeout=30)
        assert isinstance(result, ToolResult) and result.payload.status == "success", result
        data = result.to_dict()["payload"]
        assert len(json.dumps(result.to_dict(), ensure_ascii=False).encode()) <= 256 * 1024
        assert set(data["truncated"]) <= {"stdout", "result.stdout"} and data["truncated"]
        stdout = data["stdout"]
        assert stdout.startswith("     1\t00000 üüü") and stdout.rstrip().endswith(lines[-1])
        assert "characters cut: the message was too large for the data channel" in stdout
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"

        # The other way, the client says so before sending what the server would not take.
        too_big = ToolCall(payload=ToolCallPayload(tool="execute_cli", args={"command": "é" * 140_000}))
        with pytest.raises(ClientError, match="the server accepts at most 262144 bytes per message"):
            client.send(too_big)
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"


DEEP_ARGS = '{"type": "tool_call", "id": "m-1", "payload": {"args": {"x": ' + "[" * 99 + "]" * 99 + "}}}"
MALFORMED = [
    ("{not json", "invalid_message", False),
    ("[]", "invalid_message", False),
    ('{"type": "keepalive", "payload": {}}', "invalid_message", False),
    ('{"id": "m-1", "payload": {}}', "invalid_message", True),
    ('{"type": "teleport", "id": "m-1", "payload": {}}', "unknown_type", True),
    ('{"type": "user_intent", "id": "m-1", "payload": "go"}', "invalid_payload", True),
    ('{"type": "user_intent", "id": "m-1", "payload": {"text": 42}}', "invalid_payload", True),
    ('{"type": "user_intent", "id": "m-1"}', "invalid_message", True),
    ("[" * 2000 + "]" * 2000, "invalid_message", False),  # 4 KB that the JSON decoder cannot read without recursing
    (DEEP_ARGS, "invalid_message", True),
]


async def test_malformed_messages_get_errors_and_the_session_stays_usable(server: ServerProcess) -> None:
    async with ContopClient(pair(server)["url"]) as client:
        for raw, code, has_ref in MALFORMED:
            client.send(raw)
            error = await client.next_message("error", timeout=5)
            assert isinstance(error, Error) and error.payload.code == code, (raw, error)
            assert (error.payload.ref_id == "m-1") if has_ref else error.payload.ref_id is None
            assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"

        # A message near the 256 KiB channel limit is delivered and answered.
        big = {"type": "keepalive", "id": "big-1", "payload": {"pad": "x" * (250 * 1024)}}
        assert len(json.dumps(big)) > 250 * 1024
        reply = await client.request(big, timeout=15)
        assert isinstance(reply, Keepalive) and reply.payload.ref_id == "big-1"
        bad_big = {"type": "user_intent", "id": "big-2", "payload": {"text": 1, "pad": "y" * (250 * 1024)}}
        reply = await client.request(bad_big, timeout=15)
        assert isinstance(reply, Error) and reply.payload.code == "invalid_payload"
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"


async def test_unanswered_confirmation_id_is_reported(server: ServerProcess) -> None:
    async with ContopClient(pair(server)["url"]) as client:
        response = AgentConfirmationResponse(payload=ConfirmationResponsePayload(approved=True, request_id="nope"))
        reply = await client.request(response, timeout=5)
        assert isinstance(reply, Error) and "nope" in reply.payload.message


async def test_wrong_fingerprint_is_refused_by_the_client(server: ServerProcess) -> None:
    url = pair(server)["url"]
    payload = parse_pairing_url(url)
    payload["d"] = ":".join(["AB"] * 32)
    tampered = url.split("#", 1)[0] + "#p=" + encode_fragment(payload)
    client = ContopClient(tampered, device_id="phone-x")
    with pytest.raises(FingerprintMismatch, match="does not match"):
        await client.connect()
    await asyncio.sleep(0.5)
    assert all(not d["connected"] for d in devices(server)["devices"])


async def test_metadata_location_and_temp_downgrade(server: ServerProcess) -> None:
    url = pair(server)["url"]
    client = ContopClient(
        url, device_id="phone-loc", device_name="Tablet", connection_type="temp", location={"lat": 1.5, "lon": 2.5},
        keep_signaling=True,
    )  # fmt: skip
    async with client:
        [device] = devices(server)["devices"]
        assert device["connection_type"] == "temp"  # a permanent code, used for a temporary session
        greeting = await client.next_message("state_update", timeout=5)
        assert greeting.to_dict()["payload"]["connection_type"] == "temp"
        assert device["last_location"] == {"lat": 1.5, "lon": 2.5}
        await client.send_signaling({"type": "device_location", "location": {"lat": 3.0, "lon": 4.0}})
        await wait_for(lambda: devices(server)["devices"][0]["last_location"] == {"lat": 3.0, "lon": 4.0})
        # Not a location: a 200 KB object (it was kept, and written to disk at every connect), a nested one.
        for junk in ({"junk": "x" * 200_000}, {"city": {"deep": [1, 2]}}):
            await client.send_signaling({"type": "device_location", "location": junk})
            while (reply := await asyncio.wait_for(client.signaling_messages.get(), 5))["type"] != "error":
                pass  # trickled candidates
            assert reply["code"] == "invalid_message" and "flat JSON object" in reply["message"], reply
            assert devices(server)["devices"][0]["last_location"] == {"lat": 3.0, "lon": 4.0}
        await client.send_signaling({"type": "device_location", "location": {"city": "Lyon", "country": "France"}})
        await wait_for(lambda: devices(server)["devices"][0]["last_location"] == {"city": "Lyon", "country": "France"})
        # The peer outlives the signaling socket.
        await client.ws.close()
        await asyncio.sleep(0.3)
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"


async def test_revoking_the_device_closes_its_session(server: ServerProcess) -> None:
    async with ContopClient(pair(server)["url"], device_id="phone-r") as client:
        started = time.monotonic()
        r = await asyncio.to_thread(server.request, "DELETE", "/api/pair", params={"device_id": "phone-r"})
        assert r.json() == {"revoked": True}
        await asyncio.wait_for(client.wait_closed(), 5)
        assert time.monotonic() - started < 5
        assert devices(server)["devices"] == []


async def test_reconnection_replaces_the_old_peer(server: ServerProcess) -> None:
    url = pair(server)["url"]
    first = ContopClient(url, device_id="phone-2", keep_signaling=True)
    await first.connect()
    second = ContopClient(url, device_id="phone-2")
    try:
        await second.connect()
        await asyncio.wait_for(first.wait_closed(), 5)
        await wait_for(lambda: first.signaling_close is not None, timeout=5)
        assert first.signaling_close is not None and first.signaling_close[0] == 4002
        assert (await second.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"
        body = devices(server)
        assert body["devices"][0]["connected"] is True
        assert [e["type"] for e in body["events"]] == ["connected"]  # a hand-over, not a disconnect
    finally:
        await first.aclose()
        await second.aclose()
