"""Benchmark of the security gate: decide() over the whole labelled corpus, next to a naive substring gate.

Run from the repository root: ``python bench/bench_decide.py [--rounds N]``. Prints a table, then (last line)
one JSON object with the figures, ``nproc`` and the load average (CONTRACTS.md §9).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contop.security
from contop.core.defaults import default_restricted_paths
from contop.security import paths
from contop.security.decision import Decision, GateContext, ToolCall
from contop.security.gate import decide
from contop.security.psparse import parse_ps
from contop.security.shellparse import parse
from tests.security.corpus_support import FILES, POSIX_HOME, call_and_context, load

TARGET_P99_US = 100.0


class SubstringGate:
    """The seed's approach: substring and word-boundary matching of the settings lists over the raw text."""

    def __init__(self, ctx: GateContext) -> None:
        self.forbidden = [p.lower() for p in ctx.forbidden_commands]
        self.restricted = [r.replace("~", ctx.home).lower() for r in ctx.restricted_paths] + [
            r.lower() for r in ctx.restricted_paths
        ]
        self.destructive = [re.compile(rf"\b{re.escape(p.lower())}\b") for p in ctx.destructive_patterns]

    def decide(self, call: ToolCall) -> Decision:
        if call.name == "execute_cli":
            text = str(call.args.get("command", "")).lower()
        else:
            text = " ".join(str(v) for v in call.args.values()).lower()
        if any(p in text for p in self.forbidden):
            return Decision.block("forbidden")
        if any(r in text for r in self.restricted):
            return Decision.block("restricted")
        if call.name == "execute_cli" and any(r.search(text) for r in self.destructive):
            return Decision.needs_confirmation("destructive")
        return Decision.safe("default")


_CORPUS_HOME = re.compile("/+".join(re.escape(part) for part in POSIX_HOME.split("/")) + r"(?![\w.-])")


