"""``ApiClient`` checks, once connected and before it sends a byte, that the server's process holds the other end.

The check before each request (``not_serving``) can pass just before the server dies and another program takes its
port; these tests put a program on the port in exactly that instant, with a ``not_serving`` that swaps them.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from contop.desktop.api import (
    PEER_CHECK_SUPPORTED,
    ApiClient,
    ServerNotRunning,
    find_socket,
    parse_proc_address,
    socket_endpoint,
)
from contop.testing.server import ServerProcess

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not PEER_CHECK_SUPPORTED, reason="the connection's other end is found in Linux's /proc"),
]


class RawSquatter:
    """Another program on a port (``port`` 0: any free one). It keeps every byte it is sent and answers each
    request head with a healthy-looking 200, as a program that wants to be believed would."""

    def __init__(self, port: int = 0) -> None:
        self.received = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        # create_server sets SO_REUSEADDR on POSIX: the killed server's connections left in TIME_WAIT do not keep
        # the port from a new listener.
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = int(self._listener.getsockname()[1])
        self._threads = [threading.Thread(target=self._accept, name="squatter", daemon=True)]

    def __enter__(self) -> RawSquatter:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        body = b'{"status": "healthy"}'
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body),
            body,
        )
        conn.settimeout(5)
        seen = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self.received += data
                seen += data
                while b"\r\n\r\n" in seen:
                    _head, seen = seen.split(b"\r\n\r\n", 1)
                    conn.sendall(answer)


class Silent:
    """A listening socket that never accepts: connections to it complete, and nobody owns their other end."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=8)
        self.port = int(self.listener.getsockname()[1])

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()


def _client(server: ServerProcess, port: int | None = None, **kwargs: object) -> ApiClient:
    pid = server.proc.pid if server.proc else None
    url = server.base_url if port is None else f"http://127.0.0.1:{port}"
    return ApiClient(url, lambda: server.admin_token, server_pid=lambda: pid, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "::", "::1"])
def test_the_apps_own_server_is_asked_and_kept_alive_connections_are_reused(tmp_path: Path, host: str) -> None:
    # "::" is a dual-stack server: the IPv4 connection is an IPv6 socket (::ffff:127.0.0.1) on its side.
    with ServerProcess(tmp_path / "home", host=host) as server:
        api = _client(server)
        try:
            assert api.health()["status"] == "healthy"
            started = time.perf_counter()
            for _ in range(20):
                assert "video_fps" in api.get_settings()
            assert time.perf_counter() - started < 5  # the check is per connection, not per request
        finally:
            api.close()


def test_a_program_that_takes_the_port_between_the_check_and_the_connect_is_sent_nothing(
    server: ServerProcess,
) -> None:
    port, token = server.port, server.admin_token
    squatters: list[RawSquatter] = []

    def check_then_lose_the_server() -> None:
        # The check passes, and then, before the connect, the server dies and another program takes its port.
        if not squatters:
            server.stop(signal.SIGKILL)
            squatters.append(RawSquatter(port).__enter__())

    api = _client(server, not_serving=lambda: check_then_lose_the_server())
    try:
        try:
            api.get_settings()
            refused: ServerNotRunning | None = None
        except ServerNotRunning as exc:
            refused = exc
    finally:
        api.close()
        for squatter in squatters:
            squatter.__exit__()
    [squatter] = squatters
    assert squatter.connections >= 1  # the client did connect to it: only the check after connecting stops it
    assert token.encode() not in squatter.received
    assert bytes(squatter.received) == b""
    assert refused is not None and f"another program holds port {port}" in str(refused)


def test_another_program_on_the_port_while_the_server_lives_is_sent_nothing(server: ServerProcess) -> None:
    with RawSquatter() as squatter:
        api = _client(server, port=squatter.port)
        try:
            with pytest.raises(ServerNotRunning, match="another program holds port"):
                api.pair()
            with pytest.raises(ServerNotRunning):
                api.health()
        finally:
            api.close()
    assert squatter.connections == 2
    assert bytes(squatter.received) == b""


def test_a_connection_nobody_accepts_is_given_up_without_sending(server: ServerProcess) -> None:
    with Silent() as silent:
        api = _client(server, port=silent.port, timeout=1.0)
        try:
            started = time.monotonic()
            with pytest.raises(ServerNotRunning, match="did not accept the connection"):
                api.health()
            assert time.monotonic() - started < 5
        finally:
            api.close()
        silent.listener.settimeout(2)
        conn, _ = silent.listener.accept()  # the connection the client gave up on, still queued
        with conn:
            conn.settimeout(2)
            assert conn.recv(65536) == b""  # closed by the client, with nothing sent


@pytest.mark.skipif(sys.byteorder != "little", reason="the lines below are as a little-endian kernel prints them")
def test_proc_net_tcp_lines_are_read() -> None:
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    v4 = header + (
        "   0: 0100007F:926B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4253935 1 0 100\n"
        "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 20\n"
        "   2: 0100007F:1F90 0100007F:C351 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0 20\n"
    )
    loop4 = ipaddress.ip_address("127.0.0.1")
    assert parse_proc_address("0100007F:1F90") == (loop4, 8080)
    assert find_socket(v4, (loop4, 8080), (loop4, 50000)) == (0x01, 777)
    assert find_socket(v4, (loop4, 8080), (loop4, 50001)) == (0x01, 0)  # not accepted yet: nobody owns it
    assert find_socket(v4, (loop4, 8080), (loop4, 50002)) is None
    assert find_socket(v4, (ipaddress.ip_address("127.0.0.2"), 8080), (loop4, 50000)) is None

    v6 = header + (
        "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:C350 01 00000000:00000000"
        " 00:00000000 00000000     0        0 4242 1 0 20\n"
        # a dual-stack server's end of an IPv4 connection: ::ffff:127.0.0.1
        "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:C351 01 00000000:00000000"
        " 00:00000000 00000000     0        0 4343 1 0 20\n"
        "   2: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000"
        " 00:00000000 00000000     0        0 99 1 0 20\n"
    )
    loop6 = ipaddress.ip_address("::1")
    assert parse_proc_address("00000000000000000000000001000000:1F90") == (loop6, 8080)
    assert parse_proc_address("B80D0120000000000000000001000000:0050") == (ipaddress.ip_address("2001:db8::1"), 80)
    assert find_socket(v6, (loop6, 8080), (loop6, 50000)) == (0x01, 4242)
    # The mapped address compares as the IPv4 address the client's own socket reports.
    assert parse_proc_address("0000000000000000FFFF00000100007F:1F90") == (loop4, 8080)
    assert find_socket(v6, (loop4, 8080), (loop4, 50001)) == (0x01, 4343)
    assert socket_endpoint(("::ffff:127.0.0.1", 8080, 0, 0)) == (loop4, 8080)
    assert socket_endpoint(("fe80::1%eth0", 80, 0, 2)) == (ipaddress.ip_address("fe80::1"), 80)
