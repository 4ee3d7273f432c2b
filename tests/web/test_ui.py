"""The phone web app in headless Chromium at a 390x844 touch viewport, against a real ``contop serve``.

Two kinds of tests: pairing and connecting through the real server (signaling + WebRTC), and every screen state
driven by a test-only fake transport (``fake_transport.js``, injected before the app loads) that replays the
server's messages. Screenshots of each state go to ``test-artifacts/web/``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from contop.testing.browser import CHROMIUM, CHROMIUM_ARGS
from contop.testing.netns import NetNamespace
from contop.testing.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
FAKE_TRANSPORT = (Path(__file__).parent / "fake_transport.js").read_text(encoding="utf-8")
FINGERPRINT = ":".join(["3F", "A0", "9C", "11"] * 8)
PORTRAIT = {"width": 390, "height": 844}
LANDSCAPE = {"width": 844, "height": 390}


# The app has connected or given up. window.contop exists only once its modules ran (a slow load: not yet).
SETTLED = "window.contop && ['connected', 'failed'].includes(window.contop.state.conn.status)"


def fragment(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return "p=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


FAKE_PAYLOAD = {
    "v": 1,
    "t": "fake-token",
    "d": FINGERPRINT,
    "h": "192.168.1.20",
    "p": 8000,
    "e": "2030-01-01T00:00:00Z",
    "c": "permanent",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("web") / "home").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield b
        finally:
            b.close()


def phone(browser: Browser, *, fake: bool, viewport: dict[str, int] = PORTRAIT) -> BrowserContext:
    ctx = browser.new_context(
        viewport=viewport,
        has_touch=True,
        is_mobile=True,
        device_scale_factor=3,
        service_workers="block" if fake else "allow",
    )
    ctx.set_default_timeout(10_000)
    if fake:
        ctx.add_init_script(FAKE_TRANSPORT)
    errors: list[str] = []
    _page_errors[id(ctx)] = errors
    ctx.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
    return ctx


_page_errors: dict[int, list[str]] = {}


def close(ctx: BrowserContext) -> None:
    """Close a phone, failing the test if any script error reached the page."""
    errors = _page_errors.pop(id(ctx), [])
    ctx.close()
    assert not errors, errors


def shot(page: Page, name: str) -> None:
    page.wait_for_timeout(350)  # let sheet/modal animations settle
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def state(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("JSON.parse(JSON.stringify(window.contop.state))"))


def sent(page: Page, type_: str) -> list[dict[str, Any]]:
    return list(page.evaluate("t => window.__fake.ofType(t)", type_))


def emit(page: Page, type_: str, payload: dict[str, Any], msg_id: str | None = None) -> str:
    return str(page.evaluate("([t, p, i]) => window.__fake.emit(t, p, i)", [type_, payload, msg_id]))


_cdp: dict[int, Any] = {}


def touch(page: Page, kind: str, points: list[tuple[float, float]]) -> None:
    """Raw touch events (one CDP session per page: the browser tracks touches per session)."""
    key = id(page)
    if key not in _cdp:
        _cdp[key] = page.context.new_cdp_session(page)
    _cdp[key].send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in points]})


def centre(page: Page, selector: str) -> tuple[float, float]:
    """Where a finger lands on the element: the middle of its box."""
    box = page.locator(selector).bounding_box()
    assert box, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def hold(page: Page, selector: str, ms: int) -> None:
    x, y = centre(page, selector)
    touch(page, "touchStart", [(x, y)])
    page.wait_for_timeout(ms)
    touch(page, "touchEnd", [])


def open_fake_session(ctx: BrowserContext, server: ServerProcess) -> Page:
    page = ctx.new_page()
    page.goto(f"{server.base_url}/#{fragment(FAKE_PAYLOAD)}")
    expect(page.locator("#screen-session")).to_be_visible()
    page.wait_for_function("document.getElementById('video').videoWidth > 0")
    return page


def drop_and_reconnect(page: Page) -> None:
    """The fake link drops; wait until the app is connected again over a new transport."""
    before = page.evaluate("window.__fake.events.filter(e => e.startsWith('connected:')).length")
    page.evaluate("window.__fake.drop()")
    page.wait_for_function(
        f"window.__fake.events.filter(e => e.startsWith('connected:')).length > {before}"
        " && window.contop.state.conn.status === 'connected'",
        timeout=10_000,
    )


# ------------------------------------------------------------------------------------------------ real server


def test_pairing_url_from_the_real_server(server: ServerProcess, browser: Browser) -> None:
    r = server.request("POST", "/api/pair", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    pairing = r.json()
    frag = pairing["url"].split("#", 1)[1]
    ctx = phone(browser, fake=False)
    page = ctx.new_page()
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text))
    page.goto(f"{server.base_url}/#{frag}")
    # The fragment leaves the address bar at once, and the payload is remembered.
    assert "#" not in page.url and pairing["token"] not in page.url
    stored = page.evaluate("JSON.parse(localStorage.getItem('contop.pairings.v1'))")
    assert list(stored) == [pairing["payload"]["d"].upper()]
    assert stored[pairing["payload"]["d"].upper()]["t"] == pairing["token"]

    page.wait_for_function(SETTLED, timeout=30_000)
    assert state(page)["conn"]["status"] == "connected", state(page)["conn"]
    expect(page.locator("#screen-session")).to_be_visible()
    expect(page.locator("#conn-label")).to_have_text(re.compile("Connected"))
    # The test desktop has no model: its greeting says so, and the chip does not pretend there is a default one.
    expect(page.locator("#chip-model-label")).to_have_text("No model")
    shot(page, "real-01-connected")
    devices = server.request("GET", "/api/devices").json()
    assert any(d.get("device_id", "").startswith("phone-") for d in devices.get("devices", devices)), devices
    assert not any(pairing["token"] in line for line in logs)
    # Installable: the manifest is served with its type, and the offline shell's service worker activates.
    manifest = page.request.get(f"{server.base_url}/manifest.webmanifest")
    assert manifest.ok and "manifest+json" in manifest.headers["content-type"]
    assert manifest.json()["display"] == "standalone"
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)") is True
    close(ctx)


def test_a_text_too_long_to_send_is_kept_and_the_user_told(server: ServerProcess, browser: Browser) -> None:
    """Chromium refuses a message over the desktop's max-message-size by throwing: the app must say why nothing
    was sent and keep the text, not fail silently."""
    pairing = server.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
    ctx = phone(browser, fake=False)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.base_url}/#{pairing['url'].split('#', 1)[1]}")
    page.wait_for_function(SETTLED, timeout=30_000)
    assert state(page)["conn"]["status"] == "connected", state(page)["conn"]
    page.locator("#intent-input").fill("x" * 300_000)
    page.locator("#btn-send").tap()
    expect(page.locator("#toast")).to_contain_text("too long to send")
    assert page.evaluate("document.getElementById('intent-input').value.length") == 300_000
    assert not errors, errors
    close(ctx)


def test_pairing_from_a_lan_address_over_plain_http(tmp_path: Path, browser: Browser) -> None:
    """A real phone opens the QR's http://<LAN address>: not a secure context, so the browser leaves out
    ``crypto.randomUUID`` and other secure-only APIs (loopback, used by every other test here, is a secure
    context). Its Chrome also hides its own addresses behind mDNS names: this browser runs without the flags that
    turn that off for loopback."""
    phone_like = [a for a in CHROMIUM_ARGS if "WebRtcHideLocalIpsWithMdns" not in a and "loopback" not in a]
    with NetNamespace() as net, ServerProcess(tmp_path / "home", host="0.0.0.0") as srv:
        real_phone = browser.browser_type.launch(executable_path=CHROMIUM, args=phone_like)
        try:
            pairing = srv.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
            ctx = phone(real_phone, fake=False)
            page = ctx.new_page()
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.goto(f"http://{net.host_ip}:{srv.port}/#{pairing['url'].split('#', 1)[1]}")
            assert page.evaluate("window.isSecureContext") is False
            try:
                page.wait_for_function("!!window.contop", timeout=20_000)
            except PlaywrightTimeoutError:
                # About 1 run in 4 on this machine the browser in the namespace stops fetching the page's modules
                # part way (the server logs none after it, and none failed), so the app never starts. Not what this
                # test is about (the app over plain http at a LAN address): reloaded once, and said on stderr.
                print(f"the phone app did not start; reloading once (failed requests: {failed})", file=sys.stderr)
                page.reload()
            try:
                # A first attempt that times out (20 s) is retried by the app: room for one retry on a loaded machine.
                page.wait_for_function(
                    "window.contop && window.contop.state.conn.status === 'connected'", timeout=60_000
                )
            except PlaywrightTimeoutError:
                conn = page.evaluate("window.contop ? window.contop.state.conn : 'no app'")
                pytest.fail(f"not connected after 60 s: {conn}\nserver log:\n{srv.log()[-4000:]}")
            device = page.evaluate("localStorage.getItem('contop.device_id')")
            uuid4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
            assert re.fullmatch(f"phone-{uuid4}", device), device
            devices = srv.request("GET", "/api/devices").json()
            assert device in [d.get("device_id") for d in devices.get("devices", devices)], devices
            close(ctx)  # fails on any script error the page raised
        finally:
            real_phone.close()


_FIRST_LINK_FAILS = """
(() => {
  // The first attempt's link never comes up: its addresses are mDNS names nobody resolves, and the desktop's ICE
  // password it signs its checks with is wrong, so the desktop learns no address from them either.
  const name = () => `x${Math.random().toString(16).slice(2)}.local`;
  const hide = (text) => text.replace(/(candidate:\\S+ \\d+ \\S+ \\d+ )(\\S+)/g, (_, head) => head + name());
  const nativeSend = WebSocket.prototype.send;
  let offers = 0;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && data.includes('"type":"offer"')) offers += 1;
    if (offers === 1 && typeof data === "string" && /"type":"(offer|ice_candidate)"/.test(data)) data = hide(data);
    return nativeSend.call(this, data);
  };
  const nativeSet = RTCPeerConnection.prototype.setRemoteDescription;
  let answers = 0;
  RTCPeerConnection.prototype.setRemoteDescription = function (desc) {
    if (desc?.type === "answer" && ++answers === 1) {
      desc = { type: "answer", sdp: desc.sdp.replace(/a=ice-pwd:(\\S+)/g, (_, pwd) => "a=ice-pwd:x" + pwd.slice(1)) };
    }
    return nativeSet.call(this, desc);
  };
})();
"""


def test_a_failed_link_at_one_address_goes_on_with_a_fresh_connection_at_the_next(
    tmp_path: Path, browser: Browser
) -> None:
    """The first signaling address answers but its link fails: the next address gets a new offer from a new peer
    (the first one already took an answer and cannot offer again)."""
    with NetNamespace() as net, ServerProcess(tmp_path / "home", host="0.0.0.0") as srv:
        pairing = srv.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
        assert pairing["payload"]["h"] != net.host_ip  # a second address to go on to
        ctx = phone(browser, fake=False)
        ctx.add_init_script(_FIRST_LINK_FAILS)
        page = ctx.new_page()
        started = time.monotonic()
        page.goto(f"http://{net.host_ip}:{srv.port}/#{pairing['url'].split('#', 1)[1]}")
        page.wait_for_function(SETTLED, timeout=30_000)
        assert state(page)["conn"]["status"] == "connected", state(page)["conn"]
        took = time.monotonic() - started
        assert took < 15, took  # the desktop said the first link failed (its grace, then ICE), no 20 s wait
        close(ctx)


def test_a_revoked_or_unknown_token_asks_for_a_new_code(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=False)
    page = ctx.new_page()
    bad = {**FAKE_PAYLOAD, "h": "127.0.0.1", "p": server.port, "t": "not-a-real-token"}
    page.goto(f"{server.base_url}/#{fragment(bad)}")
    expect(page.locator("#connect-error-title")).to_have_text("This pairing code no longer works")
    expect(page.locator("#btn-rescan")).to_be_visible()
    expect(page.locator("#btn-retry")).to_be_hidden()
    shot(page, "real-02-invalid-token")
    page.locator("#btn-rescan").click()
    expect(page.locator("#screen-welcome")).to_be_visible()
    close(ctx)


def _real_pairing(server: ServerProcess) -> dict[str, Any]:
    r = server.request("POST", "/api/pair", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_desktop_with_another_fingerprint_is_refused(server: ServerProcess, browser: Browser) -> None:
    pairing = _real_pairing(server)
    forged = {**pairing["payload"], "d": FINGERPRINT}  # the code promises another certificate
    ctx = phone(browser, fake=False)
    page = ctx.new_page()
    page.goto(f"{server.base_url}/#{fragment(forged)}")
    expect(page.locator("#connect-error-title")).to_have_text("Connection refused for your safety", timeout=20_000)
    expect(page.locator("#btn-rescan")).to_be_visible()
    assert state(page)["conn"]["status"] == "failed"
    close(ctx)


def test_a_code_claimed_by_another_phone_is_refused(server: ServerProcess, browser: Browser) -> None:
    pairing = _real_pairing(server)
    url = f"{server.base_url}/#{pairing['url'].split('#', 1)[1]}"
    first = phone(browser, fake=False)
    page = first.new_page()
    page.goto(url)
    page.wait_for_function(SETTLED, timeout=30_000)
    if state(page)["conn"]["status"] != "connected":
        close(first)
        pytest.skip("WebRTC transport not available: the code is never claimed")
    second = phone(browser, fake=False)  # its own storage, so its own device id
    other = second.new_page()
    other.goto(url)
    expect(other.locator("#connect-error-title")).to_have_text("Code already used by another device", timeout=20_000)
    shot(other, "real-02b-claimed")
    close(second)
    close(first)


def test_too_many_bad_attempts_are_rate_limited(tmp_path: Path, browser: Browser) -> None:
    with ServerProcess(tmp_path / "home") as srv:
        ctx = phone(browser, fake=False)
        page = ctx.new_page()
        bad = {**FAKE_PAYLOAD, "h": "127.0.0.1", "p": srv.port, "t": "wrong-token"}
        for attempt in range(8):  # a new query string makes each one a fresh page load
            page.goto(f"{srv.base_url}/?attempt={attempt}#{fragment(bad)}")
            page.wait_for_function("window.contop.state.conn.status === 'failed'")
            if state(page)["conn"]["error"]["kind"] == "rate_limited":
                break
        expect(page.locator("#connect-error-title")).to_have_text("Too many attempts")
        expect(page.locator("#btn-retry")).to_be_visible()
        shot(page, "real-02c-rate-limited")
        close(ctx)


# The phone's closing of a signaling socket, with the socket's state at that moment (1: still open) and how many
# sockets the page had opened by then.
RECORD_SOCKET_CLOSES = """
(() => {
  const closes = (window.__signalingCloses = []);
  let opened = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      opened += 1;
    }
  };
  const nativeClose = Native.prototype.close;
  Native.prototype.close = function (...args) {
    closes.push({ readyState: this.readyState, status: window.contop?.state.conn.status ?? null, sockets: opened });
    return nativeClose.apply(this, args);
  };
})();
"""


def _watch_signaling(page: Page) -> list[dict[str, Any]]:
    """Every signaling socket the page opens, in order, with the messages sent and received on it."""
    sockets: list[dict[str, Any]] = []

    def summary(data: str | bytes) -> str:
        try:
            msg = json.loads(data)
        except ValueError:
            return "?"
        return f"error: {msg.get('message')}" if msg.get("type") == "error" else str(msg.get("type"))

    def opened(ws: WebSocket) -> None:
        record: dict[str, Any] = {"ws": ws, "sent": [], "received": []}
        sockets.append(record)
        ws.on("framesent", lambda data: record["sent"].append(summary(data)))
        ws.on("framereceived", lambda data: record["received"].append(summary(data)))

    page.on("websocket", opened)
    return sockets


@contextmanager
def _frozen(browser: Browser) -> Iterator[None]:
    """Suspend every renderer process of ``browser``: page scripts and the WebRTC stack stop (what a phone does to
    a backgrounded app) while the network process, and so the sockets, stay up."""
    cdp = browser.new_browser_cdp_session()
    processes = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    cdp.detach()
    renderers = [int(p["id"]) for p in processes if p["type"] == "renderer"]
    assert renderers, processes
    stopped: list[int] = []
    try:
        for pid in renderers:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


def _ask(page: Page, text: str, answer: str) -> None:
    """Send an intent and require the desktop's answer in the thread."""
    results = page.locator(".result:not(.restored)")
    before = results.count()
    page.locator("#intent-input").fill(text)
    page.locator("#btn-send").tap()
    expect(results).to_have_count(before + 1, timeout=20_000)
    expect(results.last).to_contain_text(answer)


