"""Agent overhead per tool step and intent → first ``agent_progress``, with an instant scripted model.

Each run replays a script of ``get_action_history`` calls through the real run loop (pydantic-ai, the guarded
toolset with the real gate and audit log, the context processors, the sessions store). The overhead of a step
is the time from one step's start to the next step's start minus the guarded call itself; the baseline is
``GuardedToolset.call`` for the same tool, measured directly in the same process. The process CPU time per
step (all threads, the call included) is printed too: on a loaded machine it is steadier than wall time.
A second baseline is pydantic-ai alone driving a no-op tool with the same streamed loop: the framework's floor.
Usage: ``python bench/bench_agent.py [--runs 15] [--steps 50]``. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from contop.agent.history import SessionStore
from contop.agent.run import AgentService, Limits
from contop.core.settings import default_settings
from contop.security.audit import AuditLog
from contop.security.enforce import GateLists, GuardedToolset
from contop.tools.context import ToolContext
from contop.tools.registry import all_tools

TARGET_STEP1_P50_MS = 10.0
TARGET_FIRST_PROGRESS_P50_MS = 50.0
TOOL = "get_action_history"


class TimedEvents:
    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.marks: list[tuple[float, str, dict[str, Any]]] = []

    async def emit(self, type: str, payload: dict[str, Any]) -> None:
        self.marks.append((time.perf_counter(), type, payload))
        if type == "agent_progress" and payload["status"] == "running":
            self.cpu.append(time.process_time())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def baseline(state: Path, audit: AuditLog, calls: int) -> list[float]:
    toolset = GuardedToolset(all_tools(), lists=lambda: GateLists(), audit=audit)
    ctx = ToolContext(session_id="baseline", state_dir=state, home=str(Path.home()), cwd=str(state))
    out = []
    cpu = time.process_time()
    for i in range(calls):
        started = time.perf_counter()
        await toolset.call(TOOL, {}, ctx, call_id=f"b{i}")
        out.append((time.perf_counter() - started) * 1000)
    out.append((time.process_time() - cpu) / calls * 1000)  # last item: CPU ms per call
    return out


async def bare_framework(steps: int) -> tuple[float, float]:
    """pydantic-ai alone: a streamed run of ``steps`` calls to one no-op tool (wall and CPU ms per step)."""
    from pydantic_ai import Agent, RunContext, Tool
    from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
    from pydantic_ai.usage import UsageLimits

    async def stream(messages: list[Any], _info: AgentInfo) -> Any:
        done = sum(1 for m in messages if m.kind == "response")
        if done < steps:
            yield {0: DeltaToolCall(name="noop", json_args="{}", tool_call_id=f"c{done}")}
        else:
            yield "done"

    async def noop(_ctx: RunContext[Any], **_kwargs: Any) -> dict[str, int]:
        return {"ok": 1}

    tool = Tool.from_schema(noop, "noop", "Does nothing.", {"type": "object", "properties": {}}, takes_ctx=True)
    agent = Agent(FunctionModel(stream_function=stream), tools=[tool])
    cpu, wall = time.process_time(), time.perf_counter()
    async with agent.iter("go", usage_limits=UsageLimits(request_limit=steps + 5)) as run:
        async for node in run:
            if Agent.is_model_request_node(node) or Agent.is_call_tools_node(node):
                async with node.stream(run.ctx) as events:
                    async for _event in events:
                        pass
    return (time.perf_counter() - wall) / steps * 1000, (time.process_time() - cpu) / steps * 1000


async def main_async(runs: int, steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="contop-bench-agent-") as tmp:
        root = Path(tmp)
        state = root / "state"
        state.mkdir()
        script = root / "script.json"
        script.write_text(json.dumps([{"tool": TOOL, "args": {}}] * steps + [{"text": "done"}]))
        quick = root / "quick.json"
        quick.write_text(json.dumps([{"tool": TOOL, "args": {}}, {"text": "done"}]))
        settings = default_settings(str(state)).model_copy(update={"execution_model": f"scripted:{script}"})
        quick_settings = settings.model_copy(update={"execution_model": f"scripted:{quick}"})
        current = {"s": settings}
        audit = AuditLog(state / "logs")
        store = SessionStore(state / "data" / "sessions.db")
        store.open()
        service = AgentService(
            state_dir=state,
            settings=lambda: current["s"],
            audit=audit,
            store=store,
            limits=Limits(max_requests=steps + 5),
        )
        base = await baseline(state, audit, 200)
        base_cpu = base.pop()
        bare = [await bare_framework(steps) for _ in range(3)]

        overhead: dict[int, list[float]] = {}
        cpu_first: list[float] = []
        cpu_last: list[float] = []
        for _ in range(runs):
            events = TimedEvents()
            result = await service.start("bench", device_id="bench", events=events, confirmer=None)
            assert result.status == "completed", result.answer
            starts = {p["step"]: t for t, k, p in events.marks if k == "agent_progress" and p["status"] == "running"}
            ends = {p["step"]: t for t, k, p in events.marks if k == "agent_progress" and p["status"] != "running"}
            cpu_first.append((events.cpu[1] - events.cpu[0]) * 1000)
            cpu_last.append((events.cpu[steps - 1] - events.cpu[steps - 2]) * 1000)
            for step in range(1, steps):
                cycle = (starts[step + 1] - starts[step]) * 1000
                call = (ends[step] - starts[step]) * 1000
                overhead.setdefault(step, []).append(cycle - call)

        current["s"] = quick_settings
        first: list[float] = []
        for _ in range(max(runs, 20)):
            events = TimedEvents()
            started = time.perf_counter()
            execution = service.start("bench", device_id="bench", events=events, confirmer=None)
            await execution
            progress = next(t for t, k, _p in events.marks if k == "agent_progress")
            first.append((progress - started) * 1000)
        await service.aclose()
        store.close()
        await audit.aclose()

    last = steps - 1
    return {
        "step1": overhead[1],
        "step_last": overhead[last],
        "last_step": last,
        "all": [v for values in overhead.values() for v in values],
        "first": first,
        "baseline": base,
        "baseline_cpu": base_cpu,
        "bare_wall": [w for w, _c in bare],
        "bare_cpu": [c for _w, c in bare],
        "cpu_first": cpu_first,
        "cpu_last": cpu_last,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=51, help="tool calls per run (overhead is known up to steps-1)")
    args = parser.parse_args()
    data = asyncio.run(main_async(args.runs, args.steps))
    step1, step_last, first, base = data["step1"], data["step_last"], data["first"], data["baseline"]
    rows = [
        ("GuardedToolset.call (baseline)", base),
        ("agent overhead, step 1", step1),
        (f"agent overhead, step {data['last_step']}", step_last),
        ("agent overhead, all steps", data["all"]),
        ("intent -> first agent_progress", first),
        ("pydantic-ai alone, wall per step", data["bare_wall"]),
        ("pydantic-ai alone, CPU per step", data["bare_cpu"]),
        ("CPU per step incl. call, step 1", data["cpu_first"]),
        (f"CPU per step incl. call, step {data['last_step']}", data["cpu_last"]),
    ]
    print(f"{'measure':36} {'n':>5} {'p50 ms':>9} {'p90 ms':>9} {'max ms':>9}")
    for label, values in rows:
        print(f"{label:36} {len(values):5d} {pct(values, 0.5):9.2f} {pct(values, 0.9):9.2f} {max(values):9.2f}")
    p50_1, p50_last, p50_first = pct(step1, 0.5), pct(step_last, 0.5), pct(first, 0.5)
    result = {
        "bench": "agent",
        "runs": len(step1),
        "baseline_guarded_call_p50_ms": round(pct(base, 0.5), 3),
        "step1_overhead_p50_ms": round(p50_1, 2),
        f"step{data['last_step']}_overhead_p50_ms": round(p50_last, 2),
        "all_steps_overhead_p50_ms": round(statistics.median(data["all"]), 2),
        "first_progress_p50_ms": round(p50_first, 2),
        "baseline_guarded_call_cpu_ms": round(data["baseline_cpu"], 3),
        "baseline_pydantic_ai_step_p50_ms": round(pct(data["bare_wall"], 0.5), 2),
        "baseline_pydantic_ai_step_cpu_p50_ms": round(pct(data["bare_cpu"], 0.5), 2),
        "step1_cpu_p50_ms": round(pct(data["cpu_first"], 0.5), 2),
        f"step{data['last_step']}_cpu_p50_ms": round(pct(data["cpu_last"], 0.5), 2),
        "target_step1_p50_ms": TARGET_STEP1_P50_MS,
        "target_first_progress_p50_ms": TARGET_FIRST_PROGRESS_P50_MS,
        "targets_met": p50_1 <= TARGET_STEP1_P50_MS and p50_first <= TARGET_FIRST_PROGRESS_P50_MS,
        "nproc": len(os.sched_getaffinity(0)),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
