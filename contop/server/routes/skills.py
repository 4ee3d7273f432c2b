"""``/api/skills``: list, create, read, replace, enable/disable and workflows of the skills in the state dir."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from contop.agent.skills.spec import SkillError
from contop.agent.skills.store import AGENT_TOOLS, SkillInfo, SkillStore
from contop.security.catalog import KNOWN_TOOLS
from contop.server.admin import require_admin
from contop.server.routes.common import json_body, server_state

router = APIRouter(dependencies=[Depends(require_admin)])

BUILTIN_TOOLS = frozenset(KNOWN_TOOLS | AGENT_TOOLS)


def _store(request: Request) -> SkillStore:
    return SkillStore(server_state(request).config.state_dir.skills_dir)


def _enabled(request: Request) -> list[str]:
    return list(server_state(request).settings.get().enabled_skills)


def _enabled_lock(request: Request) -> asyncio.Lock:
    """The lock every change of the enabled skills holds, from reading the list to saving it.

    Enabling checks the skill in a thread between the two; without the lock, parallel requests each add to the
    list they read first and the last save wins, losing the others while every request answered 200. One lock per
    app (the app's state is the server's), made on first use: the event loop is single-threaded.
    """
    app_state = request.app.state
    lock = getattr(app_state, "skills_enabled_lock", None)
    if not isinstance(lock, asyncio.Lock):
        lock = asyncio.Lock()
        app_state.skills_enabled_lock = lock
    return lock


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
    infos = await asyncio.to_thread(_store(request).discover)  # parses every SKILL.md: off the event loop
    return [info.as_dict(info.name in enabled) for info in infos]


@router.post("/api/skills", status_code=201)
async def create_skill(request: Request) -> dict[str, Any]:
    data = await _json_object(request)
    name, description = data.get("name"), data.get("description")
    if not isinstance(name, str) or not isinstance(description, str) or not description.strip():
        raise HTTPException(422, "'name' and 'description' are required strings")
    store = _store(request)
    try:
        await asyncio.to_thread(store.check_new, name, description)
        async with _enabled_lock(request):
            enabled = _enabled(request)
            if name in enabled:
                # left by a skill deleted by hand: a new skill starts disabled, and is enabled through the checks
                server_state(request).settings.update(enabled_skills=[n for n in enabled if n != name])
        info = await asyncio.to_thread(store.create, name, description)
    except SkillError as exc:
        raise _fail(exc) from None
    return info.as_dict(False)


def _read(store: SkillStore, name: str) -> tuple[SkillInfo, str]:
    return store.info(name), store.read(name)


@router.get("/api/skills/{name}")
async def get_skill(name: str, request: Request) -> dict[str, Any]:
    try:
        info, content = await asyncio.to_thread(_read, _store(request), name)
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
        info = await asyncio.to_thread(_store(request).update, name, content)
    except SkillError as exc:
        raise _fail(exc) from None
    return {**info.as_dict(name in _enabled(request)), "content": content}


def _conflicts(store: SkillStore, name: str, enabled: list[str]) -> list[str]:
    store.valid(name)
    return store.conflicts(name, enabled, BUILTIN_TOOLS)


@router.post("/api/skills/{name}/enable")
async def enable_skill(name: str, request: Request) -> dict[str, Any]:
    async with _enabled_lock(request):  # held across the check: its verdict is about the list it read
        enabled = _enabled(request)
        try:
            problems = await asyncio.to_thread(_conflicts, _store(request), name, enabled)
        except SkillError as exc:
            raise _fail(exc) from None
        if problems:
            return JSONResponse({"detail": f"cannot enable {name}: " + "; ".join(problems)}, status_code=409)  # type: ignore[return-value]
        if name not in enabled:
            server_state(request).settings.update(enabled_skills=[*enabled, name])
    return {"name": name, "enabled": True}


@router.post("/api/skills/{name}/disable")
async def disable_skill(name: str, request: Request) -> dict[str, Any]:
    async with _enabled_lock(request):  # an enable in flight would otherwise save the list with this skill again
        try:
            await asyncio.to_thread(_store(request).info, name)
        except SkillError as exc:
            raise _fail(exc) from None
        enabled = _enabled(request)
        if name in enabled:
            server_state(request).settings.update(enabled_skills=[n for n in enabled if n != name])
    return {"name": name, "enabled": False}


@router.get("/api/skills/{name}/workflows")
async def skill_workflows(name: str, request: Request) -> dict[str, Any]:
    try:
        workflows = await asyncio.to_thread(_store(request).workflows, name)
    except SkillError as exc:
        raise _fail(exc) from None
    return {"skill_name": name, "workflows": workflows}
