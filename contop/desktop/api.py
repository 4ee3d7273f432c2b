"""``ApiClient``: the desktop app's only way to talk to the server (loopback HTTP with the admin token).

Every method blocks, so the Qt code calls them from worker threads (see ``contop.desktop.tasks``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
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


# --- who holds the other end of a connection
#
# ``not_serving`` runs before a request: the server can die, and another program take its port, between that check
# and the TCP connect. So on Linux the connection itself is checked, once connected and before a byte is sent on it:
# the server's end of a TCP connection is the socket the server accepted, so it is one of the server's descriptors.
# Windows and macOS have no /proc to ask (and TCP has no SO_PEERCRED): there only the check before the request is
# made, and a program would have to take the port in the instant between it and the connect.

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Endpoint = tuple[IPAddress, int]
PEER_CHECK_SUPPORTED = sys.platform.startswith("linux") and os.path.exists("/proc/net/tcp")
_PROC_NET_TCP = ("/proc/net/tcp", "/proc/net/tcp6")
_ESTABLISHED, _SYN_RECV = 0x01, 0x03
_ACCEPT_WAIT_S = 10.0


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4 client of a dual-stack (IPv6) server socket appears there as ::ffff:a.b.c.d: compare it as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def socket_endpoint(address: Any) -> Endpoint:
    """``getsockname()``/``getpeername()`` of an IPv4 or IPv6 socket as an ``Endpoint``."""
    return _plain(ipaddress.ip_address(str(address[0]).split("%", 1)[0])), int(address[1])


def parse_proc_address(field: str) -> Endpoint:
    """An address column of /proc/net/tcp or tcp6 ("0100007F:1F90" is 127.0.0.1:8080). The kernel prints the
    address as 32-bit words in the machine's own byte order, so each word is packed back in that order."""
    hex_address, hex_port = field.split(":")
    packed = b"".join(struct.pack("=I", int(hex_address[i : i + 8], 16)) for i in range(0, len(hex_address), 8))
    return _plain(ipaddress.ip_address(packed)), int(hex_port, 16)


def find_socket(table: str, local: Endpoint, remote: Endpoint) -> tuple[int, int] | None:
    """The state and inode of the socket of a /proc/net/tcp(6) ``table`` bound to ``local`` and connected to
    ``remote``, or None. Inode 0: nobody owns it yet (a connection the server has not accepted)."""
    local_port, remote_port = f":{local[1]:04X}", f":{remote[1]:04X}"
    for line in table.splitlines()[1:]:
        fields = line.split()
        # The ports first: a busy machine lists thousands of sockets, and decoding an address costs more.
        if len(fields) < 10 or not fields[1].endswith(local_port) or not fields[2].endswith(remote_port):
            continue
        if parse_proc_address(fields[1]) == local and parse_proc_address(fields[2]) == remote:
            return int(fields[3], 16), int(fields[9])
    return None


def _proc_socket(local: Endpoint, remote: Endpoint) -> tuple[int, int] | None:
    # An IPv4 connection to a dual-stack server is an IPv6 socket on the server's side: look in both tables.
    for path in _PROC_NET_TCP:
        try:
            with open(path, encoding="ascii") as fh:
                found = find_socket(fh.read(), local, remote)
        except OSError:
            continue
        if found is not None:
            return found
    return None


def owns_socket(pid: int, inode: int) -> bool:
    """Whether process ``pid`` has the socket ``inode`` among its open descriptors (False once it is gone)."""
    target = f"socket:[{inode}]"
    try:
        with os.scandir(f"/proc/{pid}/fd") as entries:
            for entry in entries:
                try:
                    if os.readlink(entry.path) == target:
                        return True
                except OSError:
                    continue  # a descriptor closed while listed
    except OSError:
        return False
    return False