def with_home_on_disk(calls: list[tuple[ToolCall, GateContext]], root: Path) -> list[tuple[ToolCall, GateContext]]:
    """The corpus with its POSIX home made real under ``root``: the made-up ``/home/u`` does not exist, so every
    path in it has a missing part to resolve, which is not the case on a user's machine."""
    home = root / "u"
    for sub in ("proj/src", ".ssh", ".contop", ".config", ".aws", ".local/share"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    state = str(home / ".contop")
    moved = []
    for call, ctx in calls:
        if ctx.home != POSIX_HOME:
            moved.append((call, ctx))
            continue
        ctx = replace(
            ctx, home=str(home), cwd=str(home / "proj"), state_dir=state,
            restricted_paths=tuple(default_restricted_paths(state)),
        )  # fmt: skip
        args = {k: _CORPUS_HOME.sub(str(home), v) if isinstance(v, str) else v for k, v in call.args.items()}
        moved.append((ToolCall(call.name, args), ctx))
    return moved


def time_fresh(calls: list[tuple[ToolCall, GateContext]], out: list[float]) -> None:
    """Time ``decide()`` on each call as on a command the gate has never seen: no parse or path cache to lean on."""
    for call, ctx in calls:
        parse.cache_clear()
        parse_ps.cache_clear()
        paths._expand.cache_clear()
        started = time.perf_counter()
        decide(call, ctx)
        out.append((time.perf_counter() - started) * 1e6)


def _best_per_entry(samples: list[float], entries: int) -> list[float]:
    """Each entry's fastest round: what the code costs, without the pauses of a busy shared machine."""
    return [min(samples[i::entries]) for i in range(entries)]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args()

    entries = [e for name in FILES for e in load(name)]
    calls = [call_and_context(e) for e in entries]
    baselines = {id(ctx): SubstringGate(ctx) for _, ctx in calls}

    for call, ctx in calls:  # imports, regex compilation, policy caches
        decide(call, ctx)

    scratch = tempfile.TemporaryDirectory(prefix="contop-bench-home-")
    real_home = with_home_on_disk(calls, Path(scratch.name))
    for call, ctx in real_home:
        decide(call, ctx)

    fresh: list[float] = []
    fresh_home: list[float] = []
    warm: list[float] = []
    base: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(args.rounds):
            time_fresh(calls, fresh)
            time_fresh(real_home, fresh_home)
            for call, ctx in calls:
                started = time.perf_counter()
                decide(call, ctx)
                warm.append((time.perf_counter() - started) * 1e6)
            for call, ctx in calls:
                gate = baselines[id(ctx)]
                started = time.perf_counter()
                gate.decide(call)
                base.append((time.perf_counter() - started) * 1e6)
    finally:
        gc.enable()

    ours_ok = sum(decide(c, x).verdict == e["expect"] for (c, x), e in zip(calls, entries, strict=True))
    home_ok = sum(decide(c, x).verdict == e["expect"] for (c, x), e in zip(real_home, entries, strict=True))
    scratch.cleanup()
    base_ok = sum(baselines[id(x)].decide(c).verdict == e["expect"] for (c, x), e in zip(calls, entries, strict=True))
    fresh_best = _best_per_entry(fresh, len(calls))
    home_best = _best_per_entry(fresh_home, len(calls))
    base_best = _best_per_entry(base, len(calls))
    figures = {
        "bench": "decide",
        "entries": len(entries),
        "rounds": args.rounds,
        "decide_fresh_p50_us": round(statistics.median(fresh), 1),
        "decide_fresh_p99_us": round(percentile(fresh, 0.99), 1),
        "decide_fresh_max_us": round(max(fresh), 1),
        "decide_fresh_best_p50_us": round(statistics.median(fresh_best), 1),
        "decide_fresh_best_p99_us": round(percentile(fresh_best, 0.99), 1),
        "decide_fresh_best_max_us": round(max(fresh_best), 1),
        "decide_home_on_disk_best_p50_us": round(statistics.median(home_best), 1),
        "decide_home_on_disk_best_p99_us": round(percentile(home_best, 0.99), 1),
        "decide_home_on_disk_best_max_us": round(max(home_best), 1),
        "home_on_disk_accuracy": round(home_ok / len(entries), 4),
        "decide_cached_p50_us": round(statistics.median(warm), 1),
        "decide_cached_p99_us": round(percentile(warm, 0.99), 1),
        "baseline_p50_us": round(statistics.median(base), 2),
        "baseline_p99_us": round(percentile(base, 0.99), 2),
        "baseline_best_p99_us": round(percentile(base_best, 0.99), 2),
        "p50_ratio_vs_baseline": round(statistics.median(fresh) / statistics.median(base), 1),
        "target_p99_us": TARGET_P99_US,
        "accuracy": round(ours_ok / len(entries), 4),
        "baseline_accuracy": round(base_ok / len(entries), 4),
        "nproc": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    figures["gate_build"] = contop.security.GATE_BUILD
    if args.json_only:
        print(json.dumps(figures))
        return 0
    interpreted: dict[str, object] | None = None
    if contop.security.COMPILED:  # the same corpus on the interpreted modules, for comparison
        child = subprocess.run(
            [sys.executable, __file__, "--rounds", str(args.rounds), "--json-only"],
            env={**os.environ, "CONTOP_GATE_COMPILED": "0"}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        interpreted = json.loads(child.stdout.strip().splitlines()[-1])
        figures["interpreted_best_p50_us"] = interpreted["decide_fresh_best_p50_us"]
        figures["interpreted_best_p99_us"] = interpreted["decide_fresh_best_p99_us"]
        figures["interpreted_accuracy"] = interpreted["accuracy"]
    rows = [
        ("decide(), fresh command", figures["decide_fresh_p50_us"], figures["decide_fresh_p99_us"],
         figures["decide_fresh_max_us"], figures["accuracy"]),
        ("decide(), fresh, best of rounds", figures["decide_fresh_best_p50_us"], figures["decide_fresh_best_p99_us"],
         figures["decide_fresh_best_max_us"], figures["accuracy"]),
        ("decide(), fresh, best, home on disk", figures["decide_home_on_disk_best_p50_us"],
         figures["decide_home_on_disk_best_p99_us"], figures["decide_home_on_disk_best_max_us"],
         figures["home_on_disk_accuracy"]),
        ("decide(), parse cached", figures["decide_cached_p50_us"], figures["decide_cached_p99_us"],
         round(max(warm), 1), figures["accuracy"]),
        ("substring baseline", figures["baseline_p50_us"], figures["baseline_p99_us"], round(max(base), 2),
         figures["baseline_accuracy"]),
    ]  # fmt: skip
    if interpreted is not None:
        rows.insert(2, ("decide(), fresh, best, interpreted", interpreted["decide_fresh_best_p50_us"],
                        interpreted["decide_fresh_best_p99_us"], interpreted["decide_fresh_best_max_us"],
                        interpreted["accuracy"]))  # fmt: skip
    print(f"security gate ({figures['gate_build']}) over {len(entries)} corpus entries x {args.rounds} rounds")
    print(f"{'gate':<38}{'p50 µs':>10}{'p99 µs':>10}{'max µs':>10}{'accuracy':>10}")
    for name, p50, p99, worst, accuracy in rows:
        print(f"{name:<38}{p50:>10}{p99:>10}{worst:>10}{accuracy:>10.1%}")
    verdict = "meets" if figures["decide_fresh_best_p99_us"] <= TARGET_P99_US else "misses"
    print(
        f"p99 target {TARGET_P99_US:.0f} µs (best of rounds, which removes scheduler noise): {verdict} "
        f"(nproc {figures['nproc']}, load {figures['loadavg']})"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
