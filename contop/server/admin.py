"""The admin rule for ``/api/*``: loopback peer, loopback Host header, and the admin bearer token."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

from contop.server.network import is_loopback

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def host_is_loopback(host_header: str | None) -> bool:
    if not host_header or "@" in host_header or "/" in host_header:
        return False  # userinfo or a path has no place in a Host header
    try:
        hostname = urlsplit(f"//{host_header}").hostname
    except ValueError:
        return False
    if hostname is None:
        return False
    return hostname.lower() in LOOPBACK_HOSTS or (hostname == "::1")


def check_admin(client_host: str | None, host_header: str | None, authorization: str | None, admin_token: str) -> None:
    """Raise 403 for anything not local (including requests through the tunnel), 401 for a bad token."""
    if not is_loopback(client_host) or not host_is_loopback(host_header):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin API is only served to this computer (loopback)")
    scheme, _, supplied = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not supplied:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing admin token (Authorization: Bearer <contents of admin.token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(supplied.strip().encode(), admin_token.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong admin token", headers={"WWW-Authenticate": "Bearer"})


async def require_admin(request: Request) -> None:
    client = request.client.host if request.client else None
    check_admin(
        client,
        request.headers.get("host"),
        request.headers.get("authorization"),
        request.app.state.contop.admin_token,
    )
