"""Per-command cost of the bubblewrap sandbox next to a plain subprocess, measured in the same run.

Both sides use the same runner (``run_process``: new session, pipes, stall watch) and the same shell, so the
difference is what bubblewrap adds: namespaces, mounts, the drop to nobody and the rlimits.
Usage: python bench/bench_sandbox.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from contop.security.sandbox import SANDBOX_PATH, BubblewrapBackend
from contop.tools.cli import run_process

COMMANDS = {"true": "true", "echo hi": "echo hi", "tiny python": "python3 -c 'print(1)'"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def measure(runs: int) -> dict[str, dict[str, float]]:
    backend = BubblewrapBackend()
    if not backend.available():
        raise SystemExit(f"bubblewrap not usable: {backend.describe()}")
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="contop-bench-") as tmp:
        workspace = Path(tmp) / "ws"
        for label, command in COMMANDS.items():
            plain: list[float] = []
            boxed: list[float] = []
            for i in range(runs + 2):
                # Interleaved so that load changes on a shared machine hit both sides alike.
                t0 = time.perf_counter()
                result = await run_process(["/bin/bash", "-c", command], env={"PATH": SANDBOX_PATH}, timeout=30)
                t1 = time.perf_counter()
                sandboxed = await backend.run(command, timeout=30, workspace=workspace)
                t2 = time.perf_counter()
                assert result.exit_code == 0 and sandboxed["exit_code"] == 0, sandboxed
                if i >= 2:  # warm-up
                    plain.append((t1 - t0) * 1000)
                    boxed.append((t2 - t1) * 1000)
            figures[label] = {
                "plain_p50_ms": round(statistics.median(plain), 2),
                "plain_p90_ms": round(percentile(plain, 0.9), 2),
                "bwrap_p50_ms": round(statistics.median(boxed), 2),
                "bwrap_p90_ms": round(percentile(boxed, 0.9), 2),
                "overhead_p50_ms": round(statistics.median(boxed) - statistics.median(plain), 2),
                "ratio_p50": round(statistics.median(boxed) / statistics.median(plain), 2),
            }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.runs))
    print(f"bubblewrap vs plain subprocess, {args.runs} runs each (ms)")
    header = f"{'command':<14}{'plain p50':>11}{'plain p90':>11}{'bwrap p50':>11}{'bwrap p90':>11}{'+p50':>9}{'x':>7}"
    print(header)
    print("-" * len(header))
    for label, f in figures.items():
        print(
            f"{label:<14}{f['plain_p50_ms']:>11.2f}{f['plain_p90_ms']:>11.2f}{f['bwrap_p50_ms']:>11.2f}"
            f"{f['bwrap_p90_ms']:>11.2f}{f['overhead_p50_ms']:>9.2f}{f['ratio_p50']:>7.2f}"
        )
    load1, load5, load15 = os.getloadavg()
    summary = {
        "bench": "sandbox",
        "runs": args.runs,
        "commands": figures,
        "nproc": os.cpu_count(),
        "loadavg": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "python": sys.version.split()[0],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
