"""``contop desktop``: the desktop app (PySide6), which runs the server as its sidecar."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Mapping

from contop.cli.common import add_home_argument, port_from, port_type, state_dir_from
from contop.core.errors import ContopError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("desktop", help="the desktop app: pairing QR, devices, settings, proxies")
    p.add_argument("--port", type=port_type, help="server port (default: $CONTOP_PORT or 8000)")
    add_home_argument(p)
    p.set_defaults(func=run)


def display_problem(env: Mapping[str, str], platform: str | None = None) -> str | None:
    """Why no window can be shown here, or None. Windows and macOS always have a display for a logged-in user."""
    if (platform or sys.platform) in ("win32", "darwin"):
        return None
    if env.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return "no display: neither DISPLAY nor WAYLAND_DISPLAY is set (run it inside your desktop session)"


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("PySide6") is None:
        print(
            "contop: error: the desktop app needs PySide6, which is not installed.\n"
            "  Install it with: pip install 'contop[desktop]'",
            file=sys.stderr,
        )
        return 1
    problem = display_problem(os.environ)
    if problem:
        print(f"contop: error: cannot open the desktop app: {problem}", file=sys.stderr)
        return 1
    state_dir = state_dir_from(args.home, os.environ)
    port = port_from(args.port, os.environ)
    try:
        # The server's own check, made before the app writes its logs and the proxies' there: a folder that holds
        # other things and nothing of Contop's (`--home ~` by mistake) is refused, not made private and filled.
        state_dir.ensure()
    except ContopError as exc:
        from contop.desktop.app import refuse  # PySide6 is there (checked above)

        return refuse(str(exc))  # on stderr, and in a dialog for someone who started it from a menu
    from contop.desktop.app import run as run_app

    return run_app(state_dir.root, port)
