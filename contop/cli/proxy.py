"""``contop proxy PROVIDER``: serve a subscription CLI (Claude Code, Gemini CLI, Codex CLI) as an OpenAI-compatible
model endpoint on loopback, for ``provider_auth.<provider>.mode = "cli_proxy"``."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys

from contop.cli.common import add_home_argument, port_type, state_dir_from
from contop.core.errors import ContopError

LOOPBACK = ("127.0.0.1", "::1", "localhost")
GRACEFUL_STOP_S = 3  # after the CLI calls are ended, for answers still being sent; then their tasks are cancelled


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from contop.proxy.providers import DEFAULT_PORTS, PROVIDERS

    p = subparsers.add_parser("proxy", help="serve a subscription CLI as a local OpenAI-compatible model")
    p.add_argument("provider", choices=PROVIDERS, help="anthropic (claude), gemini (gemini) or openai (codex)")
    ports = ", ".join(f"{k} {v}" for k, v in DEFAULT_PORTS.items())
    p.add_argument("--port", type=port_type, help=f"port on 127.0.0.1 (default: {ports})")
    p.add_argument("--host", default="127.0.0.1", help="loopback address only: 127.0.0.1 (default) or ::1")
    add_home_argument(p)
    p.add_argument("--cli", help="path of the provider's CLI executable (default: looked up on PATH)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds one CLI call may take (default 300)")
    p.add_argument("--max-concurrent", type=int, default=2, help="CLI calls at once (default 2)")
    p.add_argument("--max-queue", type=int, default=8, help="requests waiting beyond those; more get 429 (default 8)")
    p.add_argument("--min-interval", type=float, default=0.5, help="seconds between two CLI starts (default 0.5)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from contop.proxy.app import ProxyServer, create_app
    from contop.proxy.providers import DEFAULT_PORTS, SPECS
    from contop.proxy.runner import CliRunner, Limits

    if args.host not in LOOPBACK:
        print(
            f"contop proxy: error: refusing to listen on {args.host}: the proxy serves your subscription without "
            "authentication, so it listens on loopback only (127.0.0.1 or ::1)",
            file=sys.stderr,
        )
        return 2
    if args.max_concurrent < 1 or args.max_queue < 0 or args.timeout <= 0 or args.min_interval < 0:
        print(
            "contop proxy: error: --max-concurrent ≥ 1, --max-queue ≥ 0, --timeout > 0, --min-interval ≥ 0",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = "127.0.0.1" if args.host == "localhost" else args.host
    port = args.port if args.port is not None else DEFAULT_PORTS[args.provider]
    state_dir = state_dir_from(args.home, os.environ)
    try:
        state_dir.ensure()  # as `contop serve` makes it: 0700, the call logs in it are private
    except ContopError as exc:
        print(f"contop proxy: error: {exc}", file=sys.stderr)
        return 1
    limits = Limits(
        timeout_s=args.timeout,
        max_concurrent=args.max_concurrent,
        max_queue=args.max_queue,
        min_interval_s=args.min_interval,
    )
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        why = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        print(f"contop proxy: error: cannot listen on {host}:{port}: {why}", file=sys.stderr)
        return 1
    spec = SPECS[args.provider]
    runner = CliRunner(spec, limits, args.cli)
    app = create_app(runner, state_dir.root)
    actual = sock.getsockname()[1]
    print(f"contop proxy: {spec.label} as an OpenAI-compatible model at http://{host}:{actual}/v1", flush=True)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=GRACEFUL_STOP_S
    )
    server = ProxyServer(config, runner)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    except SystemExit as stop:
        if stop.code != 0 or not server.started:
            raise
    return 0


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)
