"""A stand-in for ``contop proxy PROVIDER --port P``: serves ``GET /health`` until killed.

``--exit-after S`` makes it crash (exit code 3) after S seconds, to exercise the watchdog.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("provider")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--exit-after", type=float, default=0.0)
    args = parser.parse_args()

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status": "ok"}'
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *fmt_args: object) -> None:
            print(f"{args.provider}: {format % fmt_args}", flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Health)
    print(f"fake {args.provider} proxy on {args.port}", flush=True)
    if args.exit_after:
        threading.Timer(args.exit_after, os._exit, args=(3,)).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
