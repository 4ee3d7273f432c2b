"""``/api/away-mode/*``: Away Mode status, engage/disengage, and setting the PINs (admin API).

This router also owns the Away Mode controller's lifetime: its lifespan (merged into the app's by FastAPI)
creates the controller, wires it to the phone sessions, starts the idle watch, and takes the overlay down at
shutdown, before the sessions close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from contop.server.admin import require_admin
from contop.server.away import AwayModeController, AwayModeError, PinPolicyError, new_pin_settings, wire_sessions
from contop.server.routes.common import not_available, server_state

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state.contop
    controller = AwayModeController(state.settings)
    state.away = controller
    if state.sessions is not None:
        wire_sessions(controller, state.sessions)
    else:
        log.info("no phone sessions in this build: Away Mode is reachable over the admin API only")
    await controller.start()
    try:
        yield
    finally:
        await controller.aclose()


router = APIRouter(dependencies=[Depends(require_admin)], lifespan=lifespan)


class PinChange(BaseModel):
    """``emergency_pin``: omitted or null keeps the current one, ``""`` removes it."""

    model_config = ConfigDict(extra="forbid")

    pin: str
    emergency_pin: str | None = None


def _controller(request: Request) -> AwayModeController:
    controller: AwayModeController | None = getattr(server_state(request), "away", None)
    if controller is None:
        raise not_available("Away Mode")
    return controller


@router.get("/api/away-mode/status")
async def status(request: Request) -> dict[str, Any]:
    return _controller(request).status()


@router.post("/api/away-mode/engage")
async def engage(request: Request) -> dict[str, Any]:
    try:
        return await _controller(request).engage("api")
    except AwayModeError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/api/away-mode/disengage")
async def disengage(request: Request) -> dict[str, Any]:
    return await _controller(request).disengage("api")


@router.post("/api/away-mode/pin")
async def set_pin(request: Request, change: PinChange) -> dict[str, Any]:
    """Store bcrypt hashes of new PINs (and turn Away Mode on). PINs are never logged nor echoed."""
    controller = _controller(request)
    store = server_state(request).settings
    try:
        section = await asyncio.to_thread(new_pin_settings, store.get().away_mode, change.pin, change.emergency_pin)
    except PinPolicyError as exc:
        raise HTTPException(400, str(exc)) from None
    store.update(away_mode=section)
    log.info("Away Mode PIN changed%s", " (and the emergency PIN)" if change.emergency_pin is not None else "")
    return controller.status()


@router.delete("/api/away-mode/pin")
async def clear_pin(request: Request) -> dict[str, Any]:
    controller = _controller(request)
    if controller.engaged:
        raise HTTPException(409, "Away Mode is engaged: disengage it before removing the PINs")
    store = server_state(request).settings
    section = store.get().away_mode.model_dump() | {"pin_hash": "", "emergency_pin_hash": "", "enabled": False}
    store.update(away_mode=section)
    log.info("Away Mode PINs removed")
    return controller.status()
