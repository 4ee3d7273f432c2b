"""A TCP relay in front of a real server that can close a kept-alive connection just as a request arrives on it.

That is what uvicorn does when its keep-alive timeout fires at the moment a client reuses the connection: the
client has sent its request and reads end-of-file instead of a response.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType


class ClosingRelay:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``; ``drop_next()`` arms the close."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0  # accepted from the client
        self.dropped = 0  # requests answered by closing the connection
        self._to_drop = 0
        self._reused_only = True
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._start(self._accept)

    def drop_next(self, count: int = 1, *, reused_only: bool = True) -> None:
        """Close the connection under the next ``count`` requests sent on a connection that was used before (or
        on any connection: a server that accepts and hangs up)."""
        with self._lock:
            self._to_drop += count
            self._reused_only = reused_only

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.connections += 1
                self._sockets += [client, upstream]
            answered = threading.Event()
            self._start(self._requests, client, upstream, answered)
            self._start(self._responses, upstream, client, answered)

    def _take_drop(self, reused: bool) -> bool:
        with self._lock:
            if self._to_drop == 0 or (self._reused_only and not reused):
                return False
            self._to_drop -= 1
            self.dropped += 1
            return True

    def _requests(self, client: socket.socket, upstream: socket.socket, answered: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                # Data after a response is a new request on a reused connection: the one a server may close.
                if self._take_drop(answered.is_set()):
                    break
                upstream.sendall(data)
        except OSError:
            pass
        _shut(client)
        _shut(upstream)

    def _responses(self, upstream: socket.socket, client: socket.socket, answered: threading.Event) -> None:
        try:
            while data := upstream.recv(65536):
                # Set before forwarding: once the client has the answer it may send its next request at once,
                # and that request must be seen as one on a reused connection.
                answered.set()
                client.sendall(data)
        except OSError:
            pass
        _shut(client)
        _shut(upstream)

    def close(self) -> None:
        _shut(self._listener)  # wakes the accept() (closing alone does not on Linux)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)
        for thread in self._threads:
            thread.join(5)
        for sock in sockets:
            sock.close()

    def __enter__(self) -> ClosingRelay:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
