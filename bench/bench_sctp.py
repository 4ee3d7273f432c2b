"""Benchmark of our SCTP and DTLS transports against aiortc's own, both peers in this process over loopback.

Ours acknowledge as RFC 4960 §6.2 allows (``contop/transport/sctp.py``), send each message at once instead of
from a task, and handle each datagram as it arrives instead of through a queue (``contop/transport/dtls.py``).

Run from the repository root: ``python bench/bench_sctp.py [--rounds 1000] [--repeats 5]``. With both ends in
one process there is no waiting on another process to wake up, so the time per round trip is the CPU both
peers spend on it: the part our changes can reduce. Stock and ours take turns, ``--repeats`` times each; the
best turn of each is compared. Bulk: 80 messages of 64 KiB one way. Prints a table, then (last line) one JSON
object with the figures, ``nproc`` and the load average (CONTRACTS.md §9).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contop.testing.peers import connect, new_peer, ping_pong

BULK_MESSAGES = 80
BULK_SIZE = 64 * 1024


async def measure(stock: bool, rounds: int) -> dict[str, float]:
    offerer, answerer = new_peer(stock=stock), new_peer(stock=stock)
    try:
        client, server = await connect(offerer, answerer)
        await ping_pong(client, server, 100)  # warm-up
        before = client.sent_packets + server.sent_packets
        started = time.perf_counter()
        await ping_pong(client, server, rounds)
        elapsed = time.perf_counter() - started
        packets = client.sent_packets + server.sent_packets - before

        started = time.perf_counter()
        for _ in range(BULK_MESSAGES):
            client.send(b"x" * BULK_SIZE)
        for _ in range(BULK_MESSAGES):
            await asyncio.wait_for(server.received.get(), 60)
        bulk = time.perf_counter() - started
        return {
            "us_per_round_trip": elapsed / rounds * 1e6,
            "packets_per_round_trip": packets / rounds,
            "bulk_mb_per_s": BULK_MESSAGES * BULK_SIZE / bulk / 1e6,
        }
    finally:
        await offerer.close()
        await answerer.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    turns: dict[str, list[dict[str, float]]] = {"stock": [], "ours": []}
    for _ in range(args.repeats):
        for name in ("stock", "ours"):
            turns[name].append(await measure(name == "stock", args.rounds))
    best = {
        name: {
            "us_per_round_trip": round(min(t["us_per_round_trip"] for t in runs), 1),
            "packets_per_round_trip": round(max(t["packets_per_round_trip"] for t in runs), 2),
            "bulk_mb_per_s": round(max(t["bulk_mb_per_s"] for t in runs), 2),
        }
        for name, runs in turns.items()
    }
    load1, load5, _ = os.getloadavg()
    return {
        "bench": "sctp",
        "rounds": args.rounds,
        "repeats": args.repeats,
        "stock_aiortc": best["stock"],
        "ours": best["ours"],
        "round_trip_ratio": round(best["ours"]["us_per_round_trip"] / best["stock"]["us_per_round_trip"], 2),
        "nproc": os.cpu_count(),
        "loadavg": [round(load1, 2), round(load5, 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    stock, ours = result["stock_aiortc"], result["ours"]
    print(f"SCTP, both peers in one process, {args.rounds} round trips x {args.repeats} turns (best turn)")
    print(f"{'':<34}{'stock aiortc':>14}{'ours':>10}")
    for key, label in (
        ("us_per_round_trip", "µs per round trip (both peers)"),
        ("packets_per_round_trip", "packets per round trip"),
        ("bulk_mb_per_s", "bulk, MB/s one way"),
    ):
        print(f"{label:<34}{stock[key]:>14}{ours[key]:>10}")
    print(f"(nproc {result['nproc']}, load average {result['loadavg'][0]} / {result['loadavg'][1]})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