def test_reconnects_at_once_after_the_desktop_drops_the_link(tmp_path: Path, browser: Browser) -> None:
    """Real server, real WebRTC. The phone's page freezes long enough for the desktop to declare the link lost
    and close its peer, while the signaling socket stays open on both ends. Thawed, the phone must reconnect at
    its first attempt with a new signaling socket and peer: the desktop does not do ICE restarts (an offer on the
    old socket is refused, and waiting for one cost 8 s). Then the desktop's server restarts on the same port
    (signaling closed too) and the phone comes back again. After each drop an intent gets its answer."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "pong"}, {"text": "pong"}]))
    srv = ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{script}"})
    own = browser.browser_type.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))  # frozen below
    ctx = None
    try:
        srv.start()
        pairing = _real_pairing(srv)
        assert pairing["payload"]["c"] == "permanent"
        ctx = phone(own, fake=False)
        ctx.add_init_script(RECORD_SOCKET_CLOSES)
        page = ctx.new_page()
        sockets = _watch_signaling(page)
        page.goto(f"{srv.base_url}/#{pairing['url'].split('#', 1)[1]}")
        page.wait_for_function(SETTLED, timeout=30_000)
        assert state(page)["conn"]["status"] == "connected", state(page)["conn"]
        assert len(sockets) == 1 and not sockets[0]["ws"].is_closed()
        assert page.evaluate("window.__signalingCloses") == []  # the phone keeps its signaling socket open

        # The phone freezes; the desktop hears no acknowledgement and drops the link (its peer, not signaling).
        with _frozen(own):
            deadline = time.monotonic() + 30
            while "connection lost" not in srv.log() and time.monotonic() < deadline:
                time.sleep(0.1)
        thawed = time.monotonic()
        assert "connection lost (the phone acknowledged nothing" in srv.log(), srv.log()[-3000:]
        page.wait_for_function("window.contop.state.conn.status !== 'connected'", timeout=10_000)
        page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=20_000)
        took = time.monotonic() - thawed
        print(f"reconnected {took:.1f} s after the drop reached the phone")
        first, *others = sockets
        # One attempt, a full reconnect: a new socket carries the new offer, and the old one is closed only once
        # the new link is up (by the phone, or first by the desktop: 4002, replaced), so a desktop that still
        # heard the old link hands the run over instead of losing it. No offer (ICE restart) on the old socket, no
        # error from the desktop.
        assert [s["sent"].count("offer") for s in sockets] == [1, 1], sockets
        assert not [m for s in sockets for m in s["received"] if m.startswith("error")], sockets
        assert others[0]["received"][:1] == ["answer"], others
        if not first["ws"].is_closed():  # its closing handshake may still be on the way
            first["ws"].wait_for_event("close", timeout=10_000)
        assert not others[0]["ws"].is_closed()
        closes = page.evaluate("window.__signalingCloses")
        assert closes in ([], [{"readyState": 1, "status": "reconnecting", "sockets": 2}]), closes
        assert re.search(r"reconnected: session \w+ replaces \w+ \(lost\)", srv.log())  # the same device, back
        _ask(page, "ping", "pong")
        shot(page, "real-07-reconnected-after-a-dropped-link")

        # The desktop's server restarts (same port, same state): signaling closes too, the phone comes back.
        assert srv.stop() == 0
        page.wait_for_function("window.contop.state.conn.status !== 'connected'", timeout=20_000)
        stopped = time.monotonic()
        srv.start()
        page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=30_000)
        print(f"reconnected {time.monotonic() - stopped:.1f} s after the server stopped")
        _ask(page, "ping again", "pong")
    finally:
        if ctx:
            close(ctx)
        own.close()
        srv.stop()


def test_two_tabs_of_one_phone_do_not_fight(server: ServerProcess, browser: Browser) -> None:
    """Two tabs of one phone (one device id, shared storage): the desktop keeps the newer connection and closes the
    older one's signaling with 4002, then its peer. The older tab must say so and stay off (it used to count the
    peer's close as a drop, reconnect after 1 s and take the connection back, forever) until the user taps to
    connect there again."""
    pairing = _real_pairing(server)
    ctx = phone(browser, fake=False)
    first = ctx.new_page()
    first.goto(f"{server.base_url}/#{pairing['url'].split('#', 1)[1]}")
    first.wait_for_function(SETTLED, timeout=30_000)
    if state(first)["conn"]["status"] != "connected":
        close(ctx)
        pytest.skip("WebRTC transport not available")
    second = ctx.new_page()
    second.goto(f"{server.base_url}/")  # the remembered desktop, the same device
    second.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=30_000)
    expect(first.locator("#connect-error-title")).to_have_text("Connected somewhere else", timeout=15_000)
    expect(first.locator("#btn-retry")).to_be_visible()
    second.wait_for_timeout(4000)  # well past the first reconnect attempt (1 s)
    assert state(first)["conn"]["status"] == "failed", state(first)["conn"]
    assert state(second)["conn"]["status"] == "connected", state(second)["conn"]
    shot(first, "real-08-connected-somewhere-else")
    # Connecting here again, on the user's tap, takes the connection back; now the other tab stands down.
    first.locator("#btn-retry").tap()
    first.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=30_000)
    expect(second.locator("#connect-error-title")).to_have_text("Connected somewhere else", timeout=15_000)
    first.wait_for_timeout(2500)
    assert state(first)["conn"]["status"] == "connected", state(first)["conn"]
    assert state(second)["conn"]["status"] == "failed", state(second)["conn"]
    close(ctx)


# ------------------------------------------------------------------------------------------------ fake transport


def test_welcome_and_bad_codes(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = ctx.new_page()
    page.goto(server.base_url + "/")
    expect(page.locator("#screen-welcome")).to_be_visible()
    expect(page.locator("#paired-section")).to_be_hidden()
    shot(page, "01-welcome")
    page.set_viewport_size(LANDSCAPE)
    shot(page, "01-welcome-landscape")
    page.set_viewport_size(PORTRAIT)
    page.goto(server.base_url + "/#p=bm90LWpzb24")
    expect(page.locator("#welcome-error")).to_contain_text("damaged")
    assert "#" not in page.url
    shot(page, "01b-welcome-bad-code")
    close(ctx)


@pytest.mark.parametrize(
    ("code", "kind", "title", "button"),
    [
        (4001, None, "This pairing code no longer works", "#btn-rescan"),
        (4002, None, "Connected somewhere else", "#btn-retry"),
        (4003, None, "Code already used by another device", "#btn-rescan"),
        (4029, None, "Too many attempts", "#btn-retry"),
        (1013, None, "Remote control isn't available yet", "#btn-retry"),
        (1008, None, "The desktop refused this connection", "#btn-retry"),
        (None, "fingerprint", "Connection refused for your safety", "#btn-rescan"),
    ],
)
def test_connection_error_states(
    server: ServerProcess, browser: Browser, code: int | None, kind: str | None, title: str, button: str
) -> None:
    ctx = phone(browser, fake=True)
    page = ctx.new_page()
    page.add_init_script(f"window.__fake.failCode = {json.dumps(code)}; window.__fake.failKind = {json.dumps(kind)};")
    page.goto(f"{server.base_url}/#{fragment(FAKE_PAYLOAD)}")
    expect(page.locator("#connect-error-title")).to_have_text(title)
    expect(page.locator(button)).to_be_visible()
    expect(page.locator("#btn-forget-here")).to_be_visible()
    shot(page, f"02-error-{code or kind}")
    if code == 4001:
        page.set_viewport_size(LANDSCAPE)
        expect(page.locator(button)).to_be_visible()
        shot(page, "02-error-4001-landscape")
    close(ctx)


def test_an_old_link_does_not_replace_a_working_pairing(server: ServerProcess, browser: Browser) -> None:
    """A revoked or expired code from an old link is refused and the phone keeps (and uses) the code it has; a new
    code that connects replaces it."""
    ctx = phone(browser, fake=True)
    try:
        ctx.add_init_script("window.__fake.refuseTokens = ['old-token'];")
        page = open_fake_session(ctx, server)
        tokens = "Object.values(JSON.parse(localStorage.getItem('contop.pairings.v1'))).map(p => p.t)"

        page.goto(f"{server.base_url}/#{fragment({**FAKE_PAYLOAD, 't': 'old-token'})}")
        expect(page.locator("#toast")).to_contain_text("That link is old")
        page.wait_for_function(
            "window.contop.state.conn.status === 'connected' && window.__fake.opts.pairing.t === 'fake-token'"
        )
        assert page.evaluate(tokens) == ["fake-token"]
        shot(page, "03c-old-link-kept-pairing")

        page.goto(f"{server.base_url}/?reopened")  # reopening the app uses the working code, not the old one
        page.wait_for_function("window.contop.state.conn.status === 'connected'")
        assert page.evaluate("window.__fake.all.map(o => o.pairing.t)") == ["fake-token"]

        # Paired again (the desktop revoked the old code): the new code replaces the old one once connected.
        page.evaluate(
            "h => { window.__fake.refuseTokens.push('fake-token'); location.hash = h; }",
            fragment({**FAKE_PAYLOAD, "t": "new-token"}),
        )
        page.wait_for_function(
            "window.contop.state.conn.status === 'connected' && window.__fake.opts.pairing.t === 'new-token'"
        )
        assert page.evaluate(tokens) == ["new-token"]
    finally:
        close(ctx)


def test_a_revoked_desktop_waits_for_a_new_code(server: ServerProcess, browser: Browser) -> None:
    """Revoked on the desktop (4001), the phone's desktop is listed as needing a new code, without a Connect that can
    only fail again, and is not retried when the app is reopened; a new code for it that connects clears that."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        marks = "Object.values(JSON.parse(localStorage.getItem('contop.pairings.v1'))).map(p => [p.t, !!p.refused])"
        item = page.locator("#paired-list li")

        page.evaluate("window.__fake.serverClose(4001)")
        expect(page.locator("#connect-error-title")).to_have_text("This pairing code no longer works")
        page.locator("#btn-rescan").tap()
        expect(page.locator("#screen-welcome")).to_be_visible()
        expect(item.locator(".desk-note")).to_have_text("Code no longer valid: scan a new code from the desktop.")
        expect(item.locator("button:has-text('Connect')")).to_have_count(0)
        expect(item.locator("button[aria-label^='Forget']")).to_be_visible()
        assert page.evaluate(marks) == [["fake-token", True]]
        shot(page, "03d-welcome-code-refused")

        page.goto(f"{server.base_url}/?reopened")  # reopening the app does not retry the refused code
        expect(page.locator("#screen-welcome")).to_be_visible()
        expect(item.locator(".desk-note")).to_be_visible()
        page.wait_for_timeout(300)
        assert page.evaluate("window.__fake.connects") == 0

        # A new code for that desktop connects: the mark is gone and Connect is back.
        page.evaluate("h => { location.hash = h; }", fragment({**FAKE_PAYLOAD, "t": "new-token"}))
        page.wait_for_function("window.contop.state.conn.status === 'connected'")
        assert page.evaluate(marks) == [["new-token", False]]
        page.locator("#btn-settings").tap()
        page.locator("#btn-disconnect").tap()
        expect(item.locator(".desk-note")).to_have_count(0)
        expect(item.locator("button:has-text('Connect')")).to_be_visible()
    finally:
        close(ctx)


