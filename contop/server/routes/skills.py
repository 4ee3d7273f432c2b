"""``/api/skills``: list, create, read, replace, enable/disable and workflows of the skills in the state dir."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import AGENT_TOOLS, SkillStore
from contop.security.catalog import KNOWN_TOOLS
from contop.server.admin import require_admin
from contop.server.routes.common import json_body, server_state

router = APIRouter(dependencies=[Depends(require_admin)])

BUILTIN_TOOLS = frozenset(KNOWN_TOOLS | AGENT_TOOLS)


def _store(request: Request) -> SkillStore:
    return SkillStore(server_state(request).config.state_dir.skills_dir)


def _enabled(request: Request) -> list[str]:
    return list(server_state(request).settings.get().enabled_skills)


def _fail(exc: SkillError) -> HTTPException:
    return HTTPException(exc.status if exc.status in (400, 403, 404, 409, 422) else 400, str(exc))


async def _json_object(request: Request) -> dict[str, Any]:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise HTTPException(422, "the body must be a JSON object")
    return data


@router.get("/api/skills")
async def list_skills(request: Request) -> list[dict[str, Any]]:
    enabled = set(_enabled(request))
    return [info.as_dict(info.name in enabled) for info in _store(request).discover()]


@router.post("/api/skills", status_code=201)
async def create_skill(request: Request) -> dict[str, Any]:
    data = await _json_object(request)
    name, description = data.get("name"), data.get("description")
    if not isinstance(name, str) or not isinstance(description, str) or not description.strip():
        raise HTTPException(422, "'name' and 'description' are required strings")
    try:
        info = _store(request).create(name, description)
    except SkillError as exc:
        raise _fail(exc) from None
    return info.as_dict(False)


@router.get("/api/skills/{name}")
async def get_skill(name: str, request: Request) -> dict[str, Any]:
    store = _store(request)
    try:
        info = store.info(name)
        content = store.read(name)
    except SkillError as exc:
        raise _fail(exc) from None
    return {**info.as_dict(name in _enabled(request)), "content": content}


@router.put("/api/skills/{name}")
async def put_skill(name: str, request: Request) -> dict[str, Any]:
    data = await _json_object(request)
    content = data.get("content")
    if not isinstance(content, str):
        raise HTTPException(422, "'content' (the new SKILL.md) is required")
    try:
        info = _store(request).update(name, content)
    except SkillError as exc:
        raise _fail(exc) from None
    return {**info.as_dict(name in _enabled(request)), "content": content}


@router.post("/api/skills/{name}/enable")
async def enable_skill(name: str, request: Request) -> dict[str, Any]:
    store = _store(request)
    enabled = _enabled(request)
    try:
        store.valid(name)
        problems = store.conflicts(name, enabled, BUILTIN_TOOLS)
    except SkillError as exc:
        raise _fail(exc) from None
    if problems:
        return JSONResponse({"detail": f"cannot enable {name}: " + "; ".join(problems)}, status_code=409)  # type: ignore[return-value]
    if name not in enabled:
        server_state(request).settings.update(enabled_skills=[*enabled, name])
    return {"name": name, "enabled": True}


@router.post("/api/skills/{name}/disable")
async def disable_skill(name: str, request: Request) -> dict[str, Any]:
    try:
        _store(request).info(name)
    except SkillError as exc:
        raise _fail(exc) from None
    enabled = _enabled(request)
    if name in enabled:
        server_state(request).settings.update(enabled_skills=[n for n in enabled if n != name])
    return {"name": name, "enabled": False}


@router.get("/api/skills/{name}/workflows")
async def skill_workflows(name: str, request: Request) -> dict[str, Any]:
    try:
        workflows = _store(request).workflows(name)
    except SkillError as exc:
        raise _fail(exc) from None
    return {"skill_name": name, "workflows": workflows}
