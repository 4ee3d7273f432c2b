"""The STUN/TURN reachability probe (``contop.transport.ice``) and the configuration built from its answers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import pytest

from contop.core.settings import IceUrl, parse_ice_url
from contop.transport.ice import IceProbe, binding_request, is_response_to, probe_url
from contop.transport.peer import create_peer_connection, ice_configuration
from tests.transport.test_ice_connect import MAPPED, Udp, binding_success


def test_binding_request_format() -> None:
    tid = bytes(range(12))
    request = binding_request(tid)
    assert request == b"\x00\x01\x00\x00\x21\x12\xa4\x42" + tid
    assert is_response_to(binding_success(tid), tid)
    assert not is_response_to(binding_success(bytes(12)), tid)
    assert not is_response_to(b"short", tid)


def test_probe_tells_a_live_server_from_a_silent_one_and_a_closed_port() -> None:
    live, dead = Udp(answer=True), Udp(answer=False)
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        assert probe_url(parse_ice_url(live.url), 1.0)
        started = time.monotonic()
        assert not probe_url(parse_ice_url(dead.url), 0.5)
        assert time.monotonic() - started < 2.0
        assert dead.requests == 2  # sent again once, in case the first was lost
        assert not probe_url(parse_ice_url(f"stun:127.0.0.1:{closed_port}"), 0.5)
        assert not probe_url(parse_ice_url("stun:no-such-host.invalid"), 0.5)
    finally:
        live.close()
        dead.close()


def test_tcp_transports_are_probed_by_a_connect() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        assert probe_url(parse_ice_url(f"turn:127.0.0.1:{port}?transport=tcp"), 1.0)
        assert probe_url(parse_ice_url(f"turns:127.0.0.1:{port}"), 1.0)
    finally:
        listener.close()
    assert not probe_url(parse_ice_url(f"turns:127.0.0.1:{port}"), 1.0)


def test_select_never_waits_and_uses_only_servers_that_answered() -> None:
    release = threading.Event()
    calls: list[str] = []

    def prober(url: IceUrl, _timeout: float) -> bool:
        calls.append(url.host)
        release.wait(5)
        return url.host == "up"

    now = [100.0]
    probe = IceProbe(prober=prober, max_age=45, clock=lambda: now[0])
    turn = {"urls": ["turn:down", "turn:up?transport=tcp"], "username": "u", "credential": "c"}
    servers = [{"urls": "stun:up"}, turn]
    started = time.monotonic()
    assert probe.select(servers) == []  # nothing known yet: go without, do not wait
    assert time.monotonic() - started < 0.5
    assert probe.select(servers) == []  # probes in flight are not started twice
    release.set()
    for event in probe.refresh(servers):
        assert event.wait(5)
    _wait_until(lambda: len(probe._running) == 0)
    assert sorted(calls) == ["down", "up", "up"]
    assert probe.select(servers) == [
        {"urls": "stun:up"},
        {"urls": ["turn:up?transport=tcp"], "username": "u", "credential": "c"},
    ]
    assert len(calls) == 3  # answers are kept…
    now[0] += 46
    probe.select(servers)
    _wait_until(lambda: len(calls) == 6)  # …until they are too old: probed again


def test_wait_is_bounded_and_keeps_the_loop_free() -> None:
    def slow(_url: IceUrl, _timeout: float) -> bool:
        time.sleep(3)
        return True

    probe = IceProbe(prober=slow, timeout=0.3)

    async def main() -> tuple[float, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        started = time.monotonic()
        await probe.wait([{"urls": "stun:slow"}])
        elapsed = time.monotonic() - started
        ticker.cancel()
        return elapsed, ticks

    elapsed, ticks = asyncio.run(main())
    assert elapsed < 2.0 and ticks >= 5


def test_ice_configuration_with_a_probe() -> None:
    probe = IceProbe(prober=lambda url, _t: url.host == "up")
    servers = [{"urls": "stun:up"}, {"urls": "stun:down"}, {"urls": "garbage"}]
    for event in probe.refresh(servers):
        event.wait(5)
    _wait_until(lambda: len(probe._running) == 0)
    assert [s.urls for s in ice_configuration(servers, probe=probe).iceServers or []] == ["stun:up"]
    assert [s.urls for s in ice_configuration(servers).iceServers or []] == ["stun:up", "stun:down"]


@pytest.mark.slow
async def test_setlocaldescription_with_a_dead_stun_server_before_and_after_probing() -> None:
    """aiortc waits ~5 s for a dead STUN server while gathering; built through the probe it does not wait."""
    dead, live = Udp(answer=False), Udp(answer=True)
    servers = [{"urls": dead.url}, {"urls": live.url}]
    probe = IceProbe(timeout=0.5)
    try:
        await probe.wait(servers)
        figures = {}
        for name, config in (
            ("unfiltered", ice_configuration([{"urls": dead.url}])),
            ("probed", ice_configuration(servers, probe=probe)),
        ):
            pc = create_peer_connection(config, None)
            pc.createDataChannel("x")
            started = time.perf_counter()
            await pc.setLocalDescription(await pc.createOffer())
            figures[name] = time.perf_counter() - started
            sdp = pc.localDescription.sdp
            await pc.close()
        dead_s, probed_s = figures["unfiltered"], figures["probed"]
        print(f"\nsetLocalDescription: dead STUN server {dead_s:.2f} s; through the probe {probed_s:.2f} s")
        assert figures["probed"] < 3.0 <= figures["unfiltered"]
        assert f"{MAPPED[0]} {MAPPED[1]} typ srflx" in sdp  # the live one is still used
    finally:
        dead.close()
        live.close()


def _wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.01)