def test_connecting_then_forget(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = ctx.new_page()
    page.add_init_script("window.__fake.hang = true;")
    page.goto(f"{server.base_url}/#{fragment(FAKE_PAYLOAD)}")
    expect(page.locator("#connect-step")).to_have_text("Reaching 192.168.1.20:8000…")
    expect(page.locator("#connect-desktop")).to_have_text("192.168.1.20")
    shot(page, "03-connecting")
    page.locator("#btn-cancel-connect").click()
    expect(page.locator("#screen-welcome")).to_be_visible()
    expect(page.locator("#paired-list li")).to_have_count(1)
    shot(page, "03b-welcome-remembered")
    page.locator("#paired-list button[aria-label^='Forget']").click()
    expect(page.locator("#ask-modal")).to_be_visible()  # asked first: the phone would need a new code
    page.locator("#btn-ask-ok").click()
    expect(page.locator("#paired-section")).to_be_hidden()
    assert page.evaluate("JSON.parse(localStorage.getItem('contop.pairings.v1'))") == {}
    close(ctx)


def test_a_stopped_live_screen_is_covered_with_the_reason(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        placeholder = page.locator("#video-placeholder")
        expect(placeholder).to_be_hidden()
        reason = "The live screen stopped: no usable display. Trying again every few seconds."
        emit(page, "agent_status", {"status_type": "video_unavailable", "message": reason})
        expect(placeholder).to_be_visible()  # over the frozen last frame
        expect(placeholder).to_contain_text("no usable display")
        emit(page, "agent_status", {"status_type": "video_resumed", "message": "The live screen is back."})
        expect(placeholder).to_be_hidden()
    finally:
        close(ctx)


def test_the_live_screen_says_it_is_reconnecting(server: ServerProcess, browser: Browser) -> None:
    """While the phone reconnects, the dead picture is covered with the placeholder saying so (with the attempt);
    it goes once the link, and its picture, are back."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        placeholder = page.locator("#video-placeholder")
        expect(placeholder).to_be_hidden()
        page.evaluate("window.__fake.failCode = 1006; window.__fake.drop()")
        expect(placeholder).to_be_visible(timeout=5000)  # with the banner, past the silent window
        expect(placeholder).to_contain_text("Reconnecting to 192.168.1.20…")
        expect(placeholder).to_contain_text(re.compile(r"Attempt [1-5] of 5"))
        shot(page, "14b-reconnecting-placeholder")
        page.evaluate("window.__fake.failCode = null")
        page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=15_000)
        expect(placeholder).to_be_hidden()
        expect(placeholder).not_to_contain_text("Reconnecting")
    finally:
        close(ctx)


def test_disconnecting_during_a_reconnect_attempt_closes_that_attempt(server: ServerProcess, browser: Browser) -> None:
    """An attempt still negotiating when the user disconnects (or connects elsewhere) must not live on: it would
    take the device's connection over from the next one."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        page.evaluate("window.__fake.hang = true; window.__fake.drop()")
        page.wait_for_function("window.__fake.events.includes('connect:2')", timeout=10_000)  # hangs there
        page.locator("#btn-settings").tap()
        page.locator("#btn-disconnect").tap()
        page.wait_for_function("window.__fake.events.includes('close:2')", timeout=5_000)
        assert page.evaluate("window.contop.state.conn.status") == "idle"
    finally:
        close(ctx)


def test_session_thread_confirmation_and_stop(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    expect(page.locator("#thread-empty")).to_be_visible()
    expect(page.locator("#video-placeholder")).to_be_hidden()
    shot(page, "04-session-empty")

    emit(page, "state_update", {"ai_state": "idle", "keep_host_awake": True, "connection_type": "permanent"})
    page.locator("#intent-input").fill("Clean up the old build folders in ~/projects")
    page.locator("#btn-send").tap()
    intent = sent(page, "user_intent")[-1]
    assert intent["payload"] == {"text": "Clean up the old build folders in ~/projects"}
    expect(page.locator(".msg-user")).to_have_text("Clean up the old build folders in ~/projects")
    expect(page.locator("#btn-stop")).to_be_visible()
    expect(page.locator("[data-kind='working']")).to_be_visible()

    emit(page, "agent_thinking", {"text": "The user wants old build folders removed. First list them."})
    expect(page.locator(".thinking .think-label")).to_be_visible()
    emit(
        page,
        "agent_progress",
        {
            "step": 1,
            "tool": "execute_cli",
            "detail": "Running: find ~/projects -name build -type d",
            "status": "running",
            "model": "gemini-2.5-flash",
            "backend": "host",
        },
    )
    expect(page.locator(".step.running")).to_have_count(1)
    shot(page, "05a-running")
    emit(
        page,
        "tool_result",
        {
            "tool": "execute_cli",
            "status": "success",
            "stdout": "\n".join(f"/home/me/projects/app{i}/build" for i in range(1, 31)),
            "duration_ms": 412,
        },
    )
    emit(page, "agent_progress", {"step": 1, "tool": "execute_cli", "status": "completed", "duration_ms": 412})
    emit(
        page,
        "agent_status",
        {"status_type": "sandbox_fallback", "message": "Deleting runs in the bubblewrap sandbox first."},
    )
    # Told once, in the thread: a banner repeats only a connection warning (or any status in fullscreen).
    expect(page.locator("#thread [data-kind='status']")).to_contain_text("Running in the sandbox")
    expect(page.locator("[data-banner='status']")).to_have_count(0)
    shot(page, "05b-status-note")
    emit(
        page,
        "agent_progress",
        {
            "step": 2,
            "tool": "take_screenshot",
            "detail": "Looking at the file manager",
            "status": "failed",
            "model": "gemini-2.5-flash",
            "backend": "omniparser",
            "duration_ms": 96,
        },
    )
    page.locator(".step.completed .st-out summary").tap()
    expect(page.locator(".step.completed .st-out pre")).to_be_visible()
    expect(page.locator(".step.completed .st-meta")).to_contain_text("412 ms")

    req = emit(
        page,
        "agent_confirmation_request",
        {
            "tool": "execute_cli",
            "command": "rm -rf ~/projects/app*/build",
            "reason": "destructive_command",
            "voice_message": "Delete 30 build folders in your projects?",
            "timeout_s": 60,
        },
    )
    expect(page.locator("#confirm-modal")).to_be_visible()
    expect(page.locator("#confirm-command")).to_have_text("rm -rf ~/projects/app*/build")
    shot(page, "05-confirmation")
    page.locator("#btn-approve").tap()
    expect(page.locator("#confirm-modal")).to_be_hidden()
    assert sent(page, "agent_confirmation_response")[-1]["payload"] == {"approved": True, "request_id": req}
    expect(page.locator(".note.confirm .decision")).to_have_text("Approved")

    for n, chunk in enumerate(["Removed 30 build folders ", "and freed 2.4 GB."]):
        emit(page, "agent_text", {"text": chunk}, f"chunk-{n}")
        emit(page, "agent_text", {"text": chunk}, f"chunk-{n}")  # sent again after a lost link: shown once
    expect(page.locator(".msg-agent.streaming")).to_have_text("Removed 30 build folders and freed 2.4 GB.")
    emit(
        page,
        "agent_result",
        {
            "answer": "Removed 30 build folders and freed 2.4 GB.",
            "steps_taken": 3,
            "duration_ms": 8420,
            "model": "gemini-2.5-flash",
            "session_id": "srv-sess-1",
        },
    )
    expect(page.locator(".result .res-answer")).to_have_text("Removed 30 build folders and freed 2.4 GB.")
    expect(page.locator(".result .st-meta")).to_contain_text("3 steps")
    expect(page.locator("#btn-stop")).to_be_hidden()
    shot(page, "06-session-thread")

    # A plan approval, denied.
    page.locator("#intent-input").fill("Set up a new Python project")
    page.locator("#btn-send").tap()
    plan = emit(
        page,
        "agent_confirmation_request",
        {
            "tool": "plan",
            "command": "1. Create ~/projects/new-app\n2. python -m venv .venv\n3. git init",
            "reason": "plan_approval",
            "voice_message": "Here's my plan. Shall I go ahead?",
        },
    )
    expect(page.locator("#confirm-title")).to_have_text("Approve the plan?")
    shot(page, "07-plan-approval")
    page.locator("#btn-deny").tap()
    assert sent(page, "agent_confirmation_response")[-1]["payload"] == {"approved": False, "request_id": plan}

    # Stop during a run.
    emit(
        page,
        "agent_progress",
        {"step": 1, "tool": "execute_cli", "detail": "Running: mkdir -p ~/projects/new-app", "status": "running"},
    )
    page.locator("#btn-stop").tap()
    assert len(sent(page, "execution_stop")) == 1
    emit(page, "agent_result", {"answer": "Stopped as you asked.", "steps_taken": 1, "duration_ms": 900})
    expect(page.locator("[data-status='stopped']")).to_have_count(1)

    # Errors, a security alert, and junk from the server.
    page.locator("#intent-input").fill("And another thing")
    page.locator("#btn-send").tap()
    emit(
        page,
        "error",
        {"code": "busy", "message": "an agent run is in progress", "ref_id": sent(page, "user_intent")[-1]["id"]},
    )
    expect(page.locator(".note.error").last).to_have_text(
        "A task is already running. Wait for it to finish or stop it first."
    )
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text))
    page.evaluate("window.__fake.raw('{not json')")
    page.evaluate("window.__fake.raw(JSON.stringify({type:'agent_text', id:'x', payload:{text: 42}}))")
    emit(
        page,
        "security_alert",
        {"reason": "overlay_killed", "message": "Away Mode's lock screen was closed on the desktop."},
    )
    expect(page.locator("[data-banner='security']")).to_be_visible()
    assert sum("ignoring malformed" in w for w in warnings) == 2
    shot(page, "08-security-alert")
    page.locator("[data-banner='security'] button").tap()
    expect(page.locator("[data-banner='security']")).to_have_count(0)
    close(ctx)


def test_an_answer_card_says_how_the_run_ended(server: ServerProcess, browser: Browser) -> None:
    """Only a completed run reads "Done" in green: a run with no model configured (or one that failed) says so."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        card = page.locator(".result").last
        green = "rgba(92, 207, 152"

        page.locator("#intent-input").fill("list my files")
        page.locator("#btn-send").tap()
        answer = "No model is configured on the desktop. Choose one in its settings."
        emit(page, "agent_result", {"answer": answer, "status": "no_model", "steps_taken": 0, "duration_ms": 0})
        expect(card.locator(".res-head")).to_have_text("No model configured")
        expect(card.locator(".res-answer")).to_have_text(answer)
        expect(card.locator(".st-meta")).to_have_count(0)  # no "0 ms"
        assert green not in card.evaluate("el => getComputedStyle(el).borderTopColor")
        shot(page, "06c-answer-no-model")

        page.locator("#intent-input").fill("open the browser")
        page.locator("#btn-send").tap()
        emit(
            page,
            "agent_result",
            {"answer": "The browser crashed.", "status": "failed", "steps_taken": 2, "duration_ms": 900},
        )
        expect(card.locator(".res-head")).to_have_text("Failed")
        assert green not in card.evaluate("el => getComputedStyle(el).borderTopColor")

        page.locator("#intent-input").fill("open the browser again")
        page.locator("#btn-send").tap()
        emit(page, "agent_result", {"answer": "Opened.", "status": "completed", "steps_taken": 1, "duration_ms": 1200})
        expect(card.locator(".res-head")).to_have_text("Done")
        expect(card.locator(".st-meta")).to_have_text("1 step1.2 s")
        assert green in card.evaluate("el => getComputedStyle(el).borderTopColor")
    finally:
        close(ctx)


def _run_one_step(page: Page, command: str, result: dict[str, Any], outcome: str = "completed") -> Any:
    """A run with one execute_cli step that ends with `result` (a tool_result payload); its card, output open."""
    page.locator("#intent-input").fill(f"run {command}")
    page.locator("#btn-send").tap()
    step = {"step": 1, "tool": "execute_cli", "detail": f"Running: {command}", "status": "running"}
    emit(page, "agent_progress", step)
    emit(page, "tool_result", {"tool": "execute_cli", "step": 1, **result})
    emit(page, "agent_progress", {**step, "detail": result.get("message", ""), "status": outcome})
    # The run ends (the phone sends one request at a time, so the next one waits for this answer).
    emit(page, "agent_result", {"answer": "Finished.", "status": "completed", "steps_taken": 1})
    card = page.locator("#thread .step").last
    card.locator(".st-out summary").tap()
    return card


def test_a_failing_command_shows_its_stderr_and_exit_code(server: ServerProcess, browser: Browser) -> None:
    """stderr is part of what a command said: a failing `ls` read "(no output)", and `echo out; echo err >&2;
    exit 3` showed only "out"."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        missing = "ls: cannot access '/nonexistent': No such file or directory\n"
        card = _run_one_step(
            page,
            "ls /nonexistent",
            {"status": "error", "stdout": "", "stderr": missing, "exit_code": 2, "result": {"truncated": False}},
            "failed",
        )
        expect(card.locator("pre.stderr")).to_have_text(missing)
        expect(card.locator(".st-out")).not_to_contain_text("(no output)")
        expect(card.locator(".out-status")).to_contain_text("exit code 2")

        card = _run_one_step(
            page,
            "echo out; echo err >&2; exit 3",
            {"status": "error", "stdout": "out\n", "stderr": "err\n", "exit_code": 3},
            "failed",
        )
        expect(card.locator(".st-out pre").first).to_have_text("out\n")
        expect(card.locator(".out-label")).to_have_text("stderr")
        expect(card.locator("pre.stderr")).to_have_text("err\n")
        expect(card.locator(".out-status")).to_contain_text("exit code 3")
        shot(page, "06d-stderr")
    finally:
        close(ctx)


def test_output_cut_by_the_desktop_says_so(server: ServerProcess, browser: Browser) -> None:
    """execute_cli keeps the first 50 KB of output: the card says the rest was dropped instead of passing a partial
    output off as all of it."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        note = "stdout truncated: kept the first 51200 bytes, dropped 187742 bytes."
        rows = "".join(f"row {i}\n" for i in range(1, 7000))
        result = {"truncated": True, "note": note, "timed_out": False}
        card = _run_one_step(
            page, "seq 1 30000", {"status": "success", "stdout": rows, "exit_code": 0, "result": result}
        )
        expect(card.locator(".out-note")).to_have_text(f"Output cut: {note}")
        box, last = card.locator(".out-note").bounding_box(), card.locator(".st-out pre").last.bounding_box()
        assert box and last and box["y"] >= last["y"] + last["height"], "the note comes after the output"

        result = {"truncated": False, "note": ""}
        card = _run_one_step(page, "echo hi", {"status": "success", "stdout": "hi\n", "exit_code": 0, "result": result})
        expect(card.locator(".out-note")).to_have_count(0)
        shot(page, "06e-output-cut")
    finally:
        close(ctx)


def test_a_run_that_ends_leaves_nothing_running_or_waiting(server: ServerProcess, browser: Browser) -> None:
    """Stopped (agent_result cancelled) with a step running, or ended while an approval waited: the step reads
    stopped, not "Running: …", and the approval card no longer says "Waiting for you"."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        page.locator("#intent-input").fill("sleep for 30 seconds")
        page.locator("#btn-send").tap()
        emit(
            page,
            "agent_progress",
            {"step": 1, "tool": "execute_cli", "detail": "Running: sleep 30", "status": "running"},
        )
        page.locator("#btn-stop").tap()
        emit(page, "agent_result", {"answer": "Stopped at your request.", "status": "cancelled", "steps_taken": 1})
        card = page.locator("#thread .step").last
        expect(card).to_have_attribute("data-status", "stopped")
        expect(card.locator(".mini-spin")).to_have_count(0)
        expect(card).not_to_contain_text("Running")
        expect(card.locator(".st-detail")).to_have_text("sleep 30")
        expect(card.locator(".st-said")).to_have_text("Stopped before it finished.")
        shot(page, "06f-stopped-step")

        page.locator("#intent-input").fill("delete the folder")
        page.locator("#btn-send").tap()
        emit(
            page, "agent_confirmation_request", {"tool": "execute_cli", "command": "rm -r ~/x", "reason": "destructive"}
        )
        expect(page.locator("#confirm-modal")).to_be_visible()
        emit(page, "agent_result", {"answer": "finished", "status": "completed", "steps_taken": 1})
        expect(page.locator("#confirm-modal")).to_be_hidden()
        expect(page.locator(".note.confirm .decision").last).to_have_text("Not answered")
        shot(page, "06g-unanswered-approval")
    finally:
        close(ctx)


def test_a_reload_mid_run_reopens_the_thread(server: ServerProcess, browser: Browser) -> None:
    """Reloading the page in the middle of a run shows the same thread again (the request and the steps so far)
    and what the desktop sends next; it used to start an empty session, the run only findable in History. A
    deliberate New session still starts empty after a reload."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        page.locator("#intent-input").fill("three steps")
        page.locator("#btn-send").tap()
        step = {"step": 1, "tool": "execute_cli", "detail": "Running: echo one", "status": "running"}
        emit(page, "agent_progress", step)
        emit(page, "tool_result", {"tool": "execute_cli", "step": 1, "status": "success", "stdout": "one\n"})
        emit(page, "agent_progress", {**step, "detail": "one", "status": "completed"})
        emit(
            page,
            "agent_progress",
            {"step": 2, "tool": "execute_cli", "detail": "Running: sleep 8", "status": "running"},
        )

        page.reload()
        expect(page.locator("#screen-session")).to_be_visible()
        expect(page.locator(".msg-user")).to_have_text("three steps")
        expect(page.locator("#thread .step")).to_have_count(2)
        expect(page.locator("#thread .step").first).to_have_attribute("data-status", "completed")
        expect(page.locator("#thread-empty")).to_be_hidden()
        emit(page, "agent_progress", {"step": 2, "tool": "execute_cli", "detail": "", "status": "completed"})
        emit(page, "agent_result", {"answer": "All three steps finished.", "status": "completed", "steps_taken": 3})
        expect(page.locator(".result .res-answer")).to_have_text("All three steps finished.")
        expect(page.locator("#thread .step")).to_have_count(2)
        expect(page.locator("#thread .step").last).to_have_attribute("data-status", "completed")
        expect(page.locator("#btn-stop")).to_be_hidden()
        shot(page, "06h-reloaded-thread")

        page.locator("#chip-new").tap()
        expect(page.locator("#thread-empty")).to_be_visible()
        page.reload()
        expect(page.locator("#screen-session")).to_be_visible()
        expect(page.locator("#thread-empty")).to_be_visible()
        expect(page.locator(".msg-user")).to_have_count(0)
    finally:
        close(ctx)


def test_a_finished_step_still_says_what_ran(server: ServerProcess, browser: Browser) -> None:
    """The completion detail ("Command completed successfully.") used to replace "Running: ls /tmp/x": a
    finished card no longer said which command ran. Both show, the command first."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        ok = {"status": "success", "stdout": "a\n", "exit_code": 0, "message": "Command completed successfully."}
        card = _run_one_step(page, "ls /tmp/x", ok)
        expect(card.locator(".st-detail")).to_have_text("ls /tmp/x")
        expect(card.locator(".st-said")).to_have_text("Command completed successfully.")

        bad = {"status": "error", "stderr": "no", "exit_code": 2, "message": "The command failed with exit code 2."}
        card = _run_one_step(page, "ls /nonexistent", bad, "failed")
        expect(card.locator(".st-detail")).to_have_text("ls /nonexistent")
        expect(card.locator(".st-said")).to_have_text("The command failed with exit code 2.")
        shot(page, "06i-step-what-ran")
    finally:
        close(ctx)


def test_an_output_is_counted_by_its_lines(server: ServerProcess, browser: Browser) -> None:
    """Nine lines, each ending with a newline, read "9 lines" (they read "10 lines")."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        nine = "".join(f"row {i}\n" for i in range(1, 10))
        card = _run_one_step(page, "seq 9", {"status": "success", "stdout": nine, "exit_code": 0})
        expect(card.locator(".out-status")).to_have_text("success · 9 lines")
    finally:
        close(ctx)


def test_the_model_chip_says_when_the_desktop_has_no_model(server: ServerProcess, browser: Browser) -> None:
    """No model configured on the desktop: the chip says so instead of "Default model", and a tap says how to set
    one up."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        chip = page.locator("#chip-model-label")
        emit(page, "state_update", {"ai_state": "idle", "models": []})
        expect(chip).to_have_text("No model")
        page.locator("#chip-model").tap()
        expect(page.locator("#info-modal")).to_be_visible()
        expect(page.locator("#info-title")).to_have_text("No model on the desktop")
        for hint in ["settings", "API key environment variable", "Ollama"]:
            expect(page.locator("#info-message")).to_contain_text(hint)
        shot(page, "06d-no-model-chip")
        page.locator("#btn-info-ok").tap()

        emit(page, "state_update", {"ai_state": "idle", "models": [{"id": "gemini:x", "label": "Gemini"}]})
        expect(chip).to_have_text("Gemini")
        # A desktop that leaves the empty list out: its answer to a request (no_model) tells the phone.
        page.locator("#intent-input").fill("list my files")
        page.locator("#btn-send").tap()
        emit(page, "agent_result", {"answer": "No model is configured.", "status": "no_model", "steps_taken": 0})
        expect(chip).to_have_text("No model")
    finally:
        close(ctx)


def test_a_long_model_name_is_cut_before_its_test_model_note(server: ServerProcess, browser: Browser) -> None:
    """On a phone-width screen, a long scripted model name is cut with an ellipsis; "(test model)" after it stays in
    view, and the whole name is the chip's tooltip."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        title = "scripted:a-rather-long-scenario-name-for-the-demo-recording.json (test model)"
        emit(page, "state_update", {"ai_state": "idle", "models": [{"id": "scripted:x", "label": title}]})
        expect(page.locator("#chip-model-label")).to_have_text(title)
        expect(page.locator("#chip-model")).to_have_attribute("title", title)
        note, name = page.locator("#chip-model .chip-note"), page.locator("#chip-model .chip-name")
        expect(note).to_have_text(" (test model)")
        chip_box, note_box = page.locator("#chip-model").bounding_box(), note.bounding_box()
        assert chip_box is not None and note_box is not None
        assert note_box["x"] + note_box["width"] <= chip_box["x"] + chip_box["width"], "the note is cut off"
        assert name.evaluate("e => e.scrollWidth > e.clientWidth"), "the name was not the part cut"
        expect(page.locator("#chip-new")).to_be_in_viewport()
        shot(page, "06e-long-model-name")
    finally:
        close(ctx)


def test_manual_control(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#btn-manual").tap()
    assert sent(page, "set_manual_mode")[-1]["payload"] == {"enabled": True}
    expect(page.locator("#manual-panel")).to_be_visible()
    expect(page.locator("#composer")).to_be_hidden()

    # Tap the centre of the picture: the centre of the 1280x800 desktop.
    box = page.locator("#video-pane").bounding_box()
    assert box
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.touchscreen.tap(cx, cy)
    click = sent(page, "manual_control")[-1]
    assert click["payload"]["action"] == "click" and click["channel"] == "contop"
    assert abs(click["payload"]["x"] - 640) <= 2 and abs(click["payload"]["y"] - 400) <= 2
    # The top-left corner of the letterboxed picture is (0, 0); the black bar above it is not the desktop.
    pic_h = min(box["height"], box["width"] * 800 / 1280)
    top = box["y"] + (box["height"] - pic_h) / 2
    page.touchscreen.tap(box["x"] + 4, top + 4)
    corner = sent(page, "manual_control")[-1]["payload"]
    assert corner["x"] <= 16 and corner["y"] <= 16
    # Fullscreen in portrait letterboxes the picture: a tap on the black bar is not on the desktop.
    page.locator("#btn-layout").tap()
    page.locator(".layout-opt[data-layout='full']").tap()
    full = page.locator("#video-pane").bounding_box()
    assert full
    bar = (full["height"] - full["width"] * 800 / 1280) / 2
    assert bar > 40
    n = len(sent(page, "manual_control"))
    page.touchscreen.tap(full["x"] + 100, full["y"] + bar / 2)
    assert len(sent(page, "manual_control")) == n
    page.touchscreen.tap(full["x"] + full["width"] / 2, full["y"] + full["height"] / 2)
    centre = sent(page, "manual_control")[-1]["payload"]
    assert abs(centre["x"] - 640) <= 2 and abs(centre["y"] - 400) <= 2
    shot(page, "09a-manual-control-fullscreen")
    page.locator("#btn-exit-full").tap()

    # Drag moves the pointer on the fast channel.
    touch(page, "touchStart", [(cx, cy)])
    for i in range(1, 8):
        touch(page, "touchMove", [(cx + i * 12, cy + i * 4)])
        page.wait_for_timeout(20)
    touch(page, "touchEnd", [])
    moves = [m for m in sent(page, "manual_control") if m["payload"]["action"] == "mouse_move"]
    assert moves and all(m["channel"] == "contop-fast" for m in moves)
    assert moves[-1]["payload"]["x"] > 640

    # L taps click, long-press L drags; R right-clicks.
    page.locator("#btn-left").tap()
    assert sent(page, "manual_control")[-1]["payload"]["action"] == "click"
    hold(page, "#btn-left", 700)
    actions = [m["payload"]["action"] for m in sent(page, "manual_control")[-2:]]
    assert actions == ["mouse_down", "mouse_up"]
    assert sent(page, "manual_control")[-1]["channel"] == "contop-fast"
    page.locator("#btn-right").tap()
    assert sent(page, "manual_control")[-1]["payload"]["action"] == "right_click"

    # Holding scroll repeats.
    before = len(sent(page, "manual_control"))
    hold(page, "#btn-scroll-down", 600)
    scrolls = sent(page, "manual_control")[before:]
    assert len(scrolls) >= 3 and all(s["payload"]["action"] == "scroll" and s["payload"]["dy"] > 0 for s in scrolls)

    # Keyboard grid and typing.
    page.locator("#btn-keys").tap()
    expect(page.locator("#key-grid")).to_be_visible()
    shot(page, "09-manual-control-keys")
    page.locator("#key-grid [data-keys='ctrl+c']").tap()
    assert sent(page, "manual_control")[-1]["payload"] == {"action": "key", "keys": "ctrl+c"}
    page.locator("#type-input").fill("hello desktop")
    page.locator("#type-form button").tap()
    assert sent(page, "manual_control")[-1]["payload"] == {"action": "type", "text": "hello desktop"}
    page.locator("#btn-keys").tap()

    # Pinch zooms the video (not the desktop).
    touch(page, "touchStart", [(cx - 30, cy), (cx + 30, cy)])
    for i in range(1, 6):
        touch(page, "touchMove", [(cx - 30 - i * 15, cy), (cx + 30 + i * 15, cy)])
    touch(page, "touchEnd", [])
    expect(page.locator("#zoom-badge")).to_be_visible()
    shot(page, "10-manual-control-zoomed")
    page.locator("#btn-manual-done").tap()
    assert sent(page, "set_manual_mode")[-1]["payload"] == {"enabled": False}

    # Manual mode is the user's choice: it stays on across a reconnect and is switched on again on the desktop.
    page.locator("#btn-manual").tap()
    n = len(sent(page, "set_manual_mode"))
    drop_and_reconnect(page)
    expect(page.locator("#manual-panel")).to_be_visible()
    page.wait_for_function(f"window.__fake.ofType('set_manual_mode').length > {n}")
    assert sent(page, "set_manual_mode")[-1]["payload"] == {"enabled": True}
    close(ctx)


def test_manual_control_waits_while_the_agent_runs(server: ServerProcess, browser: Browser) -> None:
    """The agent drives the desktop's mouse and keyboard during a task: manual control is off and says why."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    manual = page.locator("#btn-manual")
    manual.tap()
    expect(page.locator("#manual-panel")).to_be_visible()

    # A run starts (the desktop says it executes): manual mode is switched off, here and on the desktop.
    emit(page, "state_update", {"ai_state": "executing"})
    expect(page.locator("#manual-panel")).to_be_hidden()
    expect(page.locator("#toast")).to_have_text("Manual control ended: the agent is running a task.")
    assert sent(page, "set_manual_mode")[-1]["payload"] == {"enabled": False}
    reason = "The agent is running a task. Stop it (or wait for its answer) to take control."
    expect(manual).to_have_attribute("aria-disabled", "true")
    expect(manual).to_have_attribute("title", reason)
    n = len(sent(page, "set_manual_mode"))
    manual.tap(force=True)  # aria-disabled: still tappable, to say why
    expect(page.locator("#toast")).to_have_text(reason)
    expect(page.locator("#manual-panel")).to_be_hidden()
    assert len(sent(page, "set_manual_mode")) == n and state(page)["manual"] is False

    # The run ends: manual control can be taken again.
    emit(page, "state_update", {"ai_state": "idle"})
    expect(manual).to_have_attribute("aria-disabled", "false")
    manual.tap()
    expect(page.locator("#manual-panel")).to_be_visible()

    # A task started from another phone is not announced here: the desktop's refusal switches manual mode off.
    box = page.locator("#video-pane").bounding_box()
    assert box
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("window.__fake.ofType('manual_control').length > 0")
    tap = sent(page, "manual_control")[-1]
    emit(page, "error", {"code": "not_available", "message": "the agent is running a task; stop it (Stop) to take "
                         "control", "ref_id": tap["id"], "reason": "agent_running"})  # fmt: skip
    expect(page.locator("#manual-panel")).to_be_hidden()
    expect(page.locator("#toast")).to_have_text("Manual control ended: the agent is running a task.")
    assert sent(page, "set_manual_mode")[-1]["payload"] == {"enabled": False}
    assert "manual" not in state(page)["unavailable"]  # it waits for the task; it is not broken
    close(ctx)


@pytest.mark.parametrize("viewport", [PORTRAIT, LANDSCAPE], ids=["portrait", "landscape"])
def test_nothing_covers_the_picture_in_manual_mode(
    server: ServerProcess, browser: Browser, viewport: dict[str, int]
) -> None:
    """A tap at the bottom-right corner of the picture (a Windows clock, the tray) clicks the desktop there: no
    button sits on the picture in manual mode, in any layout but fullscreen."""
    ctx = phone(browser, fake=True, viewport=viewport)
    try:
        page = open_fake_session(ctx, server)
        page.locator("#btn-manual").tap()
        expect(page.locator("#manual-panel")).to_be_visible()
        landscape = viewport == LANDSCAPE
        for layout in ["split", "video", "thread", "side"] if landscape else ["split", "video", "thread"]:
            page.locator("#btn-layout").tap()
            page.locator(f".layout-opt[data-layout='{layout}']").tap()
            expect(page.locator("#sheet-layout")).to_be_hidden()
            page.wait_for_timeout(300)
            box = page.locator("#video-wrap").bounding_box()
            assert box
            scale = min(box["width"] / 1280, box["height"] / 800)  # the picture, letterboxed in its box
            right = box["x"] + (box["width"] + 1280 * scale) / 2
            bottom = box["y"] + (box["height"] + 800 * scale) / 2
            # The very corner, and 32 px in (the tray and clock; where the round button used to sit).
            for inset in (6, 32):
                x, y = right - inset, bottom - inset
                cover = page.evaluate(
                    "([x, y]) => { const el = document.elementFromPoint(x, y);"
                    " return el.closest('button')?.id ?? (el.closest('#video-pane') ? '' : el.className) }",
                    [x, y],
                )
                assert cover == "", f"{layout}: covered by {cover!r}"
                n = len(sent(page, "manual_control"))
                page.touchscreen.tap(x, y)  # Chromium also moves a tap onto a button next to it
                assert state(page)["manual"] is True, layout
                assert len(sent(page, "manual_control")) == n + 1, layout
                click = sent(page, "manual_control")[-1]["payload"]
                want = (1280 - inset / scale, 800 - inset / scale)
                assert click["action"] == "click", layout
                assert abs(click["x"] - want[0]) <= 3 and abs(click["y"] - want[1]) <= 3, (layout, click, want)
            shot(page, f"09b-manual-corner-{'landscape' if landscape else 'portrait'}-{layout}")
        # Done leaves manual mode, and the round button is back to enter it again.
        page.locator("#btn-manual-done").tap()
        page.locator("#btn-layout").tap()
        page.locator(".layout-opt[data-layout='split']").tap()
        expect(page.locator("#btn-manual")).to_be_visible()
    finally:
        close(ctx)


def test_layouts_portrait_and_landscape(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("What's using the most CPU?")
    page.locator("#btn-send").tap()
    emit(
        page,
        "agent_progress",
        {
            "step": 1,
            "tool": "execute_cli",
            "detail": "Running: ps aux --sort=-%cpu | head",
            "status": "completed",
            "duration_ms": 88,
        },
    )
    emit(
        page,
        "agent_result",
        {"answer": "Chromium is using 43% CPU, mostly one tab playing video.", "steps_taken": 1, "duration_ms": 2100},
    )
    page.locator("#btn-layout").tap()
    expect(page.locator("#sheet-layout")).to_be_visible()
    expect(page.locator(".layout-opt")).to_have_count(4)
    shot(page, "11-layout-switcher")
    for layout in ["video", "thread", "full"]:
        if layout != "video":
            page.locator("#btn-layout").tap()
        page.locator(f".layout-opt[data-layout='{layout}']").tap()
        expect(page.locator("#screen-session")).to_have_attribute("data-layout", layout)
        shot(page, f"12-layout-portrait-{layout}")
    page.locator("#btn-exit-full").tap()
    expect(page.locator("#screen-session")).to_have_attribute("data-layout", "split")
    shot(page, "12-layout-portrait-split")

    page.set_viewport_size(LANDSCAPE)
    expect(page.locator("#screen-session")).to_have_attribute("data-layout", "side")
    shot(page, "13-layout-landscape-side")
    page.locator("#btn-layout").tap()
    page.locator(".layout-opt[data-layout='video']").tap()
    shot(page, "13-layout-landscape-video")
    page.set_viewport_size(PORTRAIT)
    expect(page.locator("#screen-session")).to_have_attribute("data-layout", "split")
    page.set_viewport_size(LANDSCAPE)
    expect(page.locator("#screen-session")).to_have_attribute("data-layout", "video")
    emit(
        page,
        "agent_confirmation_request",
        {
            "tool": "execute_cli",
            "command": "sudo apt-get install htop",
            "reason": "privileged_command",
            "voice_message": "Install htop with administrator rights?",
        },
    )
    expect(page.locator("#btn-approve")).to_be_in_viewport()
    shot(page, "13-confirmation-landscape")
    page.locator("#btn-deny").tap()
    emit(page, "state_update", {"ai_state": "idle", "keep_host_awake": False})  # the denied run ended
    page.locator("#btn-manual").tap()  # manual control is for an idle desktop: it waits while a run goes on
    shot(page, "13-manual-control-landscape")
    prefs = page.evaluate("JSON.parse(localStorage.getItem('contop.layout.v1'))")
    assert prefs["landscape"] == "video"
    close(ctx)


def test_reconnect_history_and_settings(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    emit(
        page,
        "state_update",
        {
            "ai_state": "idle",
            "keep_host_awake": False,
            "models": ["gemini-2.5-flash", {"id": "claude-sonnet-4", "label": "Claude Sonnet 4"}],
        },
    )
    page.locator("#intent-input").fill("Open the Downloads folder")
    page.locator("#btn-send").tap()
    emit(
        page,
        "agent_result",
        {
            "answer": "Opened Downloads in the file manager.",
            "steps_taken": 2,
            "duration_ms": 3100,
            "session_id": "srv-42",
        },
    )

    # A blip that heals by itself needs no new connection; a short drop is silent (no flicker) and the first
    # attempt, after 1 s, reconnects.
    page.evaluate("window.__fake.blip()")
    page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=5000)
    assert page.evaluate("window.__fake.instances") == 1
    page.evaluate("window.__fake.drop()")
    page.wait_for_function("window.contop.state.conn.status === 'reconnecting'", timeout=5000)
    page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=5000)
    assert page.evaluate("window.__fake.instances") == 2
    # The old transport (and its signaling) closes only once the new one is connected.
    assert page.evaluate("window.__fake.events") == ["connect:1", "connected:1", "connect:2", "connected:2", "close:1"]
    expect(page.locator("[data-banner='reconnecting']")).to_have_count(0)
    page.wait_for_function("document.getElementById('video').videoWidth > 0")  # the new link's picture
    expect(page.locator("#video-placeholder")).to_be_hidden()
    # A longer one: after 2 s a banner, then the next attempts succeed once the desktop is back.
    page.evaluate("window.__fake.failCode = 1006; window.__fake.drop()")
    expect(page.locator("[data-banner='reconnecting']")).to_be_visible(timeout=5000)
    expect(page.locator("#conn-label")).to_contain_text("Reconnecting")
    shot(page, "14-reconnecting")
    page.evaluate("window.__fake.failCode = null")
    page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=15_000)
    expect(page.locator("[data-banner='reconnecting']")).to_have_count(0)
    assert page.evaluate("window.__fake.instances") >= 3
    assert sent(page, "session_context")[-1]["payload"] == {"session_id": "srv-42"}

    # Settings: model list from the desktop, keep awake, Away Mode, device name.
    page.locator("#btn-settings").tap()
    expect(page.locator("#sheet-settings")).to_be_visible()
    expect(page.locator("#set-model option")).to_have_count(3)
    shot(page, "15-settings")
    page.locator("#set-model").select_option("claude-sonnet-4")
    page.locator("#set-keep-awake").tap()
    assert sent(page, "device_control")[-1]["payload"] == {"action": "keep_awake_on"}
    emit(page, "device_control_result", {"action": "keep_awake_on", "status": "success", "keep_host_awake": True})
    page.wait_for_timeout(300)  # the toast re-renders the sheet: the switch must stay on
    expect(page.locator("#set-keep-awake")).to_be_checked()
    page.locator("#set-keep-awake").tap()  # so the next tap turns it off
    assert sent(page, "device_control")[-1]["payload"] == {"action": "keep_awake_off"}
    page.locator("#btn-away").tap()
    assert len(sent(page, "away_mode_engage")) == 1
    emit(page, "away_mode_status", {"away_mode": True, "overlay_active": True})
    expect(page.locator("#set-away-sub")).to_have_text("On · the desktop is locked")
    page.locator("#set-device-name").fill("Test phone")
    page.locator("#set-device-name").press("Enter")
    page.locator("#scrim").tap(position={"x": 20, "y": 20})
    expect(page.locator("#away-badge")).to_be_visible()  # the main view says the desk is locked
    shot(page, "15b-desk-locked")
    expect(page.locator("#chip-model-label")).to_have_text("Claude Sonnet 4")
    page.locator("#chip-thinking").tap()
    page.locator("#intent-input").fill("Now sort them by date")
    page.locator("#btn-send").tap()
    assert sent(page, "user_intent")[-1]["payload"] == {
        "text": "Now sort them by date",
        "model": "claude-sonnet-4",
        "thinking": True,
    }
    emit(page, "agent_result", {"answer": "Sorted by date.", "steps_taken": 1, "duration_ms": 500})

    # New session, then history: search, reopen, resume on the server.
    page.locator("#chip-new").tap()
    assert len(sent(page, "new_session")) == 1
    expect(page.locator("#thread-empty")).to_be_visible()
    page.locator("#intent-input").fill("Check disk space")
    page.locator("#btn-send").tap()
    emit(
        page,
        "agent_result",
        {"answer": "You have 112 GB free on /.", "steps_taken": 1, "duration_ms": 700, "session_id": "srv-43"},
    )
    page.locator("#btn-history").tap()
    expect(page.locator("#history-list li")).to_have_count(2)
    shot(page, "16-history")
    page.locator("#history-search").fill("downloads")
    expect(page.locator("#history-list li")).to_have_count(1)
    page.locator("#history-range [data-range='today']").tap()
    expect(page.locator("#history-list li")).to_have_count(1)
    page.locator("#history-list .session-card").tap()
    expect(page.locator(".msg-user").first).to_have_text("Open the Downloads folder")
    assert sent(page, "session_context")[-1]["payload"] == {"session_id": "srv-42"}
    stored = page.evaluate("localStorage.getItem('contop.history.v1')")
    assert "base64" not in stored
    close(ctx)


