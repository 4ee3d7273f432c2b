"""Public routes: health, and the phone web app at ``/``."""

from __future__ import annotations

from fastapi import APIRouter

from contop import __version__

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy", "service": "contop-server", "version": __version__}
