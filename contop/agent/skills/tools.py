"""The skill tools the agent calls: ``load_skill``, ``execute_skill``, ``create_skill``, ``edit_skill``.

They run through the guarded toolset like every tool. Outside an agent run (a phone ``tool_call``) the enabled
list is read from ``settings.json`` and workflows are not available.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from contop.agent.skills.runtime import SkillRuntime
from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import SkillInfo, SkillStore
from contop.core.errors import StateDirError, ToolError
from contop.core.settings import validate_settings
from contop.server.settings_store import SettingsStore
from contop.tools.context import ToolContext

log = logging.getLogger(__name__)


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


def _forget_enabled(ctx: ToolContext, runtime: SkillRuntime, name: str) -> None:
    """Drop ``name`` from the enabled skills, for this run and in ``settings.json``, when they still list it.

    Called before a new skill is created, when no folder of that name exists: an entry left by a skill deleted by
    hand would otherwise enable the new skill at once, without the checks of enabling. Settings that cannot be read
    are left to the server, which sets such a file aside; a disk that refuses the change fails the creation.
    """
    if name in runtime.enabled:
        runtime.enabled.remove(name)
    path = ctx.state_dir / "settings.json"
    try:
        settings = validate_settings(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, RecursionError):  # pydantic's ValidationError is a ValueError
        return
    if name not in settings.enabled_skills:
        return
    enabled = [n for n in settings.enabled_skills if n != name]
    try:
        SettingsStore(path, state_dir_display=str(ctx.state_dir)).replace(
            {**settings.to_json_dict(), "enabled_skills": enabled}
        )
    except StateDirError as exc:
        raise ToolError(str(exc)) from exc
    log.info("dropped %s from the enabled skills: a new skill of that name starts disabled", name)


def _load(runtime: SkillRuntime, skill_name: str) -> dict[str, Any]:
    runtime.require_enabled(skill_name)
    meta = runtime.store.valid(skill_name)
    return {
        "status": "success",
        "name": meta.name,
        "skill_type": meta.skill_type,
        "version": meta.version,
        "instructions": runtime.store.body(skill_name).strip(),
        "workflows": sorted(runtime.store.workflow_files(skill_name)),
        "python_tools": runtime.store.tool_names(skill_name),
        "voice_message": f"Loaded the {meta.name} skill.",
    }


async def load_skill(ctx: ToolContext, skill_name: str) -> dict[str, Any]:
    """Read an enabled skill's full instructions (its SKILL.md body) and the names of its workflows and tools."""
    try:  # reading and parsing files: off the event loop
        return await asyncio.to_thread(_load, _runtime(ctx), skill_name)
    except SkillError as exc:
        raise _tool_error(exc) from exc


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
        await asyncio.to_thread(runtime.require_enabled, skill_name)
        if tool:
            ran = await runtime.run_python(skill_name, tool, arguments, cwd=ctx.cwd)
            value = ran.value
            out: dict[str, Any] = {
                "status": "success",
                "stdout": value if isinstance(value, str) else json.dumps(value, default=str),
                "stderr": ran.output,
                "exit_code": 0,
                "duration_ms": int((time.monotonic() - started) * 1000),
                "truncated": ran.truncated,  # what it printed was cut, as execute_cli says of a command's output
                "voice_message": f"Ran {tool} of the {skill_name} skill.",
            }
            if ran.note:
                out["note"] = ran.note
            return out
        instructions = await asyncio.to_thread(_instructions_only, runtime, skill_name)
        if instructions is not None:
            return {
                "status": "success",
                "stdout": instructions,
                "exit_code": 0,
                "duration_ms": int((time.monotonic() - started) * 1000),
                "voice_message": f"{skill_name} is an instructions-only skill; follow its instructions.",
            }
        return dict(await runtime.run_workflow(skill_name, workflow, arguments, ctx))
    except SkillError as exc:
        raise _tool_error(exc) from exc
    except TypeError as exc:  # a python tool called with the wrong parameters
        raise ToolError(f"{skill_name}: {exc}") from exc


def _instructions_only(runtime: SkillRuntime, skill_name: str) -> str | None:
    """The instructions of a skill without workflows (what running it means), or None when it has workflows."""
    if runtime.store.workflow_files(skill_name):
        return None
    runtime.store.valid(skill_name)
    return runtime.store.body(skill_name).strip()


def _create(ctx: ToolContext, name: str, description: str) -> SkillInfo:
    runtime = _runtime(ctx)
    runtime.store.check_new(name, description)
    _forget_enabled(ctx, runtime, name)
    return runtime.store.create(name, description)


async def create_skill(ctx: ToolContext, name: str, description: str) -> dict[str, Any]:
    """Create a new skill folder with a SKILL.md template (name: lowercase letters, digits, hyphens). The user
    still has to enable it before it can be used."""
    try:
        info = await asyncio.to_thread(_create, ctx, name, description)
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
        info = await asyncio.to_thread(_runtime(ctx).store.update, skill_name, content)
    except SkillError as exc:
        raise _tool_error(exc) from exc
    return {"status": "success", "name": info.name, "voice_message": f"Updated the skill {info.name}."}


TOOLS = {
    "load_skill": load_skill,
    "execute_skill": execute_skill,
    "create_skill": create_skill,
    "edit_skill": edit_skill,
}