def test_history_previews_plain_text_and_a_full_storage_keeps_history(server: ServerProcess, browser: Browser) -> None:
    """A History card previews the answer as plain text (its HTML as typed, never run). When the phone's storage is
    full, History keeps what it had and a notice says so."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        page.locator("#intent-input").fill("Check disk space")
        page.locator("#btn-send").tap()
        answer = (
            "## Done\nYou have **112 GB** free on `/`: see [the report](https://example.com/r)."
            " <img src=x onerror=window.__ran=1>"
        )
        emit(page, "agent_result", {"answer": answer, "status": "completed", "steps_taken": 1})
        page.wait_for_function("(localStorage.getItem('contop.history.v1') || '').includes('112 GB')")
        page.locator("#btn-history").tap()
        preview = page.locator("#history-list .sc-preview")
        expect(preview).to_have_text(
            "Done You have 112 GB free on /: see the report. <img src=x onerror=window.__ran=1>"
        )
        expect(page.locator("#history-list img")).to_have_count(0)
        assert page.evaluate("window.__ran") is None
        page.locator("#scrim").tap(position={"x": 20, "y": 20})
        stored = page.evaluate("localStorage.getItem('contop.history.v1')")

        # Something else filled the storage: the next save cannot fit, so what History holds stays as it was.
        page.evaluate(
            """() => {
                let n = 0;
                for (let size = 1 << 20; size >= 1; ) {
                    try { localStorage.setItem(`filler-${n++}`, "x".repeat(size)); } catch { size >>= 1; }
                }
            }"""
        )
        page.locator("#intent-input").fill("And on /home?")
        page.locator("#btn-send").tap()
        expect(page.locator("#toast")).to_have_text(
            "The phone's storage is full, so History has not saved the latest of this conversation (what it had is"
            " kept). Start a new session to go on saving."
        )
        emit(page, "agent_result", {"answer": "40 GB free on /home.", "status": "completed", "steps_taken": 1})
        page.wait_for_timeout(800)  # the next save, after the answer
        assert page.evaluate("localStorage.getItem('contop.history.v1')") == stored
        expect(page.locator(".res-answer").last).to_have_text("40 GB free on /home.")  # the thread is intact
        page.locator("#btn-history").tap()
        expect(page.locator("#history-list li")).to_have_count(1)
    finally:
        close(ctx)


def test_a_request_lost_in_a_drop_is_reported_after_the_reconnect(server: ServerProcess, browser: Browser) -> None:
    """An intent sent into a dead link (its channel still said open) never reaches the desktop: the new
    connection's greeting says idle, so the phone stops showing Working and says the request may not have
    arrived. Stop answered with idle (nothing was running) ends the stopping state too."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    emit(page, "state_update", {"ai_state": "idle"})
    page.locator("#intent-input").fill("Open the browser")
    page.locator("#btn-send").tap()
    expect(page.locator("[data-kind='working']")).to_be_visible()
    drop_and_reconnect(page)
    emit(page, "state_update", {"ai_state": "idle"})  # the new connection's greeting
    expect(page.locator("#btn-stop")).to_be_hidden()
    expect(page.locator("[data-kind='working']")).to_have_count(0)
    expect(page.locator(".note.error").last).to_contain_text("may not have reached the desktop")
    shot(page, "17-request-not-delivered")

    page.locator("#intent-input").fill("Open the browser")
    page.locator("#btn-send").tap()
    page.locator("#btn-stop").tap()
    assert len(sent(page, "execution_stop")) == 1
    expect(page.locator("#btn-stop")).to_be_disabled()
    emit(page, "state_update", {"ai_state": "idle"})  # the desktop's answer to the stop
    expect(page.locator("#btn-stop")).to_be_hidden()
    assert state(page)["stopping"] is False
    close(ctx)


