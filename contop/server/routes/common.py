"""Helpers shared by the routers."""

from __future__ import annotations

from fastapi import HTTPException, Request

from contop.server.state import ServerState


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.contop
    return state


def not_available(feature: str) -> HTTPException:
    """503 for an endpoint whose feature has not landed: never a fake success."""
    return HTTPException(503, f"{feature} not available yet")
