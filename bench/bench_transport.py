"""Transport benchmark: a real ``contop serve`` subprocess and a real aiortc client over loopback.

Measures connect time (signaling open → both data channels open), the reliable-channel round trip of a 100-byte
envelope (``keepalive``, which the server answers) next to a plain WebSocket echo in another process measured in
the same run, and the same round trip while the client floods ``contop-fast`` with 1000 pointer messages/s.
Prints a table, then one JSON object as the last line (CONTRACTS.md §9).

    .venv/bin/python bench/bench_transport.py [--connects 20] [--messages 1000] [--flood-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
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
from contop.testing.server import ServerProcess

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


def udp_receive_buffer_errors() -> int | None:
    """The kernel's count of UDP datagrams dropped because a socket's receive buffer was full (Linux)."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return None


async def ws_rtts(port: int, count: int) -> list[float]:
    text = "x" * 100
    rtts = []
    async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
        for _ in range(count):
            started = time.perf_counter()
            await ws.send(text)
            await ws.recv()
            rtts.append((time.perf_counter() - started) * 1000)
    return rtts


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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="contop-bench-") as tmp:
        server = ServerProcess(Path(tmp) / "home").start()
        echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
        try:
            echo_port = int(echo.stdout.readline())  # type: ignore[union-attr]
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
                dc = await reliable_rtts(client, args.messages)
                ws = await ws_rtts(echo_port, args.messages)
                stats = {"sent": 0, "dropped": 0}
                drops_before = udp_receive_buffer_errors()
                flooder = asyncio.create_task(flood(client, args.flood_rate, args.flood_seconds, stats))
                under_flood: list[float] = []
                while not flooder.done():
                    under_flood.extend(await reliable_rtts(client, 10, timeout=5.0))
                await flooder
                drops_after = udp_receive_buffer_errors()
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
        "dc_rtt_ms_p50": round(percentile(dc, 50), 3),
        "dc_rtt_ms_p99": round(percentile(dc, 99), 3),
        "ws_rtt_ms_p50": round(percentile(ws, 50), 3),
        "ws_rtt_ms_p99": round(percentile(ws, 99), 3),
        "dc_over_ws_p50": round(percentile(dc, 50) / percentile(ws, 50), 2),
        "messages": args.messages,
        "flood_rate_per_s": args.flood_rate,
        "flood_seconds": args.flood_seconds,
        "flood_sent": stats["sent"],
        "flood_dropped_client": stats["dropped"],
        "flood_rtt_ms_p50": round(percentile(under_flood, 50), 3),
        "flood_rtt_ms_p99": round(percentile(under_flood, 99), 3),
        "flood_rtt_samples": len(under_flood),
        "flood_rtt_timeouts": sum(1 for r in under_flood if r >= 5000),
        "udp_rcvbuf_drops_during_flood": (
            drops_after - drops_before if drops_before is not None and drops_after is not None else None
        ),
        "targets": {"connect_ms_median": 80, "flood_rtt_ms_p99": 5},
        "nproc": os.cpu_count(),
        "loadavg": [round(load1, 2), round(load5, 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connects", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--flood-rate", type=int, default=1000)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    # fmt: off
    rows = [
        ("connect (signaling open → channels open), median", f"{result['connect_ms_median']:.1f} ms", "≤ 80 ms"),
        ("connect p90", f"{result['connect_ms_p90']:.1f} ms", ""),
        ("data channel round trip p50 / p99", f"{result['dc_rtt_ms_p50']:.2f} / {result['dc_rtt_ms_p99']:.2f} ms", ""),
        ("plain WebSocket echo p50 / p99", f"{result['ws_rtt_ms_p50']:.2f} / {result['ws_rtt_ms_p99']:.2f} ms", ""),
        ("data channel / WebSocket (p50)", f"{result['dc_over_ws_p50']:.2f}x", ""),
        (
            f"round trip under {result['flood_rate_per_s']}/s fast flood p50 / p99",
            f"{result['flood_rtt_ms_p50']:.2f} / {result['flood_rtt_ms_p99']:.2f} ms",
            "p99 ≤ 5 ms",
        ),
        ("round trips lost under flood (5 s timeout)", str(result["flood_rtt_timeouts"]), ""),
        ("UDP datagrams dropped by the kernel (full buffers)", str(result["udp_rcvbuf_drops_during_flood"]), ""),
        ("fast messages sent / dropped by client", f"{result['flood_sent']} / {result['flood_dropped_client']}", ""),
    ]
    # fmt: on
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'value':>22}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>22}  {target}")
    print(f"(nproc {result['nproc']}, load average {result['loadavg'][0]} / {result['loadavg'][1]})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
