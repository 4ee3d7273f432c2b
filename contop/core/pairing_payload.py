"""The pairing URL the QR code carries: ``http://host:port/#p=<base64url(compact JSON)>`` (CONTRACTS.md §4)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

PAYLOAD_VERSION = 1
_ALLOWED_KEYS = frozenset({"v", "t", "d", "h", "p", "e", "c", "ts", "s", "i"})
_REQUIRED_KEYS = ("t", "d", "h", "p", "e", "c")


def build_payload(
    *,
    token: str,
    fingerprint: str,
    host: str,
    port: int,
    expires_at: str,
    connection_type: str,
    tailscale_ip: str | None = None,
    signaling_url: str | None = None,
    ice_servers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The compact payload. It never carries API keys: every model call runs on the desktop."""
    payload: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "t": token,
        "d": fingerprint,
        "h": host,
        "p": port,
        "e": expires_at,
        "c": connection_type,
    }
    if tailscale_ip:
        payload["ts"] = tailscale_ip
    if signaling_url:
        payload["s"] = signaling_url
    if ice_servers:
        payload["i"] = ice_servers
    return payload


def encode_fragment(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pairing_url(payload: dict[str, Any]) -> str:
    """What the QR holds. A code for the tunnel opens the phone app through the tunnel: a phone away from the
    LAN could not load it from the LAN address, and would never get to try the other addresses."""
    tunnel = urlsplit(str(payload.get("s") or ""))
    if tunnel.scheme == "wss" and tunnel.netloc:
        return f"https://{tunnel.netloc}/#p={encode_fragment(payload)}"
    host = payload["h"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{payload['p']}/#p={encode_fragment(payload)}"


def parse_pairing_url(url: str) -> dict[str, Any]:
    """Decode the payload from a pairing URL (or a bare fragment value); raises ValueError with a reason."""
    fragment = urlsplit(url.strip()).fragment if "#" in url else url.strip()
    value = fragment[2:] if fragment.startswith("p=") else fragment
    if not value or "/" in value or ":" in value:  # an address without its fragment: never base64url
        raise ValueError("the pairing URL has no '#p=' payload: copy the whole URL the desktop shows")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the pairing payload is not valid base64url JSON") from exc
    if not isinstance(payload, dict):
        raise ValueError("the pairing payload is not a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"the pairing payload lacks {', '.join(missing)}")
    return {k: v for k, v in payload.items() if k in _ALLOWED_KEYS}