def peer_problem(sock: socket.socket, pid: int | None, timeout: float = _ACCEPT_WAIT_S) -> str | None:
    """Why nothing may be sent on the connected ``sock`` (its other end is not a socket of process ``pid``), or
    None. The server owns its end only once it accepted the connection: that is waited for, up to ``timeout``."""
    ours, theirs = socket_endpoint(sock.getsockname()), socket_endpoint(sock.getpeername())
    if pid is None:
        return "the server is not running; nothing was sent"
    stranger = f"the server is not running (another program holds port {theirs[1]}); nothing was sent to that port"
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while True:
        found = _proc_socket(theirs, ours)
        if found is not None:
            state, inode = found
            if inode:
                return None if owns_socket(pid, inode) else stranger
            if state not in (_ESTABLISHED, _SYN_RECV):
                return stranger  # closed before anyone accepted it: the server's listening socket is gone
        if time.monotonic() >= deadline:
            return f"the server did not accept the connection on port {theirs[1]} in {timeout:g} s; nothing was sent"
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class PeerCheckingBackend(httpcore.NetworkBackend):
    """httpcore's own blocking backend, but a TCP connection whose other end ``server_pid``'s process does not hold
    is closed before it is used: ``ServerNotRunning`` (not an httpx error) then reaches the caller as is."""

    def __init__(self, server_pid: Callable[[], int | None]) -> None:
        self._inner = httpcore.SyncBackend()
        self._server_pid = server_pid

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            reason = peer_problem(
                stream.get_extra_info("socket"), self._server_pid(), _ACCEPT_WAIT_S if timeout is None else timeout
            )
        except OSError as exc:  # the connection was reset already: a failed connect, as httpx reports one
            stream.close()
            raise httpcore.ConnectError(str(exc)) from exc
        except BaseException:
            stream.close()
            raise
        if reason is not None:
            stream.close()
            raise ServerNotRunning(reason)
        return stream

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _transport(limits: httpx.Limits, backend: httpcore.NetworkBackend | None) -> httpx.HTTPTransport:
    """The client's transport. Given explicitly, it also keeps proxies named in the environment away from the
    admin token (httpx only mounts those on a client built without a transport)."""
    transport = httpx.HTTPTransport(limits=limits)
    if backend is not None:
        # httpx (0.28, 0.29) has no public way to give its transport a network backend (encode/httpx#3749 adds
        # one): its connection pool is replaced by an identical one that has ours.
        transport._pool = httpcore.ConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
    return transport


class ApiClient:
    """Admin API of one server. The address and the token are read per request: the sidecar's port is known only
    once it started (port 0 in tests) and the server creates the token on its first start.

    ``not_serving`` is asked before every request and says why nothing may be sent (None: go ahead). The app
    passes the sidecar's check that its own server holds the port: while that server is down, another program can
    listen there, and it would be sent the admin token and believed. Every request goes through ``request``, so
    this one check covers them all.

    ``server_pid`` names the server's process. On Linux every new connection is then checked once connected, and
    before anything is sent on it: the server must hold its other end (see ``peer_problem``). That closes the
    instant between ``not_serving`` and the connect, in which the server can die and another program take the
    port. A kept-alive connection is checked once, when it is opened.
    """

    def __init__(
        self,
        base_url: str | Callable[[], str],
        token: Callable[[], str],
        *,
        timeout: float = 10.0,
        not_serving: Callable[[], str | None] | None = None,
        server_pid: Callable[[], int | None] | None = None,
    ) -> None:
        self._base_url = base_url
        self._token = token
        self._not_serving = not_serving
        backend = PeerCheckingBackend(server_pid) if server_pid is not None and PEER_CHECK_SUPPORTED else None
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S)
        self._http = httpx.Client(timeout=timeout, transport=_transport(limits, backend))

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

    def away_mode_available(self) -> bool:
        """Whether this build has the Away Mode service (its status, the PIN routes): asked with the status, which
        a server that has it answers. Not with an empty PIN change, which it refuses: that put a 422 in the
        server's log at every start, which reads like an error."""
        try:
            self.away_mode_status()
        except NotAvailable:
            return False
        except ApiError as exc:
            # Any other failure (the server is down, say) is no sign of a build without it: setting the PINs then
            # reports its own error.
            return exc.status not in (404, 405)
        return True

    def set_away_pins(self, pin: str, emergency_pin: str | None = None) -> None:
        """``emergency_pin``: None keeps the current one, "" removes it (the server's meaning of both)."""
        body = {"pin": pin} if emergency_pin is None else {"pin": pin, "emergency_pin": emergency_pin}
        self.request("POST", "/api/away-mode/pin", json=body)