def test_an_approval_survives_a_blip_and_can_expire(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("Delete the build folders")
    page.locator("#btn-send").tap()
    request = {
        "tool": "execute_cli",
        "command": "rm -rf ~/projects/app*/build",
        "reason": "destructive_command",
        "voice_message": "Delete 30 build folders?",
        "timeout_s": 60,
    }
    req = emit(page, "agent_confirmation_request", request)
    expect(page.locator("#confirm-modal")).to_be_visible()
    # The desktop waits 60 s: the dialog counts it down.
    countdown = re.compile(r"^Answer within (1:00|0:[45]\d), or it will not run\.$")
    expect(page.locator("#confirm-countdown")).to_have_text(countdown)
    deadline = state(page)["confirmation"]["deadline"]
    # A blip: the dialog hides while the link is down and comes back when it heals (nobody re-sends it).
    page.evaluate("window.__fake.blip()")
    expect(page.locator("#confirm-modal")).to_be_hidden()
    page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=5000)
    expect(page.locator("#confirm-modal")).to_be_visible()
    expect(page.locator("#confirm-command")).to_have_text("rm -rf ~/projects/app*/build")
    # A full reconnect: the desktop asks again with the same id; the thread keeps one entry for it.
    drop_and_reconnect(page)
    emit(page, "agent_confirmation_request", request, req)
    expect(page.locator("#confirm-modal")).to_be_visible()
    expect(page.locator(".note.confirm")).to_have_count(1)
    assert [e["id"] for e in state(page)["entries"] if e["kind"] == "confirm"] == [f"confirm-{req}"]
    assert state(page)["confirmation"]["deadline"] == deadline  # asked again, but the desktop's wait goes on
    # Not answered in time: the desktop says so; the entry shows it and the dialog closes.
    emit(
        page,
        "agent_status",
        {
            "status_type": "confirmation_expired",
            "message": "execute_cli was not approved within 60 s, so it did not run",
            "ref_id": req,
        },
    )
    expect(page.locator("#confirm-modal")).to_be_hidden()
    expect(page.locator(".note.confirm .decision")).to_have_text("Expired — not approved")
    shot(page, "18-approval-expired")
    page.evaluate("document.getElementById('btn-approve').click()")  # a late tap
    expect(page.locator(".note.confirm .decision")).to_have_text("Expired — not approved")
    assert sent(page, "agent_confirmation_response") == []
    # The countdown reaching zero says so before the desktop's word arrives.
    short = emit(page, "agent_confirmation_request", {**request, "timeout_s": 1})
    expect(page.locator("#confirm-countdown")).to_have_text("Time is up: it will not run.")
    expect(page.locator("#confirm-countdown")).to_have_class("muted small urgent")
    emit(page, "agent_status", {"status_type": "confirmation_expired", "message": "not approved", "ref_id": short})
    # A blocked call the user may still run without the sandbox: its code is not shown as words.
    forced = {**request, "reason": "blocked_force_host", "voice_message": "This was blocked (x). Approving runs it."}
    emit(page, "agent_confirmation_request", forced)
    expect(page.locator("#confirm-reason")).to_have_text("would run without the sandbox")
    close(ctx)


