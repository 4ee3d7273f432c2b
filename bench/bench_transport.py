"""Transport benchmark: a real ``contop serve`` subprocess and a real aiortc client over loopback.

Measures connect time (signaling open → both data channels open), the reliable-channel round trip of a 100-byte
envelope (``keepalive``, which the server answers) next to a plain WebSocket echo on the same server
(``/ws/echo``, mounted for the benchmark with ``CONTOP_BENCH_ECHO=1``) and next to a minimal ``websockets`` echo
in a process of its own, all measured in the same run, and the same round trip while the client floods
``contop-fast`` with 1000 pointer messages/s. For the Python client it also adds up the CPU each round trip costs
the server and the client, data channel next to the same-server WebSocket (CPU-time clocks, block by block).
The target ratio is judged against the echo on the same server, which goes through the same event loop as the
data channel; the standalone echo shows what a bare WebSocket costs on this machine.

Two clients, one after the other, against the same server: the Python aiortc client (``contop.client``), whose
own SCTP and DTLS work in Python doubles the cost of every exchange, and headless Chromium running the phone
app's own ``transport.js``, which is what a phone is. Each client's WebSocket baseline is measured from that
client. Prints a table, then one JSON object as the last line (CONTRACTS.md §9).

    .venv/bin/python bench/bench_transport.py [--connects 20] [--messages 1000] [--flood-seconds 10] [--no-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from contop.client import ClientError, ContopClient
from contop.core.messages import new_id
from contop.core.pairing_payload import parse_pairing_url
from contop.testing.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing
from contop.testing.server import ServerProcess

BLOCK = 50  # round trips per block when the data channel and the WebSocket take turns

# The phone side in Chromium: the web app's own transport module, driven by this script added to the phone app's
# page as the server serves it (so the module loads from the server, and the page has the server's origin).
BROWSER_SCRIPT = """
import { createRtcTransport } from "/js/transport.js";

const TIMEOUT_MS = 5000;
const BLOCK = __BLOCK__;
const waiters = new Map();
let transport = null;

function onMessage(raw) {
  let msg;
  try { msg = JSON.parse(raw); } catch { return; }
  const done = waiters.get(msg?.payload?.ref_id);
  if (done) { waiters.delete(msg.payload.ref_id); done(); }
}

function roundTrip(pad) {
  return new Promise((resolve) => {
    const started = performance.now();
    const timer = setTimeout(() => resolve(TIMEOUT_MS), TIMEOUT_MS);
    const id = transport.send("keepalive", { pad });
    waiters.set(id, () => { clearTimeout(timer); resolve(performance.now() - started); });
  });
}

async function roundTrips(count, pad) {
  const out = [];
  for (let i = 0; i < count; i++) out.push(await roundTrip(pad));
  return out;
}

async function openEcho(url) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  return ws;
}

async function echoTrips(ws, count) {  // one at a time: onmessage is the socket's only listener
  const text = "x".repeat(100);
  const out = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await new Promise((resolve) => { ws.onmessage = resolve; ws.send(text); });
    out.push(performance.now() - started);
  }
  return out;
}

