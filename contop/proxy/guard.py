"""Who may talk to the proxy. It has no authentication, so a web page the user visits must not reach it: a
foreign ``Host`` (DNS rebinding), a foreign ``Origin`` and a non-JSON POST (a CORS "simple request", sent
without a preflight) are refused before any route runs.

``check_request`` is the pure decision; ``RequestGuard`` is the ASGI middleware that applies it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from contop.proxy.runner import ProxyError

log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"localhost:3456"`` → ``("localhost", 3456)``, ``"[::1]"`` → ``("::1", None)``; None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, sep, port_text = value.partition(":")
        if ":" in port_text:
            return None  # an unbracketed IPv6 address is not a valid Host
        port_text = port_text if sep else None
    if not name:
        return None
    if port_text is None:
        return name, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def loopback_origin(origin: str) -> bool:
    """Whether a browser ``Origin`` is a page served from this machine's loopback (any port)."""
    try:
        parts = urlsplit(origin.strip())
        return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_NAMES
    except ValueError:
        return False


def _forbidden(message: str, code: str) -> ProxyError:
    return ProxyError(403, message, "permission_error", code)


def check_request(
    method: str, host: str | None, origin: str | None, content_type: str | None, port: int | None
) -> ProxyError | None:
    """Why a request must be refused, or None. ``port`` is the one the proxy listens on (None: not known)."""
    parsed = split_host(host) if host is not None else None
    # A Host without a port means the scheme's default one (the proxy speaks plain HTTP).
    if parsed is None or parsed[0] not in LOOPBACK_NAMES or (port is not None and (parsed[1] or 80) != port):
        where = f" on port {port}" if port is not None else ""
        return _forbidden(
            f"the proxy answers only requests addressed to 127.0.0.1, localhost or [::1]{where} "
            f"(the Host header was {host!r})",
            "forbidden_host",
        )
    if origin is not None and not loopback_origin(origin):
        return _forbidden(
            f"the proxy does not answer web pages (Origin {origin!r}): it serves your subscription without "
            "authentication, to programs on this computer only",
            "forbidden_origin",
        )
    if method.upper() in BODY_METHODS:
        media_type = (content_type or "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return ProxyError(
                415,
                f"the request body must be sent as Content-Type: application/json (got {content_type or 'none'!r})",
                "invalid_request_error",
                "unsupported_media_type",
            )
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", []) if k == name]
    if len(values) != 1:
        # Two Host (or Origin, Content-Type) headers: no guessing which one counts; this value passes no check.
        return None if not values else "<several>"
    return bytes(values[0]).decode("latin-1")


class RequestGuard:
    """Answers refused requests itself (OpenAI error shape) without reading their body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        port = server[1] if server and len(server) > 1 and isinstance(server[1], int) else None
        refusal = check_request(
            scope["method"],
            _header(scope, b"host"),
            _header(scope, b"origin"),
            _header(scope, b"content-type"),
            port,
        )
        if refusal is None:
            await self.app(scope, receive, send)
            return
        log.warning("refused %s %r: %s", scope["method"], scope.get("path", ""), refusal.code)
        await JSONResponse(refusal.body(), status_code=refusal.status)(scope, receive, send)
