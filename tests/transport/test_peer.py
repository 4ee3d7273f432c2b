"""Peer helpers (pure), the trickled ICE candidates on signaling, the persisted certificate, and screen video
reaching the client through the server on a real X display."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc import RTCCertificate

from contop.client import ContopClient
from contop.core.messages import Keepalive
from contop.core.settings import IceServer, Settings
from contop.server.dtls import load_or_create
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession, start_xsession
from contop.transport.peer import (
    certificate_fingerprint,
    create_peer_connection,
    ice_configuration,
    parse_candidate,
    sdp_fingerprints,
)
from tests.transport.conftest import pair


def test_ice_configuration_from_settings() -> None:
    settings = Settings(
        ice_servers=[
            IceServer(urls="stun:stun.example.org:3478"),
            IceServer(urls=["turn:turn.example.org:3478?transport=udp"], username="u", credential="c"),
        ]
    )
    config = ice_configuration(settings.ice_servers)
    assert [s.urls for s in config.iceServers or []] == [
        "stun:stun.example.org:3478",
        ["turn:turn.example.org:3478?transport=udp"],
    ]
    assert (config.iceServers or [])[1].username == "u" and (config.iceServers or [])[1].credential == "c"
    assert ice_configuration([]).iceServers == []
    assert ice_configuration([{"urls": "stun:x"}]).iceServers[0].urls == "stun:x"  # type: ignore[index]


def test_ice_configuration_leaves_out_what_would_break_the_connection(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contop.core import settings as settings_module

    monkeypatch.setattr(settings_module, "_warned_ice", set())  # each is logged once per process: start afresh
    servers = [
        {"urls": "garbage"},  # the browser and aiortc refuse the whole configuration for this one
        {"urls": "http://example.com"},
        {"urls": "turn:t.example.org"},  # TURN without credentials
        {"urls": []},
        {"urls": ["stun:[2001:db8::1]", "stun:s.example.org"]},  # aiortc cannot parse an IPv6 literal
        IceServer(urls="turn:t.example.org?transport=tcp", username="u", credential="secret-p"),
    ]
    with caplog.at_level("WARNING"):
        config = ice_configuration(servers)
    assert [s.urls for s in config.iceServers or []] == [["stun:s.example.org"], "turn:t.example.org?transport=tcp"]
    assert "garbage" in caplog.text and "2001:db8::1" in caplog.text and "secret-p" not in caplog.text
    create_peer_connection(config, None)  # aiortc takes it


def test_settings_reject_a_malformed_ice_server() -> None:
    with pytest.raises(ValueError):
        Settings.model_validate({"ice_servers": [{"username": "no urls"}]})


def test_candidate_parsing() -> None:
    data = {
        "candidate": "candidate:1 1 udp 2130706431 192.168.1.20 54321 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    candidate = parse_candidate(data)
    assert (candidate.ip, candidate.port, candidate.type, candidate.sdpMid) == ("192.168.1.20", 54321, "host", "0")
    assert parse_candidate({"candidate": ""}) is None  # the browser's end-of-candidates
    with pytest.raises(ValueError):
        parse_candidate({"candidate": "candidate:garbage"})
    with pytest.raises(ValueError):
        parse_candidate({"candidate": 5})


def test_fingerprints_from_sdp() -> None:
    sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:sha-256 ab:cd\r\n"
    assert sdp_fingerprints(sdp) == ["AB:CD"]
    assert sdp_fingerprints("a=fingerprint:sha-1 AB:CD\r\n") == []


async def test_persisted_certificate_is_the_one_in_the_answer(tmp_path: Path) -> None:
    (tmp_path / "dtls").mkdir()
    identity = load_or_create(tmp_path / "dtls")
    certificate = RTCCertificate(key=identity.key, cert=identity.cert)
    assert certificate_fingerprint(certificate) == identity.fingerprint
    offerer = create_peer_connection(ice_configuration([]), None)
    answerer = create_peer_connection(ice_configuration([]), certificate)
    try:
        offerer.createDataChannel("contop")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        assert set(sdp_fingerprints(answerer.localDescription.sdp)) == {identity.fingerprint}
        assert "typ host" in answerer.localDescription.sdp  # complete answer: host candidates included
    finally:
        await offerer.close()
        await answerer.close()


@pytest.mark.slow
async def test_trickled_candidates_and_bad_signaling_messages(server: ServerProcess) -> None:
    async with ContopClient(pair(server)["url"], keep_signaling=True) as client:
        ws = client.ws

        async def next_error() -> dict[str, str]:
            while True:
                message = await asyncio.wait_for(client.signaling_messages.get(), 5)
                if message["type"] == "error":
                    return dict(message)
                assert message == {"type": "ice_candidate", "candidate": None}  # ours: all were in the answer

        host = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
        await client.send_signaling({"type": "ice_candidate", "candidate": host})
        await client.send_signaling({"type": "ice_candidate", "candidate": None})
        await client.send_signaling({"type": "ice_candidate", "candidate": {"candidate": "candidate:nonsense"}})
        error = await next_error()
        assert error["code"] == "invalid_message" and "candidate" in error["message"]
        await client.send_signaling({"type": "hello"})
        assert "unexpected message" in (await next_error())["message"]
        await ws.send("{broken")
        assert "not JSON" in (await next_error())["message"]
        assert (await client.request(Keepalive(), expect_type="keepalive", timeout=5)).type == "keepalive"


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    missing = [p for p in ("Xvfb", "openbox", "dbus-daemon") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb openbox dbus)")
    session = start_xsession("1280x720x24")
    try:
        yield session
    finally:
        session.close()


@pytest.mark.slow
@pytest.mark.x11
async def test_client_receives_the_screen_video(tmp_path: Path, xsession: XSession) -> None:
    server = ServerProcess(tmp_path / "home", env=xsession.child_env()).start()
    try:
        async with ContopClient(pair(server)["url"]) as client:
            frame = await asyncio.wait_for(client.frames.get(), 20)
            assert frame.width > 0 and frame.height > 0
            assert client.last_frame is not None
    finally:
        server.stop()
