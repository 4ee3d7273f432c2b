"""The admin rule for ``/api/*``: loopback peer, loopback Host header, and the admin bearer token."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match, Mount, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def is_admin_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def local_address(listen_host: str) -> str | None:
    """The loopback address this computer's own clients (``contop pair``, the desktop app) reach a server bound to
    ``listen_host`` at, or None when the server answers no loopback address and so cannot serve the admin API."""
    if listen_host in ("", "localhost"):
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(listen_host.strip("[]"))
    except ValueError:
        return None
    if ip.is_unspecified:  # all addresses of that family, loopback included
        return "::1" if ip.version == 6 else "127.0.0.1"
    return str(ip) if is_loopback(str(ip)) else None


class OutsideApiMount(Mount):
    """A mount that never takes an ``/api`` path. The phone app is mounted at ``/``, where it would answer every
    path no route claims, ``/api`` ones included (a GET on a POST-only route got the app's 404, a PUT on an unknown
    one its 405 with ``Allow: GET, HEAD``); without it there, the router's JSON 404 and 405 answer them."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if is_admin_path(get_route_path(scope)):
            return Match.NONE, {}
        return super().matches(scope)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> list[str]:
    """The methods some route (mounts aside) serves ``path`` with."""
    allowed = []
    for method in _METHODS:
        probe: Scope = {"type": "http", "path": path, "root_path": "", "method": method}
        if any(not isinstance(r, Mount) and r.matches(dict(probe))[0] is Match.FULL for r in routes):
            allowed.append(method)
    return allowed


class AdminGate:
    """ASGI middleware: every ``/api`` request passes the admin rule before it is routed, so that a stranger learns
    nothing, not even which routes exist: 403 or 401 first, 404 or 405 only then. The routers keep
    ``require_admin`` as a second check. A 405 gets an ``Allow`` header naming every method of its path (the
    router names those of the first route it finds only: ``GET`` for ``PUT /api/settings``'s path)."""

    def __init__(self, app: ASGIApp, admin_token: str, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._admin_token = admin_token
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not is_admin_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # no WebSocket lives under /api
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        try:
            check_admin(
                client[0] if client else None, headers.get("host"), headers.get("authorization"), self._admin_token
            )
        except HTTPException as exc:
            await JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)(scope, receive, send)
            return
        path = get_route_path(scope)

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(allowed_methods(self._routes(), path)).encode()
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*kept, (b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_with_allow)
