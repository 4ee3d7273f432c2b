"""The skill tools the agent calls: ``load_skill``, ``execute_skill``, ``create_skill``, ``edit_skill``.

They run through the guarded toolset like every tool. Outside an agent run (a phone ``tool_call``) the enabled
list is read from ``settings.json`` and workflows are not available.
"""

from __future__ import annotations

import json
import time
from typing import Any

from contop.agent.skills.runtime import SkillRuntime
from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import SkillStore
from contop.core.errors import ToolError
from contop.tools.context import ToolContext


def _runtime(ctx: ToolContext) -> SkillRuntime:
    runtime = getattr(ctx, "skills", None)
    if isinstance(runtime, SkillRuntime):
        return runtime
    enabled: list[str] = []
    try:
        data = json.loads((ctx.state_dir / "settings.json").read_text(encoding="utf-8"))
        if isinstance(data.get("enabled_skills"), list):
            enabled = [str(x) for x in data["enabled_skills"]]
    except (OSError, ValueError, AttributeError):
        pass
    return SkillRuntime(SkillStore(ctx.state_dir / "skills"), enabled)


def _tool_error(exc: SkillError) -> ToolError:
    return ToolError(str(exc))


async def load_skill(ctx: ToolContext, skill_name: str) -> dict[str, Any]:
    """Read an enabled skill's full instructions (its SKILL.md body) and the names of its workflows and tools."""
    runtime = _runtime(ctx)
    try:
        runtime.require_enabled(skill_name)
        meta = runtime.store.valid(skill_name)
        body = runtime.store.body(skill_name)
        workflows = sorted(runtime.store.workflow_files(skill_name))
        python_tools = runtime.store.tool_names(skill_name)
    except SkillError as exc:
        raise _tool_error(exc) from exc
    return {
        "status": "success",
        "name": meta.name,
        "skill_type": meta.skill_type,
        "version": meta.version,
        "instructions": body.strip(),
        "workflows": workflows,
        "python_tools": python_tools,
        "voice_message": f"Loaded the {meta.name} skill.",
    }


async def execute_skill(
    ctx: ToolContext,
    skill_name: str,
    params: dict[str, Any] | None = None,
    workflow: str | None = None,
    tool: str | None = None,
) -> dict[str, Any]:
    """Run an enabled skill: one of its YAML workflows (``workflow``, optional when it has only one) with
    ``params``, or one of its python tools (``tool``) called with ``params`` as keyword arguments. Each
    workflow step goes through the same security checks as any tool call."""
    started = time.monotonic()
    runtime = _runtime(ctx)
    arguments = dict(params or {})
    try:
        runtime.require_enabled(skill_name)
        if tool:
            ran = await runtime.run_python(skill_name, tool, arguments, cwd=ctx.cwd)
            value = ran.value
            return {
                "status": "success",
                "stdout": value if isinstance(value, str) else json.dumps(value, default=str),
                "stderr": ran.output,
                "exit_code": 0,
                "duration_ms": int((time.monotonic() - started) * 1000),
                "voice_message": f"Ran {tool} of the {skill_name} skill.",
            }
        if not runtime.store.workflow_files(skill_name):
            meta = runtime.store.valid(skill_name)
            return {
                "status": "success",
                "stdout": runtime.store.body(skill_name).strip(),
                "exit_code": 0,
                "duration_ms": int((time.monotonic() - started) * 1000),
                "voice_message": f"{meta.name} is an instructions-only skill; follow its instructions.",
            }
        return dict(await runtime.run_workflow(skill_name, workflow, arguments, ctx))
    except SkillError as exc:
        raise _tool_error(exc) from exc
    except TypeError as exc:  # a python tool called with the wrong parameters
        raise ToolError(f"{skill_name}: {exc}") from exc


async def create_skill(ctx: ToolContext, name: str, description: str) -> dict[str, Any]:
    """Create a new skill folder with a SKILL.md template (name: lowercase letters, digits, hyphens). The user
    still has to enable it before it can be used."""
    try:
        info = _runtime(ctx).store.create(name, description)
    except SkillError as exc:
        raise _tool_error(exc) from exc
    return {
        "status": "success",
        "name": info.name,
        "path": str(info.path / "SKILL.md"),
        "voice_message": f"Created the skill {info.name}; it needs to be enabled in the settings.",
    }


async def edit_skill(ctx: ToolContext, skill_name: str, content: str) -> dict[str, Any]:
    """Replace a skill's SKILL.md with ``content``; the YAML frontmatter must be valid and keep the same name."""
    try:
        info = _runtime(ctx).store.update(skill_name, content)
    except SkillError as exc:
        raise _tool_error(exc) from exc
    return {"status": "success", "name": info.name, "voice_message": f"Updated the skill {info.name}."}


TOOLS = {
    "load_skill": load_skill,
    "execute_skill": execute_skill,
    "create_skill": create_skill,
    "edit_skill": edit_skill,
}
