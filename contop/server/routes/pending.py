"""Admin routes that ride on this router: the skills endpoints and the two subscription-proxy endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from contop.core.settings import PROVIDERS
from contop.server import proxy_status
from contop.server.admin import require_admin
from contop.server.routes import skills
from contop.server.routes.common import json_body, server_state

router = APIRouter(dependencies=[Depends(require_admin)])
# The skills endpoints are real now; they ride on this router so the app factory needs no change.
router.include_router(skills.router)


@router.post("/api/provider-health")
async def provider_health(request: Request) -> dict[str, Any]:
    """``{provider}`` → ``{status, models, auth_type}`` from the provider's subscription proxy."""
    body = await json_body(request)
    provider = body.get("provider") if isinstance(body, dict) else None
    if provider not in PROVIDERS:
        raise HTTPException(422, f"provider must be one of {', '.join(PROVIDERS)}")
    return await proxy_status.provider_health(server_state(request).settings.get(), provider)


@router.post("/api/notify-proxy-change")
async def notify_proxy_change(request: Request) -> dict[str, Any]:
    """A proxy started or stopped: the phones get a fresh ``state_update`` (models and their vision)."""
    state = server_state(request)
    settings = state.settings.get()
    return {
        "pushed": proxy_status.push_state(state),
        "provider_auth": {name: auth.model_dump() for name, auth in settings.provider_auth.items()},
    }
