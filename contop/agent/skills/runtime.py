"""What the skill tools need during an agent run: the skills folder, the enabled list and the run's toolset."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contop.agent.skills.pyrunner import MAX_RESULT_BYTES
from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import SkillStore
from contop.agent.skills.workflow import load_workflow, run_workflow
from contop.core.childenv import child_env
from contop.core.text import storable
from contop.security.enforce import GuardedToolset
from contop.tools.cli import run_process
from contop.tools.context import ToolContext

PYTHON_TOOL_TIMEOUT_S = 300.0


@dataclass(slots=True)
class SkillRuntime:
    store: SkillStore
    enabled: list[str]
    toolset: GuardedToolset | None = None

    def require_enabled(self, name: str) -> None:
        self.store.valid(name)
        if name not in self.enabled:
            raise SkillError(f"skill {name!r} is not enabled (the user enables skills in the settings)", 403)

    async def run_workflow(self, name: str, workflow: str | None, params: dict[str, Any], ctx: ToolContext) -> Any:
        if self.toolset is None:
            raise SkillError("workflows run only inside an agent run", 400)
        files = self.store.workflow_files(name)
        if not files:
            raise SkillError(f"skill {name!r} has no workflows", 400)
        if workflow is None:
            if len(files) > 1:
                raise SkillError(f"skill {name!r} has several workflows; choose one of: {', '.join(sorted(files))}")
            workflow = next(iter(files))
        path = files.get(workflow)
        if path is None:
            raise SkillError(f"skill {name!r} has no workflow {workflow!r}; it has: {', '.join(sorted(files))}", 404)
        return await run_workflow(await asyncio.to_thread(load_workflow, path), params, self.toolset, ctx)

    async def run_python(self, name: str, tool: str, params: dict[str, Any], cwd: str | None = None) -> PythonResult:
        """Call a public function that the enabled skill's ``scripts/*.py`` defines, in a process of its own
        (``pyrunner``). A name a script only imports is not a tool: refused here, and by the runner again."""
        if not self.store.python_files(name):
            raise SkillError(f"skill {name!r} has no python tools", 404)
        path = await asyncio.to_thread(self.store.python_tool_file, name, tool)
        usable_cwd = bool(cwd) and await asyncio.to_thread(os.path.isdir, cwd or "")
        with tempfile.TemporaryDirectory(prefix="contop-skill-") as tmp:
            request, result_file = Path(tmp) / "request.json", Path(tmp) / "result.json"
            try:
                data = json.dumps({"paths": [str(path)], "tool": tool, "params": params})
            except (TypeError, ValueError) as exc:
                raise SkillError(f"the parameters of {tool} are not JSON: {exc}") from exc
            await asyncio.to_thread(request.write_text, data, "utf-8")
            process = await run_process(
                # -P: the session folder, its working directory, must not come first on sys.path (a json.py there)
                [sys.executable, "-P", "-m", "contop.agent.skills.pyrunner", str(request), str(result_file)],
                cwd=cwd if usable_cwd else None,
                env=child_env(os.environ),  # never the server's API keys or CONTOP_* variables
                timeout=PYTHON_TOOL_TIMEOUT_S,
            )
            if process.timed_out:
                raise SkillError(f"{tool} of skill {name!r} did not finish within {PYTHON_TOOL_TIMEOUT_S:g} s: stopped")
            answer = await asyncio.to_thread(_read_answer, result_file, f"{tool} of skill {name!r}")
        output = process.stderr
        if not isinstance(answer, dict):
            tail = output.strip().splitlines()[-3:]
            raise SkillError(
                f"{tool} of skill {name!r} ended without an answer (exit code {process.exit_code})"
                + (": " + " / ".join(tail) if tail else "")
            )
        if answer.get("missing"):
            raise SkillError(f"skill {name!r} has no python tool {tool!r}", 404)
        if "error" in answer:
            raise SkillError(str(answer["error"]) + (f"\n{answer['trace']}" if answer.get("trace") else ""))
        return PythonResult(answer.get("value"), output, process.truncated, " ".join(process.notes))


def _read_answer(path: Path, what: str) -> Any:
    """The runner's answer, decoded (blocking: run it in a thread); None when there is none or it is not JSON.

    The size is checked before anything is read: the tool itself can write that file, and a huge answer would take
    the server's memory and its event loop.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size > MAX_RESULT_BYTES:
        raise SkillError(
            f"{what} returned {size / 2**20:.1f} MB; only results up to {MAX_RESULT_BYTES // 2**20} MiB are accepted: "
            "return less (write a large result to a file and return its path)"
        )
    try:
        with path.open(encoding="utf-8") as fh:
            return storable(json.loads(fh.read(MAX_RESULT_BYTES + 1)))
    except (OSError, ValueError, RecursionError):
        return None


@dataclass(frozen=True, slots=True)
class PythonResult:
    value: Any
    output: str  # what the tool printed
    truncated: bool  # the output was cut (to its first 50 KB)
    note: str = ""  # says what was cut, when it was


@dataclass(slots=True)
class AgentToolContext(ToolContext):
    """The tool context of agent runs: the base context plus the skills runtime of the current run."""

    skills: SkillRuntime | None = field(default=None)
