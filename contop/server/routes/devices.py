"""``/api/devices`` and ``/api/connection-info``: who is paired and how this desktop can be reached."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from contop.core.clock import parse_iso
from contop.core.errors import NotAvailableError
from contop.server.admin import require_admin
from contop.server.pairing_flow import detect_network
from contop.server.routes.common import server_state
from contop.server.tunnel import TunnelError

router = APIRouter(dependencies=[Depends(require_admin)])


@router.get("/api/devices")
async def devices(request: Request, since: str | None = None) -> dict[str, object]:
    state = server_state(request)
    when = None
    if since is not None:
        try:
            when = parse_iso(since)
        except ValueError:
            raise HTTPException(400, f"'since' is not an ISO 8601 timestamp: {since[:64]!r}") from None
    return {
        "devices": [d.to_json() for d in state.pairing.list_devices()],
        "events": [e.to_json() for e in state.pairing.devices.events(when)],
    }


@router.get("/api/connection-info")
async def connection_info(request: Request) -> dict[str, object]:
    state = server_state(request)
    net = await detect_network()
    current = state.pairing.current()
    return {
        "lan_ip": net.lan_ip,
        "tailscale_ip": net.tailscale_ip,
        "tailscale_available": net.tailscale_ip is not None,
        "tunnel_url": state.tunnel.url,
        "tunnel_active": state.tunnel.url is not None,
        "connected_clients": sum(1 for d in state.pairing.devices.all() if d.connected),
        "has_active_token": current is not None,
        "token_expires_at": current.to_json()["expires_at"] if current else None,
        "token_connection_type": current.connection_type if current else None,
        "port": state.config.port,
        "dtls_fingerprint": state.dtls.fingerprint,
    }


@router.post("/api/tunnel/start")
async def tunnel_start(request: Request) -> dict[str, object]:
    state = server_state(request)
    try:
        url, already = await state.tunnel.start()
    except NotAvailableError as exc:
        raise HTTPException(503, str(exc)) from None
    except TunnelError as exc:
        raise HTTPException(502, str(exc)) from None
    return {"tunnel_url": url, "already_running": already}


@router.post("/api/tunnel/stop")
async def tunnel_stop(request: Request) -> dict[str, bool]:
    return {"stopped": await server_state(request).tunnel.stop()}
