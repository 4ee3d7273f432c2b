"""Manual-control latency: a ``mouse_move`` from the Python client over real WebRTC (``contop-fast``) until the X
pointer is at the target, against a real ``contop serve`` on a private Xvfb.

Baseline in the same run: the same move done directly with XTest from this process, polled the same way, so the
difference is what the phone path (data channel, server dispatch, the session's action queue, thread hop) adds.
Wall time is printed next to the CPU time the server process spent per move (from /proc), which stays meaningful
on a busy machine. Usage: ``python bench/bench_manual.py [--moves 1000]``. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from Xlib import display as xdisplay

from contop.client.client import ContopClient
from contop.core.messages import FAST
from contop.platform.geometry import Rect
from contop.platform.linux.adapter import LinuxAdapter
from contop.server.manual import video_geometry
from contop.testing.server import ServerProcess
from contop.testing.xsession import start_xsession

TARGET_P50_MS = 3.0
TARGET_P99_MS = 10.0
MOVE_TIMEOUT_S = 2.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def targets(n: int, width: int, height: int) -> list[tuple[int, int]]:
    rng = random.Random(5)
    out: list[tuple[int, int]] = []
    while len(out) < n:
        p = (rng.randrange(width), rng.randrange(height))
        if not out or out[-1] != p:
            out.append(p)
    return out


async def until_at(d: Any, root: Any, target: tuple[int, int], started: float) -> float | None:
    """Poll the pointer (yielding to the loop between polls) until it is at ``target``; ms since ``started``."""
    while True:
        p = root.query_pointer()
        if (p.root_x, p.root_y) == target:
            return (time.perf_counter() - started) * 1000
        if time.perf_counter() - started > MOVE_TIMEOUT_S:
            return None
        await asyncio.sleep(0)


async def run(moves: int) -> dict[str, Any]:
    session = start_xsession("1920x1080x24")
    tmp = Path(tempfile.mkdtemp(prefix="bench-manual-"))
    env = {"DISPLAY": session.display, "DBUS_SESSION_BUS_ADDRESS": session.env["DBUS_SESSION_BUS_ADDRESS"]}
    server = ServerProcess(tmp / "home", env=env).start()
    d = xdisplay.Display(session.display)
    root = d.screen().root
    geo = video_geometry(Rect(0, 0, 1920, 1080), 1280)
    points = targets(moves, geo.shot_width, geo.shot_height)
    adapter = LinuxAdapter(session.display, session_bus="")
    try:
        # Baseline: XTest from this process, same polling.
        direct: list[float] = []
        for sx, sy in points[: max(100, moves // 4)]:
            t0 = time.perf_counter()
            adapter.move_mouse(*geo.to_native(sx, sy))
            ms = await until_at(d, root, geo.to_native(sx, sy), t0)
            if ms is not None:
                direct.append(ms)

        r = server.request(
            "POST", "/api/pair", params={"connection_type": "temp"}, headers={"Accept": "application/json"}
        )
        client = ContopClient(str(r.json()["url"]), device_id="bench-phone", video=False)
        await client.connect()
        try:
            client.send({"type": "set_manual_mode", "id": str(uuid.uuid4()), "payload": {"enabled": True}})
            for sx, sy in points[:20]:  # warm-up: desktop connection, worker task, geometry cache
                client.send(
                    {"type": "manual_control", "id": "w", "payload": {"action": "mouse_move", "x": sx, "y": sy}}, FAST
                )
                await until_at(d, root, geo.to_native(sx, sy), time.perf_counter())
            assert server.proc is not None
            cpu0 = proc_cpu_s(server.proc.pid)
            c0 = time.process_time()
            lat: list[float] = []
            missed = 0
            for sx, sy in points:
                message = {
                    "type": "manual_control",
                    "id": str(uuid.uuid4()),
                    "payload": {"action": "mouse_move", "x": sx, "y": sy},
                }
                t0 = time.perf_counter()
                client.send(message, FAST)
                ms = await until_at(d, root, geo.to_native(sx, sy), t0)
                if ms is None:
                    missed += 1
                else:
                    lat.append(ms)
            server_cpu_ms = (proc_cpu_s(server.proc.pid) - cpu0) * 1000 / moves
            client_cpu_ms = (time.process_time() - c0) * 1000 / moves
        finally:
            await client.aclose()
    finally:
        adapter.close()
        d.close()
        server.stop()
        session.close()
    return {
        "bench": "manual",
        "moves": moves,
        "missed": missed,
        "move_p50_ms": round(pct(lat, 0.5), 3),
        "move_p90_ms": round(pct(lat, 0.9), 3),
        "move_p99_ms": round(pct(lat, 0.99), 3),
        "direct_xtest_p50_ms": round(pct(direct, 0.5), 3),
        "direct_xtest_p99_ms": round(pct(direct, 0.99), 3),
        "server_cpu_ms_per_move": round(server_cpu_ms, 3),
        "client_cpu_ms_per_move": round(client_cpu_ms, 3),
        "target_p50_ms": TARGET_P50_MS,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": pct(lat, 0.5) <= TARGET_P50_MS and pct(lat, 0.99) <= TARGET_P99_MS,
        "nproc": len(os.sched_getaffinity(0)),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--moves", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(run(args.moves))
    print(f"{'path':<44}{'p50 ms':>9}{'p99 ms':>9}")
    base = "direct XTest move (baseline)"
    print(f"{base:<44}{result['direct_xtest_p50_ms']:>9.3f}{result['direct_xtest_p99_ms']:>9.3f}")
    print(f"{'phone mouse_move over WebRTC -> pointer':<44}{result['move_p50_ms']:>9.3f}{result['move_p99_ms']:>9.3f}")
    print(
        f"server CPU per move {result['server_cpu_ms_per_move']:.3f} ms, client CPU per move "
        f"{result['client_cpu_ms_per_move']:.3f} ms, missed {result['missed']}/{result['moves']}"
    )
    print(
        f"target p50 <= {TARGET_P50_MS} ms, p99 <= {TARGET_P99_MS} ms: {'met' if result['target_met'] else 'NOT met'}"
        f" (nproc {result['nproc']}, load {result['loadavg']})"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
