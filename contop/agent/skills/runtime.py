"""What the skill tools need during an agent run: the skills folder, the enabled list and the run's toolset."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any

from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import SkillStore
from contop.agent.skills.workflow import load_workflow, run_workflow
from contop.security.enforce import GuardedToolset
from contop.tools.context import ToolContext


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
        return await run_workflow(load_workflow(path), params, self.toolset, ctx)

    async def run_python(self, name: str, tool: str, params: dict[str, Any]) -> Any:
        """Call a public function of the enabled skill's ``scripts/*.py`` (loaded only now, only from here)."""
        for path in self.store.python_files(name):
            module_name = f"contop_skill_{name.replace('-', '_')}_{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise SkillError(f"{path.name} of skill {name!r} failed to load: {type(exc).__name__}: {exc}") from exc
            finally:
                sys.modules.pop(module_name, None)
            fn = getattr(module, tool, None)
            if fn is None or tool.startswith("_") or not callable(fn):
                continue
            if inspect.iscoroutinefunction(fn):
                return await fn(**params)
            return await asyncio.to_thread(fn, **params)
        raise SkillError(f"skill {name!r} has no python tool {tool!r}", 404)


@dataclass(slots=True)
class AgentToolContext(ToolContext):
    """The tool context of agent runs: the base context plus the skills runtime of the current run."""

    skills: SkillRuntime | None = field(default=None)
