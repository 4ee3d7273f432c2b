"""``ApiClient``: the desktop app's only way to talk to the server (loopback HTTP with the admin token).

Every method blocks, so the Qt code calls them from worker threads (see ``contop.desktop.tasks``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


class ApiError(Exception):
    """The server answered with an error status, or could not be reached (``status`` 0)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class NotAvailable(ApiError):
    """The endpoint exists but its feature has not landed in this build (503 "... not available yet")."""


class Unreachable(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(0, detail)


class ServerNotRunning(Unreachable):
    """Nothing was sent: the app's own server does not hold the port, so whatever answers there is not it."""


# The server (uvicorn) closes a connection after 5 s without a request, and httpx keeps one for 5 s by default: a
# request sent on a connection in its last moments meets the server closing it. Dropping idle connections well
# before the server does avoids that race; the single retry below covers what is left of it.
KEEPALIVE_EXPIRY_S = 2.0
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_CONNECTION_LOST = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def worth_retrying(method: str, exc: httpx.HTTPError) -> bool:
    """Whether a request that failed with ``exc`` is sent once more, on a new connection.

    Only when the connection was closed or reset under it (not a refused connection or a timeout: the server is
    then down or busy, and asking again only delays the message), and only for methods that may be repeated
    safely: a POST the server did receive could take effect twice.
    """
    return method.upper() in IDEMPOTENT and isinstance(exc, _CONNECTION_LOST)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else str(detail)
    return str(body)[:300]


def _error_for(response: httpx.Response) -> ApiError:
    detail = _detail(response)
    if response.status_code == 503 and "not available" in detail.lower():
        return NotAvailable(503, detail)
    return ApiError(response.status_code, detail)


class ApiClient:
    """Admin API of one server. The address and the token are read per request: the sidecar's port is known only
    once it started (port 0 in tests) and the server creates the token on its first start.

    ``not_serving`` is asked before every request and says why nothing may be sent (None: go ahead). The app
    passes the sidecar's check that its own server holds the port: while that server is down, another program can
    listen there, and it would be sent the admin token and believed. Every request goes through ``request``, so
    this one check covers them all.
    """

    def __init__(
        self,
        base_url: str | Callable[[], str],
        token: Callable[[], str],
        *,
        timeout: float = 10.0,
        not_serving: Callable[[], str | None] | None = None,
    ) -> None:
        self._base_url = base_url
        self._token = token
        self._not_serving = not_serving
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S))

    @property
    def base_url(self) -> str:
        url = self._base_url() if callable(self._base_url) else self._base_url
        return url.rstrip("/")

    def close(self) -> None:
        self._http.close()

    def _check_serving(self) -> None:
        reason = self._not_serving() if self._not_serving is not None else None
        if reason is not None:
            raise ServerNotRunning(reason)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._check_serving()
        headers = {"Authorization": f"Bearer {self._token()}", **kwargs.pop("headers", {})}
        base = self.base_url
        try:
            try:
                response = self._http.request(method, base + path, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                if not worth_retrying(method, exc):
                    raise
                # httpx dropped the broken connection: this attempt opens a fresh one, to whatever holds the port
                # now, so the server is checked again (it may have died, and another program taken the port).
                self._check_serving()
                response = self._http.request(method, base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"the server at {base} does not answer ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise _error_for(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # --- server and pairing

    def health(self) -> dict[str, Any]:
        return dict(self._json("GET", "/health"))

    def pair(self, connection_type: str = "permanent", *, new: bool = False) -> dict[str, Any]:
        """``new``: replace the code nobody used yet instead of getting it again (the New code button)."""
        params = {"connection_type": connection_type, **({"new": "1"} if new else {})}
        return dict(self._json("POST", "/api/pair", params=params, headers={"Accept": "application/json"}))

    def pair_status(self) -> dict[str, Any]:
        return dict(self._json("GET", "/api/pair/status"))

    def revoke(self, device_id: str) -> None:
        self.request("DELETE", "/api/pair", params={"device_id": device_id})

    def devices(self, since: str | None = None) -> dict[str, Any]:
        params = {"since": since} if since else None
        return dict(self._json("GET", "/api/devices", params=params))

    def connection_info(self) -> dict[str, Any]:
        return dict(self._json("GET", "/api/connection-info"))

    def tunnel_start(self) -> dict[str, Any]:
        # cloudflared can take a while to publish its URL.
        return dict(self._json("POST", "/api/tunnel/start", timeout=60))

    # --- settings

    def get_settings(self) -> dict[str, Any]:
        return dict(self._json("GET", "/api/settings"))

    def put_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return dict(self._json("PUT", "/api/settings", json=settings))

    def reset_settings(self) -> dict[str, Any]:
        return dict(self._json("POST", "/api/settings/reset"))

    def default_prompts(self) -> dict[str, Any]:
        return dict(self._json("GET", "/api/default-prompts"))

    # --- skills

    def skills(self) -> Any:
        return self._json("GET", "/api/skills")

    def skill(self, name: str) -> Any:
        return self._json("GET", f"/api/skills/{name}")

    def save_skill(self, name: str, content: str) -> Any:
        return self._json("PUT", f"/api/skills/{name}", json={"content": content})

    def create_skill(self, name: str, description: str) -> Any:
        """The server writes a starting SKILL.md from the description; ``save_skill`` then replaces it."""
        return self._json("POST", "/api/skills", json={"name": name, "description": description})

    def set_skill_enabled(self, name: str, enabled: bool) -> None:
        self.request("POST", f"/api/skills/{name}/{'enable' if enabled else 'disable'}")

    # --- Away Mode

    def away_mode_status(self) -> dict[str, Any]:
        return dict(self._json("GET", "/api/away-mode/status"))

    def away_pin_endpoint_exists(self) -> bool:
        """Probe ``POST /api/away-mode/pin`` with an empty body: a route that exists refuses it (4xx), never 404."""
        try:
            self.request("POST", "/api/away-mode/pin", json={})
        except NotAvailable:
            return False
        except ApiError as exc:
            return exc.status not in (404, 405)
        return True

    def set_away_pins(self, pin: str, emergency_pin: str | None = None) -> None:
        """``emergency_pin``: None keeps the current one, "" removes it (the server's meaning of both)."""
        body = {"pin": pin} if emergency_pin is None else {"pin": pin, "emergency_pin": emergency_pin}
        self.request("POST", "/api/away-mode/pin", json=body)
