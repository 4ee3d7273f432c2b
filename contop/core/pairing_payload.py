"""The pairing URL the QR code carries: ``http://host:port/#p=<base64url(compact JSON)>`` (CONTRACTS.md §4)."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

PAYLOAD_VERSION = 1
_ALLOWED_KEYS = frozenset({"v", "t", "d", "h", "p", "e", "c", "ts", "s", "i"})
_REQUIRED_KEYS = ("t", "d", "h", "p", "e", "c")
_SIGNALING_SCHEMES = frozenset({"ws", "wss", "http", "https"})
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


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
    # Split as urlsplit does, without parsing the address: one it cannot parse must not hide the payload's reason.
    fragment = url.strip().split("#", 1)[1] if "#" in url else url.strip()
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
    check_addresses(payload)
    return {k: v for k, v in payload.items() if k in _ALLOWED_KEYS}


def check_addresses(payload: dict[str, Any]) -> None:
    """Raise ValueError unless the addresses a client signals to are well formed: ``h`` and ``ts`` a host name or
    an IP address, ``p`` a port, ``s`` a ws/wss/http/https URL without credentials. The payload comes from whoever
    handed out the URL: a host with a path or a port glued to it would otherwise send the token somewhere else
    than the desktop, or crash the client with the token in its message. Messages name the field, never the token."""
    for key, what in (("h", "host"), ("ts", "Tailscale address")):
        if key in payload and not (key == "ts" and payload[key] in (None, "")) and not valid_host(payload[key]):
            raise ValueError(f"the pairing payload's {what} {_shown(payload[key])} is not a host name or IP address")
    port = payload["p"]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"the pairing payload's port {_shown(port)} is not a number from 1 to 65535")
    if payload.get("s") not in (None, ""):
        problem = _signaling_problem(payload["s"])
        if problem:
            raise ValueError(f"the pairing payload's signaling URL {problem}")


def valid_host(host: object) -> bool:
    """A DNS name or an IP address, an IPv6 one with or without brackets (no zone: the phone's interfaces are not
    the desktop's)."""
    if not isinstance(host, str) or not host or len(host) > 253:
        return False
    if host.startswith("[") or ":" in host:
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if "%" in inner or inner.startswith("["):
            return False
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return False
        return True
    try:
        ascii_name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(_LABEL.fullmatch(label) for label in ascii_name.removesuffix(".").split("."))


def _signaling_problem(url: object) -> str | None:
    """Why ``url`` cannot be a signaling address, or None."""
    if not isinstance(url, str):
        return "is not text"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not one
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in _SIGNALING_SCHEMES:
        return "must start with ws://, wss://, http:// or https://"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if not parts.hostname or not valid_host(parts.hostname):
        return "has no valid host"
    if parts.fragment or "#" in url:
        return "must not have a '#' part"
    return None


def _shown(value: object) -> str:
    """A field's value for a message: short, and as the JSON held it."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."
