"""What every command shares: the state directory and server address, read from arguments and environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contop.server.statedir import ServerInfo, StateDir

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


@dataclass(frozen=True)
class AdminAddress:
    """Where the admin API of the server using a state directory is asked: ``host:port`` for a URL."""

    where: str
    port: int
    holder: ServerInfo | None  # the server holding the state directory, as its lock file says


def admin_address(port_arg: int | None, env: Mapping[str, str], state_dir: StateDir) -> AdminAddress | str:
    """The loopback address of the server using ``state_dir``, the only one its admin token is ever sent to: the
    port that server says it listens on (``server.lock``), which ``port_arg`` or ``CONTOP_PORT`` must match when
    given. A string says why it cannot be asked: whatever else answers on a port (a server of another state
    directory, any program) must not receive the token."""
    from contop.server.admin import local_address
    from contop.server.statedir import running_server

    holder = running_server(state_dir)
    if holder is None:
        return f"no Contop server is running with {state_dir.root}; start it with `contop serve` (with the same --home)"
    if not holder.port:
        return f"the Contop server using {state_dir.root} ({holder.where()}) is still starting; try again in a moment"
    port = holder.port if port_arg is None and not env.get("CONTOP_PORT") else port_from(port_arg, env)
    if port != holder.port:
        return (
            f"the Contop server using {state_dir.root} ({holder.where()}) does not listen on port {port}: "
            f"use --port {holder.port}, or the --home of the server on port {port}"
        )
    local = local_address(holder.host)
    if local is None:
        return (
            f"the Contop server using {state_dir.root} ({holder.where()}) does not listen on this computer's "
            "loopback address, and only that address is served the admin API. Restart it with --host 0.0.0.0 "
            "(all addresses, the default) or --host 127.0.0.1"
        )
    return AdminAddress(f"[{local}]:{port}" if ":" in local else f"{local}:{port}", port, holder)


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