window.runBench = async ({ pairing, echoUrl, plainEchoUrl, messages, floodRate, floodSeconds, connects }) => {
  // as for the Python client: `connects` connections, each timed from the signaling socket's open to the
  // channel's; the last one stays for the round trips
  const connectMs = [];
  const fromOfferMs = [];
  for (let i = 0; i < connects; i++) {
    let signalingOpen = null;
    transport = createRtcTransport({
      pairing, deviceId: "bench-phone", deviceName: "bench (Chromium)", origin: location.origin, onMessage,
      onStatus: (step) => { if (step.startsWith("Talking")) signalingOpen = performance.now(); },
      log: { warn() {}, info() {}, error() {} },
    });
    const started = performance.now();
    await transport.connect();
    connectMs.push(performance.now() - signalingOpen);
    fromOfferMs.push(performance.now() - started);
    if (i < connects - 1) {
      transport.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  // {"type":"keepalive","id":"<36-char uuid>","payload":{"pad":"…"}} is 100 bytes with this pad
  const pad = "x".repeat(100 - JSON.stringify({ type: "keepalive", id: "0".repeat(36), payload: { pad: "" } }).length);
  await roundTrips(50, pad);
  // in alternating blocks, as the Python client does, so that both see the machine in the same state
  const echo = await openEcho(echoUrl);
  const plainEcho = await openEcho(plainEchoUrl);
  const dc = [];
  const ws = [];
  const plainWs = [];
  while (dc.length < messages) {
    const n = Math.min(BLOCK, messages - dc.length);
    dc.push(...(await roundTrips(n, pad)));
    ws.push(...(await echoTrips(echo, n)));
    plainWs.push(...(await echoTrips(plainEcho, n)));
  }
  echo.close();
  plainEcho.close();
  let sent = 0;
  let dropped = 0;
  const burst = Math.max(1, Math.floor(floodRate / 100));
  const flooding = new Promise((resolve) => {
    const until = performance.now() + floodSeconds * 1000;
    const timer = setInterval(() => {
      if (performance.now() >= until) { clearInterval(timer); resolve(); return; }
      for (let i = 0; i < burst; i++) {
        const n = sent + dropped;
        if (transport.send("manual_control", { action: "mouse_move", x: n % 1920, y: 5 })) sent++;
        else dropped++;
      }
    }, 10);
  });
  let floodDone = false;
  flooding.then(() => { floodDone = true; });
  const underFlood = [];
  while (!floodDone) underFlood.push(...(await roundTrips(10, pad)));
  transport.close();
  return { connectMs, fromOfferMs, dc, ws, plainWs, underFlood, sent, dropped };
};
window.benchReady = true;
"""

ECHO_SERVER = """
import asyncio, sys, websockets
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, compression=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def envelope_100() -> dict[str, Any]:
    """A keepalive padded to exactly 100 bytes of JSON (unknown payload keys are allowed)."""
    message: dict[str, Any] = {"type": "keepalive", "id": new_id(), "payload": {"pad": ""}}
    message["payload"]["pad"] = "x" * (100 - len(json.dumps(message, separators=(",", ":"))))
    return message


async def reliable_rtts(client: ContopClient, count: int, timeout: float = 10.0) -> list[float]:
    """Sequential round trips in ms; a reply that never comes counts as ``timeout`` (and is reported)."""
    rtts = []
    for _ in range(count):
        message = envelope_100()
        assert len(json.dumps(message, separators=(",", ":"))) == 100
        started = time.perf_counter()
        try:
            await client.request(message, expect_type="keepalive", timeout=timeout)
        except ClientError:
            rtts.append(timeout * 1000)
            continue
        rtts.append((time.perf_counter() - started) * 1000)
    return rtts


def pointer_position(display_name: str) -> str:
    """Where the X pointer is: proof that the flood's moves reached the desktop."""
    from Xlib import display

    d = display.Display(display_name)
    try:
        p = d.screen().root.query_pointer()
        return f"x={p.root_x} y={p.root_y}"
    finally:
        d.close()


def udp_receive_buffer_errors() -> int | None:
    """The kernel's count of UDP datagrams dropped because a socket's receive buffer was full (Linux)."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return None


async def ws_rtts(ws: Any, count: int) -> list[float]:
    text = "x" * 100
    rtts = []
    for _ in range(count):
        started = time.perf_counter()
        await ws.send(text)
        await ws.recv()
        rtts.append((time.perf_counter() - started) * 1000)
    return rtts


def process_cpu_clock(pid: int) -> int | None:
    """The CPU-time clock of process ``pid`` for ``time.clock_gettime`` (Linux, glibc), or None where there is none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        clock = ctypes.c_int()
        if libc.clock_getcpuclockid(pid, ctypes.byref(clock)) != 0:
            return None
        time.clock_gettime(clock.value)
    except (OSError, AttributeError):
        return None
    return clock.value


class CpuMeter:
    """CPU seconds of this process and of the server, summed per series over the blocks that ran it."""

    def __init__(self, server_pid: int) -> None:
        self.server_clock = process_cpu_clock(server_pid)
        self.client: dict[str, float] = {}
        self.server: dict[str, float] = {}

    async def measure(self, series: str, blocks: Any) -> list[float]:
        server_before = time.clock_gettime(self.server_clock) if self.server_clock is not None else 0.0
        client_before = time.process_time()
        out: list[float] = await blocks
        self.client[series] = self.client.get(series, 0.0) + time.process_time() - client_before
        if self.server_clock is not None:
            spent = time.clock_gettime(self.server_clock) - server_before
            self.server[series] = self.server.get(series, 0.0) + spent
        return out

    def figures(self, count: int) -> dict[str, float | None]:
        """Microseconds of CPU per round trip, for the data channel and the same-server WebSocket."""
        out: dict[str, float | None] = {}
        for side, spent in (("client", self.client), ("server", self.server)):
            for series in ("dc", "ws"):
                value = spent.get(series)
                out[f"{side}_cpu_us_per_rtt_{series}"] = round(value / count * 1e6, 1) if value is not None else None
        return out


async def interleaved_rtts(
    client: ContopClient, echo_url: str, plain_echo_url: str, count: int, cpu: CpuMeter
) -> tuple[list[float], list[float], list[float]]:
    """Data-channel, same-server WebSocket and standalone WebSocket round trips in alternating blocks of ``BLOCK``:
    the load on this shared machine drifts within seconds, and measured one after the other they would see
    different machines. ``cpu`` adds up what each series costs this process and the server."""
    dc: list[float] = []
    ws: list[float] = []
    plain: list[float] = []
    async with (
        websockets.connect(echo_url, compression=None) as sock,
        websockets.connect(plain_echo_url, compression=None) as plain_sock,
    ):
        while len(dc) < count:
            n = min(BLOCK, count - len(dc))
            dc += await cpu.measure("dc", reliable_rtts(client, n))
            ws += await cpu.measure("ws", ws_rtts(sock, n))
            plain += await ws_rtts(plain_sock, n)
    return dc, ws, plain


async def flood(client: ContopClient, rate: int, seconds: float, stats: dict[str, int]) -> None:
    """``rate`` pointer moves per second on contop-fast, in 10 ms bursts (sleep granularity)."""
    burst = max(1, rate // 100)
    deadline = time.perf_counter() + seconds
    next_tick = time.perf_counter()
    n = 0
    while time.perf_counter() < deadline:
        for _ in range(burst):
            n += 1
            move = {"type": "manual_control", "id": f"f{n}", "payload": {"action": "mouse_move", "x": n % 1920, "y": 5}}
            if client.send(move, "contop-fast"):
                stats["sent"] += 1
            else:
                stats["dropped"] += 1
        next_tick += 0.01
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))


async def browser_client(
    server: ServerProcess, url: str, echo_url: str, plain_echo_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """The same measurements from headless Chromium running the phone app's transport (see ``BROWSER_SCRIPT``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        try:
            page = await browser.new_page()
            await page.goto(f"{server.base_url}/")
            await page.add_script_tag(content=BROWSER_SCRIPT.replace("__BLOCK__", str(BLOCK)), type="module")
            await page.wait_for_function("window.benchReady === true", timeout=10_000)
            drops_before = udp_receive_buffer_errors()
            result: dict[str, Any] = await page.evaluate(
                "(opts) => window.runBench(opts)",
                {
                    "pairing": parse_pairing_url(url),
                    "echoUrl": echo_url,
                    "plainEchoUrl": plain_echo_url,
                    "messages": args.messages,
                    "floodRate": args.flood_rate,
                    "floodSeconds": args.flood_seconds,
                    "connects": args.connects,
                },
            )
            drops_after = udp_receive_buffer_errors()
        finally:
            await browser.close()
    result["udp_drops"] = drops_after - drops_before if drops_before is not None and drops_after is not None else None
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from contop.testing.xsession import start_xsession

    # A real X display, so that the flood's pointer moves are applied as on a desktop (without one, the server
    # would only answer "not available").
    xsession = start_xsession("1920x1080x24")
    with xsession, tempfile.TemporaryDirectory(prefix="contop-bench-") as tmp:
        server = ServerProcess(Path(tmp) / "home", env={**xsession.child_env(), "CONTOP_BENCH_ECHO": "1"}).start()
        echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
        try:
            plain_echo_url = f"ws://127.0.0.1:{int(echo.stdout.readline())}"  # type: ignore[union-attr]
            echo_url = server.base_url.replace("http://", "ws://", 1) + "/ws/echo"
            r = httpx.post(
                f"{server.base_url}/api/pair",
                headers={**server.admin_headers(), "Accept": "application/json"},
                timeout=10,
            )
            url = r.json()["url"]

            connects = []
            for _ in range(args.connects):
                client = ContopClient(url, device_id="bench-phone", video=False)
                await client.connect()
                assert client.connect_seconds is not None
                connects.append(client.connect_seconds * 1000)
                await client.aclose()
                await asyncio.sleep(0.05)

            async with ContopClient(url, device_id="bench-phone", video=False) as client:
                await reliable_rtts(client, 50)  # warm-up
                assert server.proc is not None
                cpu = CpuMeter(server.proc.pid)
                dc, ws, plain_ws = await interleaved_rtts(client, echo_url, plain_echo_url, args.messages, cpu)
                stats = {"sent": 0, "dropped": 0}
                drops_before = udp_receive_buffer_errors()
                flooder = asyncio.create_task(flood(client, args.flood_rate, args.flood_seconds, stats))
                under_flood: list[float] = []
                while not flooder.done():
                    under_flood.extend(await reliable_rtts(client, 10, timeout=5.0))
                await flooder
                drops_after = udp_receive_buffer_errors()
                moves = pointer_position(xsession.display)
            browser = await browser_client(server, url, echo_url, plain_echo_url, args) if args.browser else None
        finally:
            echo.terminate()
            echo.wait(5)
            if echo.stdout is not None:
                echo.stdout.close()
            server.stop()

    load1, load5, _ = os.getloadavg()
    return {
        "connect_ms_median": round(statistics.median(connects), 2),
        "connect_ms_p90": round(percentile(connects, 90), 2),
        "connect_runs": len(connects),
        **exchange_figures(dc, ws, plain_ws, under_flood, stats["sent"], stats["dropped"]),
        **cpu.figures(args.messages),
        "messages": args.messages,
        "flood_rate_per_s": args.flood_rate,
        "flood_seconds": args.flood_seconds,
        "udp_rcvbuf_drops_during_flood": (
            drops_after - drops_before if drops_before is not None and drops_after is not None else None
        ),
        "pointer_after_flood": moves,
        "chromium": _browser_figures(browser) if browser is not None else None,
        "targets": {"connect_ms_median": 80, "flood_rtt_ms_p99": 5, "dc_over_ws_p50": 2, "dc_rtt_ms_p99": 2},
        "nproc": os.cpu_count(),
        "loadavg": [round(load1, 2), round(load5, 2)],
    }


def exchange_figures(
    dc: list[float], ws: list[float], plain_ws: list[float], flood_rtts: list[float], sent: int, dropped: int
) -> dict[str, Any]:
    """One client's round-trip figures (ms), under the same keys for both clients."""
    return {
        "dc_rtt_ms_p50": round(percentile(dc, 50), 3),
        "dc_rtt_ms_p90": round(percentile(dc, 90), 3),
        "dc_rtt_ms_p99": round(percentile(dc, 99), 3),
        "dc_rtt_ms_max": round(max(dc), 3),
        "ws_rtt_ms_p50": round(percentile(ws, 50), 3),
        "ws_rtt_ms_p90": round(percentile(ws, 90), 3),
        "ws_rtt_ms_p99": round(percentile(ws, 99), 3),
        "ws_rtt_ms_max": round(max(ws), 3),
        "dc_over_ws_p50": round(percentile(dc, 50) / percentile(ws, 50), 2),
        "plain_ws_rtt_ms_p50": round(percentile(plain_ws, 50), 3),
        "plain_ws_rtt_ms_p99": round(percentile(plain_ws, 99), 3),
        "dc_over_plain_ws_p50": round(percentile(dc, 50) / percentile(plain_ws, 50), 2),
        "flood_sent": sent,
        "flood_dropped_client": dropped,
        "flood_rtt_ms_p50": round(percentile(flood_rtts, 50), 3),
        "flood_rtt_ms_p99": round(percentile(flood_rtts, 99), 3),
        "flood_rtt_samples": len(flood_rtts),
        "flood_rtt_timeouts": sum(1 for r in flood_rtts if r >= 5000),
    }


def _exchange_rows(f: dict[str, Any], flood_rate: int) -> list[tuple[str, str, str]]:
    """The table rows of one client's round trips (its figures use the same keys for both clients)."""
    return [
        (
            "  data channel round trip p50 / p99",
            f"{f['dc_rtt_ms_p50']:.2f} / {f['dc_rtt_ms_p99']:.2f} ms",
            "p99 ≤ 2 ms",
        ),
        (
            "  WebSocket echo on the same server p50 / p99",
            f"{f['ws_rtt_ms_p50']:.2f} / {f['ws_rtt_ms_p99']:.2f} ms",
            "",
        ),
        ("  data channel / same-server WebSocket (p50)", f"{f['dc_over_ws_p50']:.2f}x", "≤ 2x"),
        (
            "  standalone websockets echo p50 / p99",
            f"{f['plain_ws_rtt_ms_p50']:.2f} / {f['plain_ws_rtt_ms_p99']:.2f} ms",
            "",
        ),
        ("  data channel / standalone WebSocket (p50)", f"{f['dc_over_plain_ws_p50']:.2f}x", ""),
        (
            f"  round trip under {flood_rate}/s fast flood p50 / p99",
            f"{f['flood_rtt_ms_p50']:.2f} / {f['flood_rtt_ms_p99']:.2f} ms",
            "p99 ≤ 5 ms",
        ),
        ("  round trips lost under flood (5 s timeout)", str(f["flood_rtt_timeouts"]), ""),
        ("  fast messages sent / dropped by client", f"{f['flood_sent']} / {f['flood_dropped_client']}", ""),
    ]


def _cpu_rows(f: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Where a round trip's CPU goes: this client and the server, data channel next to the WebSocket echo."""

    def pair(side: str) -> str:
        dc, ws = f[f"{side}_cpu_us_per_rtt_dc"], f[f"{side}_cpu_us_per_rtt_ws"]
        return "n/a" if dc is None or ws is None else f"{dc:.0f} / {ws:.0f} µs"

    return [
        ("  CPU per round trip, server: data channel / WebSocket", pair("server"), ""),
        ("  CPU per round trip, this client: data channel / WebSocket", pair("client"), ""),
    ]


def _browser_figures(b: dict[str, Any]) -> dict[str, Any]:
    return {
        "connect_ms_median": round(statistics.median(b["connectMs"]), 2),
        "connect_ms_p90": round(percentile(b["connectMs"], 90), 2),
        "connect_runs": len(b["connectMs"]),
        "connect_from_offer_ms_median": round(statistics.median(b["fromOfferMs"]), 2),
        **exchange_figures(b["dc"], b["ws"], b["plainWs"], b["underFlood"], b["sent"], b["dropped"]),
        "udp_rcvbuf_drops": b["udp_drops"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connects", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--flood-rate", type=int, default=1000)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--no-browser", dest="browser", action="store_false", help="skip the Chromium client")
    args = parser.parse_args()
    if args.browser and (why := chromium_missing()):
        raise SystemExit(f"{why}; or run with --no-browser")
    result = asyncio.run(run(args))
    rows = [
        ("Python aiortc client (contop.client):", "", ""),
        ("  connect (signaling open → channels open), median", f"{result['connect_ms_median']:.1f} ms", "≤ 80 ms"),
        ("  connect p90", f"{result['connect_ms_p90']:.1f} ms", ""),
        *_exchange_rows(result, result["flood_rate_per_s"]),
        *_cpu_rows(result),
        ("  UDP datagrams dropped by the kernel (full buffers)", str(result["udp_rcvbuf_drops_during_flood"]), ""),
        ("  X pointer after the flood (moves applied)", result["pointer_after_flood"], ""),
    ]
    if (c := result["chromium"]) is not None:
        rows += [
            ("Chromium (the phone app's transport.js) as the client:", "", ""),
            (
                "  connect (signaling open → reliable channel open), median",
                f"{c['connect_ms_median']:.1f} ms",
                "≤ 80 ms",
            ),
            ("  connect p90", f"{c['connect_ms_p90']:.1f} ms", ""),
            ("  connect from creating the offer, median", f"{c['connect_from_offer_ms_median']:.1f} ms", ""),
            *_exchange_rows(c, result["flood_rate_per_s"]),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>22}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>22}  {target}")
    print(f"(nproc {result['nproc']}, load average {result['loadavg'][0]} / {result['loadavg'][1]})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