def test_connected_somewhere_else_stops_reconnecting(server: ServerProcess, browser: Browser) -> None:
    """The desktop closes this tab's signaling with 4002 (another tab of this phone connected) and then its peer:
    no reconnect until the user taps to connect here again. 4001 (revoked) ends it the same way."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.evaluate("window.__fake.serverClose(4002)")
    expect(page.locator("#connect-error-title")).to_have_text("Connected somewhere else")
    expect(page.locator("#btn-retry")).to_be_visible()
    page.wait_for_timeout(2500)  # past the first reconnect attempt
    assert page.evaluate("window.__fake.instances") == 1
    assert state(page)["conn"]["status"] == "failed"
    shot(page, "19-connected-somewhere-else")
    page.locator("#btn-retry").tap()
    expect(page.locator("#screen-session")).to_be_visible()
    assert page.evaluate("window.__fake.instances") == 2
    page.evaluate("window.__fake.serverClose(4001)")
    expect(page.locator("#connect-error-title")).to_have_text("This pairing code no longer works")
    expect(page.locator("#btn-rescan")).to_be_visible()
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__fake.instances") == 2
    close(ctx)


def test_a_reconnect_opens_the_new_link_before_closing_the_old(server: ServerProcess, browser: Browser) -> None:
    """The new transport connects before the old one closes (so the desktop can hand the run over); the old one's
    late callbacks (its 4002, its peer's drop, a message) are ignored. The new answer has no video: the old frozen
    frame is dropped and the placeholder shows."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("Sort the photos")
    page.locator("#btn-send").tap()
    emit(page, "agent_progress", {"step": 1, "tool": "execute_cli", "status": "running"})
    expect(page.locator("#video-placeholder")).to_be_hidden()
    page.evaluate("window.__fake.noVideo = true")
    drop_and_reconnect(page)
    assert page.evaluate("window.__fake.events") == ["connect:1", "connected:1", "connect:2", "connected:2", "close:1"]
    replaced = {"kind": "replaced", "title": "Connected somewhere else", "message": "", "action": "retry", "code": 4002}
    page.evaluate("info => window.__fake.all[0].onFatal?.(info)", replaced)
    page.evaluate("window.__fake.all[0].onDrop()")
    late = {"type": "agent_result", "id": "late", "payload": {"answer": "stale"}}
    page.evaluate("msg => window.__fake.all[0].onMessage(JSON.stringify(msg))", late)
    page.wait_for_timeout(1500)  # past a first reconnect attempt
    assert state(page)["conn"]["status"] == "connected"
    assert page.evaluate("window.__fake.instances") == 2
    expect(page.locator("#screen-session")).to_be_visible()
    expect(page.locator(".result")).to_have_count(0)
    assert state(page)["running"] is True
    assert page.evaluate("!!document.getElementById('video').srcObject") is False
    expect(page.locator("#video-placeholder")).to_be_visible()
    close(ctx)


def test_an_away_mode_refusal_explains_itself_and_can_be_tried_again(server: ServerProcess, browser: Browser) -> None:
    """Refused for lack of a PIN, Engage stays available: once a PIN is set on the desktop, the next tap engages."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#btn-settings").tap()
    page.locator("#btn-away").tap()
    engage = sent(page, "away_mode_engage")[-1]
    emit(
        page,
        "error",
        {"code": "not_available", "message": "set an Away Mode PIN on the desktop first", "ref_id": engage["id"]},
    )
    expect(page.locator("#toast")).to_have_text("Set an Away Mode PIN on the desktop first.")
    expect(page.locator("#set-away-sub")).to_have_text("Set an Away Mode PIN on the desktop first.")
    expect(page.locator("#btn-away")).to_be_enabled()
    emit(page, "away_mode_status", {"away_mode": False, "overlay_active": False})  # the status asked after a tap
    expect(page.locator("#set-away-sub")).to_have_text("Set an Away Mode PIN on the desktop first.")
    expect(page.locator("#away-badge")).to_be_hidden()
    shot(page, "12b-away-refused")

    # The PIN is set on the desktop meanwhile: the next tap is sent, and engages.
    page.locator("#btn-away").tap()
    assert len(sent(page, "away_mode_engage")) == 2
    emit(page, "away_mode_status", {"away_mode": True, "overlay_active": True})
    expect(page.locator("#set-away-sub")).to_have_text("On · the desktop is locked")
    expect(page.locator("#btn-away")).to_have_text("Disengage")
    drop_and_reconnect(page)
    expect(page.locator("#btn-away")).to_be_enabled()
    close(ctx)


def _give_up(page: Page) -> None:
    """Drop the fake link with the desktop unreachable and run the clock through the 5 attempts (1+2+3+5+8 s)."""
    page.evaluate("window.__fake.failCode = 1006; window.__fake.drop()")
    for _ in range(40):
        if page.evaluate("window.contop.state.conn.status") == "failed":
            break
        page.clock.run_for(1000)
        page.wait_for_timeout(30)  # a failed attempt resolves outside the fake clock (a module import)
    expect(page.locator("#connect-error-title")).to_have_text("Lost the connection")


def _connects(page: Page) -> int:
    return int(page.evaluate("window.__fake.connects"))


def test_after_giving_up_the_phone_tries_again_by_itself(server: ServerProcess, browser: Browser) -> None:
    """The desktop came back: the give-up screen retries every 30 s, and at once on coming back to the app or when
    the network returns."""
    ctx = phone(browser, fake=True)
    try:
        page = ctx.new_page()
        page.clock.install()
        page.goto(f"{server.base_url}/#{fragment(FAKE_PAYLOAD)}")
        expect(page.locator("#screen-session")).to_be_visible()
        _give_up(page)
        shot(page, "07b-gave-up")
        # Still away: each slow retry fails and the screen stays.
        n = _connects(page)
        page.clock.run_for(30_500)
        page.wait_for_function(f"window.__fake.connects > {n} && window.contop.state.conn.status === 'failed'")
        # The desktop is back: the next slow retry connects without a tap.
        page.evaluate("window.__fake.failCode = null")
        page.clock.run_for(30_500)
        page.wait_for_function("window.contop.state.conn.status === 'connected'")
        expect(page.locator("#screen-session")).to_be_visible()

        for event in ["visibilitychange", "focus", "pageshow", "online"]:
            _give_up(page)
            page.evaluate("window.__fake.failCode = null")
            target = "document" if event == "visibilitychange" else "window"
            page.evaluate(f"{target}.dispatchEvent(new Event('{event}'))")
            page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=3_000)
    finally:
        close(ctx)


def test_no_retry_by_itself_after_a_refusal_or_when_the_user_left(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    try:
        page = ctx.new_page()
        page.clock.install()
        page.goto(f"{server.base_url}/#{fragment(FAKE_PAYLOAD)}")
        expect(page.locator("#screen-session")).to_be_visible()

        def nothing_happens() -> None:
            n = _connects(page)
            for target, event in [("document", "visibilitychange"), ("window", "focus"), ("window", "online")]:
                page.evaluate(f"{target}.dispatchEvent(new Event('{event}'))")
            page.clock.run_for(65_000)
            page.wait_for_timeout(200)
            assert _connects(page) == n

        # Another tab took the connection over (4002): it stays closed until the user taps Try again.
        page.evaluate("window.__fake.serverClose(4002)")
        expect(page.locator("#connect-error-title")).to_have_text("Connected somewhere else")
        nothing_happens()
        page.locator("#btn-retry").tap()
        page.wait_for_function("window.contop.state.conn.status === 'connected'")

        # The pairing was revoked while reconnecting (4001).
        page.evaluate("window.__fake.failCode = 4001; window.__fake.drop()")
        page.clock.run_for(1500)
        expect(page.locator("#connect-error-title")).to_have_text("This pairing code no longer works")
        nothing_happens()

        # Gave up, then the user disconnected (Rescan) or forgot the desktop.
        page.evaluate("window.__fake.failCode = null")
        page.locator("#btn-rescan").tap()
        expect(page.locator("#screen-welcome")).to_be_visible()
        nothing_happens()
        page.evaluate("h => { location.hash = h; }", fragment({**FAKE_PAYLOAD, "t": "new-token"}))  # a new code
        page.wait_for_function("window.contop.state.conn.status === 'connected'")
        _give_up(page)
        page.locator("#btn-forget-here").tap()
        page.locator("#btn-ask-ok").tap()
        expect(page.locator("#screen-welcome")).to_be_visible()
        nothing_happens()
    finally:
        close(ctx)


def test_new_session_tapped_offline_is_sent_once_connected(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("Open the Downloads folder")
    page.locator("#btn-send").tap()
    emit(page, "agent_result", {"answer": "Opened.", "steps_taken": 1, "duration_ms": 300, "session_id": "srv-7"})
    page.evaluate("window.__fake.failCode = 1006; window.__fake.drop()")
    page.wait_for_function("window.contop.state.conn.status === 'reconnecting'")
    page.locator("#chip-new").tap()
    expect(page.locator("#thread-empty")).to_be_visible()
    assert sent(page, "new_session") == []
    page.evaluate("window.__fake.failCode = null")
    page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=15_000)
    page.wait_for_function("window.__fake.ofType('new_session').length === 1")
    assert sent(page, "session_context") == []  # the old conversation is not resumed
    close(ctx)


# ------------------------------------------------------------------------------------------------ end to end

# Two runs' worth: the model may keep its place between runs or start over; both play out below.
E2E_SCRIPT = [
    {"thinking": "List the folder first, then clean it up."},
    {"tool": "execute_cli", "args": {"command": "echo hello-from-contop"}},
    {"tool": "execute_cli", "args": {"command": "rm -r /tmp/contop-web-e2e-dir"}},
    {"text": "Cleaned up the folder."},
    {"tool": "execute_cli", "args": {"command": "rm -r /tmp/contop-web-e2e-dir"}},
    {"tool": "execute_cli", "args": {"command": "sleep 6"}},
    {"text": "Second run finished."},
]


def _wait_reply(page: Page, srv: ServerProcess, timeout: float = 30_000) -> None:
    """Wait for the run to end and require its answer card; a failure says what the server logged."""
    page.wait_for_function("!window.contop.state.running", timeout=timeout)
    if page.locator(".result:not(.restored)").count() == 0:
        notes = page.locator(".note.error").all_inner_texts()
        pytest.fail(f"the run ended without agent_result (notes: {notes}); server log:\n{srv.log()[-3000:]}")


@contextmanager
def _scripted_phone(
    tmp_path: Path, browser: Browser, steps: list[dict[str, Any]]
) -> Iterator[tuple[ServerProcess, Page]]:
    """A real server replaying ``steps`` (the scripted model) and a real phone page paired and connected to it."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(steps))
    srv = ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{script}"})
    ctx = None
    try:
        srv.start()
        pairing = srv.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
        ctx = phone(browser, fake=False)
        page = ctx.new_page()
        page.goto(f"{srv.base_url}/#{pairing['url'].split('#', 1)[1]}")
        page.wait_for_function(SETTLED, timeout=30_000)
        yield srv, page
    finally:
        if ctx:
            close(ctx)
        srv.stop()


def test_a_task_is_stopped_from_its_approval_without_answering_it(tmp_path: Path, browser: Browser) -> None:
    """Real server, scripted model: the approval covers the Stop button, so it offers Stop itself. Tapped, the
    desktop stops the task, the command asked about never runs, and the approval closes with the run."""
    victim = tmp_path / "victim"
    victim.mkdir()
    steps = [{"tool": "execute_cli", "args": {"command": f"rm -r {victim}"}}, {"text": "Gone."}]
    with _scripted_phone(tmp_path, browser, steps) as (_srv, page):
        page.locator("#intent-input").fill("Remove the victim folder")
        page.locator("#btn-send").tap()
        expect(page.locator("#confirm-modal")).to_be_visible(timeout=30_000)
        stop = page.locator("#btn-confirm-stop")
        expect(stop).to_be_visible()
        shot(page, "real-04b-approval-with-stop")
        stop.tap()
        page.wait_for_function("!window.contop.state.running", timeout=20_000)
        expect(page.locator("#confirm-modal")).to_be_hidden()
        expect(page.locator("[data-status='stopped']")).to_have_count(1)
        assert victim.is_dir(), "the command asked about ran"
        assert "Gone." not in page.locator("#thread").inner_text()


def test_two_approvals_asked_at_once_are_each_answered(tmp_path: Path, browser: Browser) -> None:
    """Real server, scripted model with two calls in parallel, each needing approval: the phone shows them one
    after the other (saying another waits), and each answer reaches its own call."""
    victims = [tmp_path / "victim-a", tmp_path / "victim-b"]
    for victim in victims:
        victim.mkdir()
    calls = [{"tool": "execute_cli", "args": {"command": f"rm -r {victim}"}} for victim in victims]
    with _scripted_phone(tmp_path, browser, [{"tools": calls}, {"text": "Done."}]) as (srv, page):
        page.locator("#intent-input").fill("Remove both folders")
        page.locator("#btn-send").tap()
        expect(page.locator("#confirm-queue")).to_have_text("1 more approval waiting after this one.", timeout=30_000)
        first = page.locator("#confirm-command").inner_text()
        shot(page, "real-04c-two-approvals")
        page.locator("#btn-approve").tap()
        expect(page.locator("#confirm-command")).not_to_have_text(first)
        expect(page.locator("#confirm-queue")).to_be_hidden()
        expect(page.locator("#btn-deny")).to_be_enabled()
        page.locator("#btn-deny").tap()
        _wait_reply(page, srv)
        approved = next(v for v in victims if str(v) in first)
        denied = next(v for v in victims if v != approved)
        assert not approved.exists(), "the approved call did not run"
        assert denied.is_dir(), "the denied call ran"
        expect(page.locator(".note.confirm .decision")).to_have_text(["Approved", "Denied"])


@pytest.mark.x11
def test_end_to_end_on_a_real_desktop(tmp_path: Path, browser: Browser) -> None:
    """Real server, real X display, scripted model: pair, video, manual tap on an app, intent, steps,
    confirmation, stop, reconnect, history."""
    from contop.testing import recorder_app
    from contop.testing.xsession import start_xsession

    clicks = tmp_path / "recorder.jsonl"
    script = tmp_path / "script.json"
    script.write_text(json.dumps(E2E_SCRIPT))
    xs = start_xsession("1280x800x24", window_manager=True, dbus=False)
    srv = ServerProcess(tmp_path / "home", env={**xs.env, "CONTOP_EXECUTION_MODEL": f"scripted:{script}"})
    ctx = None
    try:
        # Something to see on the screen.
        if shutil.which("xsetroot"):
            subprocess.run(["xsetroot", "-solid", "#2d4a6e"], env=xs.child_env(None), check=False)
        if shutil.which("xterm"):
            xs.spawn("xterm", ["xterm", "-geometry", "70x18+120+120", "-bg", "#1e1f24", "-fg", "#d6dae3"])
        # An app under the centre of the screen, recording every click it receives.
        xs.spawn("recorder", [sys.executable, recorder_app.__file__, str(clicks), "--geometry", "400x300+440+250"])
        srv.start()
        pairing = srv.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()
        ctx = phone(browser, fake=False)
        page = ctx.new_page()
        page.goto(f"{srv.base_url}/#{pairing['url'].split('#', 1)[1]}")
        page.wait_for_function(SETTLED, timeout=30_000)
        assert state(page)["conn"]["status"] == "connected", state(page)["conn"]

        # Video frames of the real screen are decoded.
        page.wait_for_function("document.getElementById('video').videoWidth > 0", timeout=30_000)
        assert page.evaluate("[video.videoWidth, video.videoHeight]") == [1280, 800]
        page.wait_for_timeout(1500)
        shot(page, "real-03-video")

        # Manual tap at the centre of the picture moves the real X pointer there.
        page.locator("#btn-manual").tap()
        box = page.locator("#video-pane").bounding_box()
        assert box
        page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        # The tap is a click at native (640, 400) and the recorder app there receives it.
        deadline = time.monotonic() + 15
        pressed: list[dict[str, object]] = []
        while not pressed and time.monotonic() < deadline:
            page.wait_for_timeout(200)
            events = [json.loads(line) for line in clicks.read_text().splitlines()] if clicks.exists() else []
            pressed = [e for e in events if e.get("event") == "button" and e.get("num") == 1]
        assert pressed, "the recorder app received no click"
        x, y = int(pressed[0]["x"]), int(pressed[0]["y"])  # type: ignore[call-overload]
        assert abs(x - 640) <= 8 and abs(y - 400) <= 8, pressed[0]
        page.locator("#btn-manual-done").tap()

        # An intent runs through the agent: steps, confirmation, answer; then a second run, stopped.
        page.locator("#intent-input").fill("Clean up the e2e folder")
        page.locator("#btn-send").tap()
        page.wait_for_function(
            "document.querySelector('.step') || document.querySelector('.note.error') || "
            "!document.getElementById('confirm-modal').hidden",
            timeout=30_000,
        )
        assert page.locator(".note.error").count() == 0, page.locator(".note.error").last.inner_text()
        # The agent's run, then a second one that is denied and stopped.
        expect(page.locator("#confirm-modal")).to_be_visible(timeout=30_000)
        expect(page.locator("#confirm-command")).to_contain_text("rm -r /tmp/contop-web-e2e-dir")
        shot(page, "real-04-confirmation")
        page.locator("#btn-approve").tap()
        _wait_reply(page, srv)
        expect(page.locator(".step")).not_to_have_count(0)
        shot(page, "real-05-answer")
        page.locator("#intent-input").fill("Again")
        page.locator("#btn-send").tap()
        expect(page.locator("#confirm-modal")).to_be_visible(timeout=30_000)
        page.locator("#btn-deny").tap()
        page.wait_for_timeout(500)
        if page.locator("#btn-stop").is_visible():  # still running (the slow step): stop it
            page.locator("#btn-stop").tap()
        page.wait_for_function("!window.contop.state.running", timeout=30_000)
        expect(page.locator(".note.confirm .decision").last).to_have_text("Denied")

        # The desktop's server restarts (same port, same state): the phone notices and reconnects by itself.
        assert srv.stop() == 0
        page.wait_for_function("window.contop.state.conn.status !== 'connected'", timeout=20_000)
        srv.start()
        page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=45_000)
        page.wait_for_function("document.getElementById('video').videoWidth > 0", timeout=30_000)
        shot(page, "real-05b-reconnected-after-restart")

        # Reopening the app reconnects to the remembered desktop and lists the session.
        page.reload()
        page.wait_for_function("window.contop.state.conn.status === 'connected'", timeout=30_000)
        page.wait_for_function("document.getElementById('video').videoWidth > 0", timeout=30_000)
        page.locator("#btn-history").tap()
        expect(page.locator("#history-list li")).to_have_count(1)
        page.locator("#history-list .session-card").tap()
        expect(page.locator(".msg-user").first).to_have_text("Clean up the e2e folder")
        shot(page, "real-06-history-reopened")
    finally:
        if ctx:
            close(ctx)
        srv.stop()
        xs.close()
