"""Issuing a pairing: network detection, the compact payload, the URL and the QR image."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from contop.core.pairing_payload import build_payload, pairing_url
from contop.core.settings import usable_ice_servers
from contop.server import network
from contop.server.pairing import ConnectionType, PairingToken
from contop.server.state import ServerState


@dataclass(frozen=True)
class NetworkInfo:
    lan_ip: str | None
    tailscale_ip: str | None


async def detect_network() -> NetworkInfo:
    # Both may run short subprocesses (ip, tailscale): keep them off the event loop.
    lan, tailscale = await asyncio.gather(asyncio.to_thread(network.lan_ip), asyncio.to_thread(network.tailscale_ip))
    return NetworkInfo(lan, tailscale)


def advertised_host(state: ServerState, net: NetworkInfo) -> str:
    config = state.config
    if config.advertise_host:
        return config.advertise_host
    if config.host not in ("0.0.0.0", "::", ""):
        return config.host  # bound to one address: that is the only one that answers
    return net.lan_ip or "127.0.0.1"


async def payload_for(state: ServerState, tok: PairingToken) -> dict[str, Any]:
    net = await detect_network()
    signaling = None
    if tok.connection_type == "temp" and state.tunnel.url:
        signaling = state.tunnel.url.replace("https://", "wss://", 1).rstrip("/") + "/ws/signaling"
    return build_payload(
        token=tok.token,
        fingerprint=state.dtls.fingerprint,
        host=advertised_host(state, net),
        port=state.config.port,
        expires_at=tok.to_json()["expires_at"],
        connection_type=tok.connection_type,
        tailscale_ip=net.tailscale_ip,
        signaling_url=signaling,
        # The phone makes the offer, so it needs the STUN/TURN servers too (TURN credentials included: they
        # are what lets it relay through the owner's TURN server, and the QR goes only to the owner's phone).
        # An entry the browser would refuse is left out: it would make every connection fail.
        ice_servers=usable_ice_servers(state.settings.get().ice_servers) or None,
    )


async def issue_pairing(
    state: ServerState, connection_type: ConnectionType, device_id: str | None
) -> tuple[PairingToken, dict[str, Any], str]:
    """Raises ``StateDirError`` when the code (a permanent one: on disk before anyone sees it) cannot be saved."""
    tok = await state.pairing.issue_saved(connection_type, device_id)
    payload = await payload_for(state, tok)
    return tok, payload, pairing_url(payload)
