"""The ``contop`` command: parses arguments and hands over to one subcommand module."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from contop import __version__

# Each module has register(subparsers); those that have not landed in this build are skipped.
COMMANDS = ("serve", "pair", "run", "classify", "audit", "desktop", "proxy", "doctor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contop", description="Self-hosted AI remote control for your desktop.")
    parser.add_argument("--version", action="version", version=f"contop {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"contop.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"contop.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a character the output's encoding lacks is shown as an escape
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
