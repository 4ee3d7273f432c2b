"""``/api/pair``, ``/api/qr-image``, ``/api/pair/status``: issue, show, inspect and revoke pairing codes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from contop.core.errors import StateDirError
from contop.core.pairing_payload import pairing_url
from contop.server.admin import require_admin
from contop.server.pairing import DEVICE_ID_PATTERN
from contop.server.pairing_flow import payload_for
from contop.server.qr import qr_png
from contop.server.routes.common import not_saved, server_state

router = APIRouter(dependencies=[Depends(require_admin)])

DeviceId = Annotated[str | None, Query(min_length=1, max_length=128, pattern=DEVICE_ID_PATTERN)]


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/api/pair")
async def pair(
    request: Request,
    connection_type: Literal["permanent", "temp"] = "permanent",
    device_id: DeviceId = None,
    new: bool = False,
) -> Response:
    """``new``: a code nobody used yet is revoked and replaced, not handed out again (see ``issue_saved``)."""
    state = server_state(request)
    try:
        # What issue_pairing does, with ``new`` passed on.
        tok = await state.pairing.issue_saved(connection_type, device_id, new=new)
    except StateDirError as exc:
        raise not_saved(exc) from exc
    payload = await payload_for(state, tok)
    url = pairing_url(payload)
    expires = tok.to_json()["expires_at"]
    if _wants_json(request):
        return JSONResponse(
            {
                "token": tok.token,
                "expires_at": expires,
                "connection_type": tok.connection_type,
                "url": url,
                "payload": payload,
            }
        )
    png = await asyncio.to_thread(qr_png, url)
    return Response(
        png,
        media_type="image/png",
        headers={
            "x-pairing-token": tok.token,
            "x-pairing-expires-at": expires,
            "x-pairing-url": url,
            "cache-control": "no-store",
        },
    )


@router.get("/api/qr-image")
async def qr_image(request: Request) -> Response:
    state = server_state(request)
    tok = state.pairing.current()
    if tok is None:
        raise HTTPException(404, "no active pairing code; POST /api/pair creates one")
    url = pairing_url(await payload_for(state, tok))
    png = await asyncio.to_thread(qr_png, url)
    return Response(png, media_type="image/png", headers={"cache-control": "no-store"})


@router.get("/api/pair/status")
async def pair_status(request: Request, device_id: DeviceId = None) -> dict[str, object]:
    state = server_state(request)
    if device_id is not None and state.pairing.devices.get(device_id) is None:
        if state.pairing.tokens.for_device(device_id) is None:
            unsaved = state.pairing.revocation_unsaved(device_id)
            note = "; it was revoked, but that is not saved yet: revoke it again to save it" if unsaved else ""
            raise HTTPException(404, f"no paired device {device_id!r}{note}")
    return state.pairing.status(device_id)


@router.delete("/api/pair")
async def revoke(request: Request, device_id: DeviceId = None) -> dict[str, bool]:
    state = server_state(request)
    try:
        if device_id is None:
            return {"revoked": await state.pairing.revoke_current()}
        if not await state.pairing.revoke_device(device_id):
            raise HTTPException(404, f"no paired device {device_id!r}")
    except StateDirError as exc:  # revoked until the server stops, but not saved: the answer says so
        raise not_saved(exc) from exc
    return {"revoked": True}
