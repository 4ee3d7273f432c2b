"""``contop pair``: ask the running server for a pairing code (admin API) and print it."""

from __future__ import annotations

import argparse
import json
import os
import sys

import httpx

from contop.cli.common import add_home_argument, admin_address, port_type, state_dir_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("pair", help="print a pairing QR code from the running server")
    p.add_argument("--temp", action="store_true", help="a temporary code (4 hours, not saved)")
    p.add_argument("--json", action="store_true", help="print the pairing as JSON")
    p.add_argument(
        "--port", type=port_type, help="server port (default: $CONTOP_PORT, else the running server's, else 8000)"
    )
    add_home_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contop.server.qr import qr_for

    env = os.environ
    state_dir = state_dir_from(args.home, env)
    try:
        admin_token = state_dir.admin_token.read_text(encoding="ascii").strip()
    except OSError:
        print(
            f"contop: error: no admin token in {state_dir.root}; has `contop serve` run with this --home?",
            file=sys.stderr,
        )
        return 1
    # The server holding this state directory says where it listens: its port is the default here.
    found = admin_address(args.port, env, state_dir)
    if isinstance(found, str):
        print(f"contop: error: {found}", file=sys.stderr)
        return 1
    where, port = found.where, found.port
    kind = "temp" if args.temp else "permanent"
    try:
        response = httpx.post(
            f"http://{where}/api/pair",
            params={"connection_type": kind},
            headers={"Authorization": f"Bearer {admin_token}", "Accept": "application/json"},
            timeout=10,
            trust_env=False,  # straight to the local server: an HTTP_PROXY from the environment never sees the token
        )
    except httpx.HTTPError as exc:
        detail = str(exc).replace(admin_token, "[REDACTED]") if admin_token else str(exc)  # httpx quotes bad headers
        why = f"the Contop server using {state_dir.root} did not answer on {where}: {detail}"
        print(f"contop: error: {why}", file=sys.stderr)
        return 1
    if response.status_code == 401:  # the server read its token at start: admin.token was changed since
        print(
            f"contop: error: the server on port {port} refused the admin token in {state_dir.root}, which changed "
            "after it started; restart it to have it read the file again",
            file=sys.stderr,
        )
        return 1
    if response.status_code != 200:
        print(f"contop: error: the server answered {response.status_code}: {_detail(response)}", file=sys.stderr)
        return 1
    data = response.json()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(qr_for(sys.stdout, data["url"]))
    print()
    print(f"{kind.capitalize()} pairing code, valid until {data['expires_at']}:")
    print(f"  {data['url']}")
    return 0


def _detail(response: httpx.Response) -> str:
    """The server's own sentence (``{"detail": …}``), not its JSON."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else response.text[:200]
