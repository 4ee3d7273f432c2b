"""Endpoints of the seed table whose features land with later work: they answer 503, never a fake success."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from contop.server.admin import require_admin
from contop.server.routes import skills
from contop.server.routes.common import not_available

router = APIRouter(dependencies=[Depends(require_admin)])
# The skills endpoints are real now; they ride on this router so the app factory needs no change.
router.include_router(skills.router)


@router.post("/api/provider-health")
@router.post("/api/notify-proxy-change")
async def proxy_endpoints() -> None:
    raise not_available("subscription proxy")
