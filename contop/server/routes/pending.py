"""Endpoints of the seed table whose features land with later work: they answer 503, never a fake success."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from contop.server.admin import require_admin
from contop.server.routes.common import not_available

router = APIRouter(dependencies=[Depends(require_admin)])


@router.get("/api/skills")
@router.post("/api/skills")
async def skills_collection() -> None:
    raise not_available("skills engine")


@router.get("/api/skills/{name}")
@router.put("/api/skills/{name}")
@router.post("/api/skills/{name}/enable")
@router.post("/api/skills/{name}/disable")
@router.get("/api/skills/{name}/workflows")
async def skill_item(name: str) -> None:
    raise not_available("skills engine")


@router.get("/api/away-mode/status")
async def away_mode_status() -> None:
    raise not_available("Away Mode")


@router.post("/api/provider-health")
@router.post("/api/notify-proxy-change")
async def proxy_endpoints() -> None:
    raise not_available("subscription proxy")
