"""Shared fixtures of the tool tests: a ToolContext rooted in tmp_path and a real local HTTP server."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contop.tools.context import ToolContext


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    """A context whose home is ``tmp_path/home`` and working directory ``tmp_path/work`` (both created)."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return ToolContext(session_id="test", state_dir=tmp_path / "state", home=str(home), cwd=str(work))


Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class LocalServer:
    """A threading HTTP server on 127.0.0.1; ``routes`` maps a request path to a handler function."""

    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(
        self, path: str, body: bytes, *, status: int = 200, content_type: str = "application/octet-stream"
    ) -> None:
        self.routes[path] = send_bytes(body, status=status, content_type=content_type)

    def serve_stream(self, path: str, chunks: list[bytes], *, pause: float = 0.0) -> None:
        self.routes[path] = stream_chunks(chunks, pause=pause, stop=self.stop)

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        self.routes[path] = redirect(location, status)


def send_bytes(body: bytes, *, status: int = 200, content_type: str = "application/octet-stream") -> Route:
    def handler(req: BaseHTTPRequestHandler) -> None:
        req.send_response(status)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handler


def stream_chunks(chunks: list[bytes], *, pause: float = 0.0, stop: threading.Event | None = None) -> Route:
    """A body without Content-Length, ended by closing the connection; ``pause`` seconds between chunks."""

    def handler(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Connection", "close")
        req.end_headers()
        req.close_connection = True
        for chunk in chunks:
            req.wfile.write(chunk)
            req.wfile.flush()
            if pause and stop is not None and stop.wait(pause):
                return

    return handler


def redirect(location: str, status: int = 302) -> Route:
    def handler(req: BaseHTTPRequestHandler) -> None:
        req.send_response(status)
        req.send_header("Location", location)
        req.send_header("Content-Length", "0")
        req.end_headers()

    return handler


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    server_state: dict[str, LocalServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state = server_state["s"]
            state.requests.append(self.path)
            route = state.routes.get(self.path.split("?", 1)[0])
            try:
                if route is None:
                    send_bytes(b"not found", status=404, content_type="text/plain")(self)
                else:
                    route(self)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client hung up on purpose (size cap, cancellation)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hanging up early is expected here
                super().handle_error(request, client_address)  # type: ignore[arg-type]

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = LocalServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    server_state["s"] = state
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="test-http", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
