"""What every command shares: the state directory and server address, read from arguments and environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from contop.server.statedir import StateDir

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8000


def state_dir_from(args_home: str | None, env: Mapping[str, str]) -> StateDir:
    raw = args_home or env.get("CONTOP_HOME") or "~/.contop"
    return StateDir(Path(os.path.expanduser(raw)).absolute())


def port_from(value: int | None, env: Mapping[str, str]) -> int:
    if value is not None:
        return value
    raw = env.get("CONTOP_PORT")
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"contop: CONTOP_PORT must be a number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise SystemExit(f"contop: CONTOP_PORT out of range: {port}")
    return port


def port_type(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="state directory (default: $CONTOP_HOME or ~/.contop)")
