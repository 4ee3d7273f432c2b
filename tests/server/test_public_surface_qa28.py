"""The public HTTP/WebSocket surface under hostile input: foreign web pages, nested JSON, half-sent requests,
forwarded-for headers. A real ``contop serve`` and real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from contop.server.network import OwnOrigins, lan_ip, origin_allowed
from contop.testing.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing
from contop.testing.server import ServerProcess
from tests.server.test_tunnel import FAKE_CLOUDFLARED, fake_bin
from tests.server.wsutil import SignalingOutcome, offer, passed_gate, signal_once

pytestmark = [pytest.mark.timeout(120)]

TUNNEL_HOST = "calm-river-test-42.trycloudflare.com"  # what FAKE_CLOUDFLARED reports


def refused_status(port: int, origin: str, host: str = "127.0.0.1", token: str = "wrong") -> int | None:
    """The HTTP status a handshake with this ``Origin`` was refused with; None when it was accepted."""
    url = f"ws://{host}:{port}/ws/signaling?token={token}"
    try:
        with connect(url, open_timeout=5, close_timeout=5, additional_headers={"Origin": origin}):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


def raw_handshake(port: int, host: str, origin: str) -> int:
    """The status of a WebSocket handshake sent as written (``Host`` included, which clients set themselves)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        head = (
            f"GET /ws/signaling?token=x HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        s.sendall(head.encode())
        return int(s.recv(4096).split(b" ", 2)[1])


def codes(outcomes: list[SignalingOutcome]) -> list[int | None]:
    return [o.close_code for o in outcomes]


# 1. Origin


def test_origin_rule() -> None:
    own = {"127.0.0.1", "localhost", "::1", "192.168.1.20", "100.90.1.2", "desk", "desk.local"}
    tunnels = {TUNNEL_HOST}
    for origin in (
        "http://192.168.1.20:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://DESK.local:8000",
        "http://100.90.1.2:8000",
        f"https://{TUNNEL_HOST}",
        f"https://{TUNNEL_HOST}:443",
    ):
        assert origin_allowed(origin, 8000, own, tunnels), origin
    for origin in (
        "null",
        "",
        "http://evil.example:8000",  # a name that may resolve here (DNS rebinding) is still not ours
        "http://192.168.1.20:8001",  # another port of this computer: another program's pages
        "http://192.168.1.20",
        f"http://{TUNNEL_HOST}",
        f"https://{TUNNEL_HOST}:8443",
        "https://desk.local.evil.example:8000",
        "http://user@localhost:8000",
        "http://localhost:8000/path",
        "http://localhost:99999",
        "file:///home/me/page.html",
    ):
        assert not origin_allowed(origin, 8000, own, tunnels), origin


def test_own_origins_follow_an_address_change_without_listing_on_every_stranger() -> None:
    now = [0.0]
    listings: list[float] = []
    hosts = {"192.168.1.20"}

    def gather() -> frozenset[str]:
        listings.append(now[0])
        return frozenset(hosts)

    own = OwnOrigins(gather=gather, clock=lambda: now[0])

    async def allowed(origin: str, arrived_at: str | None = None) -> bool:
        return await own.allowed(origin, 8000, None, arrived_at)

    async def scenario() -> None:
        assert await allowed("http://192.168.1.20:8000") and listings == [0.0]
        assert not await allowed("http://evil.example:8000")  # a stranger soon after: no new listing
        now[0] = 1.0
        assert await allowed("http://10.0.0.5:8000", arrived_at="::ffff:10.0.0.5")  # the address it came in on
        hosts.add("192.168.7.7")  # the desktop moved to another network
        now[0] = 2.0
        assert not await allowed("http://192.168.7.7:8000") and listings == [0.0]
        now[0] = 6.0
        assert await allowed("http://192.168.7.7:8000") and listings == [0.0, 6.0]
        assert await allowed("http://localhost:8000")
        own.remember_tunnel(TUNNEL_HOST)
        assert await allowed(f"https://{TUNNEL_HOST}")  # a page loaded through a tunnel since stopped

    asyncio.run(scenario())


def test_a_foreign_page_cannot_get_the_phone_rate_limited(tmp_path: Path) -> None:
    """Any page the phone visits could open signaling sockets with bad tokens from the phone's address: six of
    them locked the phone out for a minute. They are refused (403) before the token is looked at, uncounted."""
    lan = lan_ip()
    with ServerProcess(tmp_path / "home", host="0.0.0.0", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as srv:
        good = srv.pair()["token"]
        foreign = ["http://evil.example", f"http://evil.example:{srv.port}", "null", f"http://127.0.0.1:{srv.port + 1}"]
        for i in range(8):
            assert refused_status(srv.port, foreign[i % len(foreign)]) == 403
        # DNS rebinding: the attacker's name resolves to this computer, so Host and Origin agree; still foreign.
        assert raw_handshake(srv.port, f"evil.example:{srv.port}", f"http://evil.example:{srv.port}") == 403
        assert raw_handshake(srv.port, f"127.0.0.1:{srv.port}", f"http://127.0.0.1:{srv.port}") == 101  # the control
        assert passed_gate(signal_once(srv.port, good, offer("phone-a")))  # not rate-limited
        assert "Traceback" not in srv.log()

        # The phone app's own origins: those of each address and name it is served at, from the app on any of them.
        own = [f"http://127.0.0.1:{srv.port}", f"http://localhost:{srv.port}"]
        if lan is not None:
            own.append(f"http://{lan}:{srv.port}")
        srv.request("POST", "/api/tunnel/start")
        own.append(f"https://{TUNNEL_HOST}")
        for origin in own:
            outcome = signal_once(srv.port, good, offer("phone-a"), headers={"Origin": origin})
            assert passed_gate(outcome), (origin, outcome)
        if lan is not None:  # a page from the LAN address signaling to loopback (the tunnel's way in) and back
            through_tunnel = {"Origin": f"http://{lan}:{srv.port}", "cf-connecting-ip": "203.0.113.7"}
            assert passed_gate(signal_once(srv.port, good, offer("phone-a"), headers=through_tunnel))
            from_tunnel_page = {"Origin": f"https://{TUNNEL_HOST}"}
            assert passed_gate(signal_once(srv.port, good, offer("phone-a"), host=lan, headers=from_tunnel_page))
        # Wrong tokens from the app's own origin are counted as before.
        origin = {"Origin": f"http://127.0.0.1:{srv.port}"}
        # (the control handshake above was one failure already)
        assert codes([signal_once(srv.port, f"bad-{i}", headers=origin) for i in range(6)]) == [4001] * 5 + [4029]


@contextlib.contextmanager
def page_server(directory: Path) -> Iterator[int]:
    """Another web server on this computer (another program's pages, or a page on the network), on a port of its
    own; yields the port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.mark.browser
def test_a_foreign_page_in_a_real_browser(tmp_path: Path) -> None:
    """QA's attack in Chromium: a page from elsewhere opens signaling sockets with a bad token, again and again.
    (Served from loopback: Chromium itself stops a public page from reaching a private address unasked.)"""
    if missing := chromium_missing():
        pytest.fail(missing)
    from playwright.sync_api import sync_playwright

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>elsewhere</title>")
    with ServerProcess(tmp_path / "home") as srv, page_server(site) as port, sync_playwright() as pw:
        good = srv.pair()["token"]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/index.html")
            closes = page.evaluate(
                """async (url) => {
                  const codes = [];
                  for (let i = 0; i < 10; i++) {
                    codes.push(await new Promise((resolve) => {
                      const ws = new WebSocket(url);
                      ws.onclose = (e) => resolve(e.code);
                    }));
                  }
                  return codes;
                }""",
                f"ws://127.0.0.1:{srv.port}/ws/signaling?token=bad",
            )
        finally:
            browser.close()
        assert closes == [1006] * 10, closes  # the handshake failed (403): no close frame, no token looked at
        assert "signaling refused for" not in srv.log()
        assert passed_gate(signal_once(srv.port, good, offer("phone-a")))


# 2. Deeply nested JSON


def test_deeply_nested_json_is_an_invalid_message(tmp_path: Path) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    with ServerProcess(tmp_path / "home") as srv:
        token = srv.pair()["token"]
        with connect(f"ws://127.0.0.1:{srv.port}/ws/signaling?token={token}", open_timeout=5) as ws:
            ws.send(nested)
            reply = json.loads(ws.recv(timeout=10))
            with contextlib.suppress(Exception):
                ws.recv(timeout=10)
            rcvd = ws.protocol.close_rcvd
        assert reply["type"] == "error" and reply["code"] == "invalid_message", reply
        assert rcvd is not None and rcvd.code == 1008, rcvd
        assert "RecursionError" not in srv.log() and "Traceback" not in srv.log()


# 3. Half-sent request heads


@contextlib.contextmanager
def soft_open_file_limit(limit: int) -> Iterator[None]:
    """While inside, processes started here inherit a soft descriptor limit of ``limit`` (QA's machine had 256)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def half_sent(host: str, port: int, count: int, source: str | None = None) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=5, source_address=(source, 0) if source else None)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    return socks


def closed_by_server(s: socket.socket, within: float) -> bool:
    """Whether the server closes ``s`` within ``within`` seconds (what it still sends before is read and dropped)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            if s.recv(4096) == b"":
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def cut_at_once(socks: list[socket.socket], wait: float) -> list[socket.socket]:
    """The sockets the server has closed after ``wait`` seconds."""
    time.sleep(wait)
    return [s for s in socks if closed_by_server(s, 0.01)]


@pytest.mark.slow
def test_half_sent_requests_do_not_starve_the_server(tmp_path: Path) -> None:
    """QA held 300 connections that each sent part of a request head and stopped: /health went unanswered on every
    address. The server raises its descriptor limit, and closes a connection whose head has not come in time."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1024 or soft < 700:
        pytest.fail(f"this test needs room for 700 descriptors (soft {soft}, hard {hard})")
    with soft_open_file_limit(256):
        srv = ServerProcess(tmp_path / "home").start()
    socks: list[socket.socket] = []
    try:
        socks = half_sent("127.0.0.1", srv.port, 300)
        started = time.monotonic()
        assert httpx.get(f"{srv.base_url}/health", timeout=5).status_code == 200
        # A keep-alive connection that answered one request, then sent half of the next.
        keep = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        keep.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert keep.recv(4096).startswith(b"HTTP/1.1 200")
        keep.sendall(b"GET /health HTTP/1.1\r\n")
        socks.append(keep)
        deadline = started + 20
        assert all(closed_by_server(s, max(0.1, deadline - time.monotonic())) for s in socks)
        assert time.monotonic() - started > 8  # not before the head timeout (10 s)
        assert httpx.get(f"{srv.base_url}/health", timeout=5).status_code == 200
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_one_address_holds_a_bounded_number_of_connections(tmp_path: Path) -> None:
    lan = lan_ip()
    if lan is None:
        pytest.fail("this machine has no LAN address to connect from; this test cannot be skipped")
    with ServerProcess(tmp_path / "home", host="0.0.0.0") as srv:
        socks = half_sent(lan, srv.port, 70, source=lan)
        try:
            cut = cut_at_once(socks, 1.0)
            assert len(cut) == 70 - 64, len(cut)
            assert httpx.get(f"{srv.base_url}/health", timeout=5).status_code == 200  # loopback is not capped
            assert srv.log().count(f"refusing connections from {lan}") == 1, srv.log()[-3000:]
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        with httpx.Client(transport=httpx.HTTPTransport(local_address=lan)) as client:
            assert client.get(f"http://{lan}:{srv.port}/health", timeout=5).status_code == 200


# 4. Who the client is: the TCP peer, and Cloudflare's header only through the tunnel


def test_forwarded_for_does_not_choose_the_address_counted(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as srv:
        good = srv.pair()["token"]
        srv.request("POST", "/api/tunnel/start")

        def via_tunnel(token: str, phone: str) -> SignalingOutcome:
            # cloudflared sends both; uvicorn used to replace the peer with X-Forwarded-For.
            headers = {"cf-connecting-ip": phone, "X-Forwarded-For": phone}
            return signal_once(srv.port, token, offer("phone-a"), headers=headers)

        # One IPv6 subscriber's /64 is one address to the limiter, through the tunnel.
        assert codes([via_tunnel(f"v6-{i}", f"2001:db8:1:1::{i + 2}") for i in range(7)]) == [4001] * 6 + [4029]
        assert passed_gate(via_tunnel(good, "203.0.113.77"))
        # Nor can a local program pass for other clients: without the tunnel, its failures count against loopback.
        srv.request("POST", "/api/tunnel/stop")
        forged = [signal_once(srv.port, f"f-{i}", headers={"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(7)]
        assert codes(forged) == [4001] * 6 + [4029]


def test_admin_api_refuses_forwarded_and_tunnel_requests(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as srv:
        assert srv.request("GET", "/api/devices").status_code == 200
        for header in ("X-Forwarded-For", "X-Real-IP", "cf-connecting-ip"):
            r = srv.request("GET", "/api/devices", headers={header: "203.0.113.9"})
            assert r.status_code == 403, (header, r.text)
        r = srv.request("GET", "/api/devices", headers={"Forwarded": "for=203.0.113.9"})
        assert r.status_code == 403, r.text
        srv.request("POST", "/api/tunnel/start")
        assert srv.request("GET", "/api/devices", headers={"Host": TUNNEL_HOST}).status_code == 403
        assert srv.request("GET", "/api/devices").status_code == 200
