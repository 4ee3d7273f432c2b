"""``contop audit verify FILE...``: check the hash chain of audit log files (exit 0 intact, 1 tampered)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from contop.security.audit import verify_file


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` command to the main parser's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser("audit", help="inspect the audit log")
    actions = parser.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check that no line of an audit log file was edited, removed or moved (the chain is not keyed: it "
        "cannot show an edit of the last line, lines cut off the end, or an edit whose author also rewrote every "
        "later line's hash)",
    )
    verify.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            result = verify_file(path)
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        if result.ok:
            print(f"{path}: OK ({result.lines} lines, chain intact)")
        else:
            line = result.first_bad_line
            hint = ""
            if line and line > 1 and "previous line" in result.reason:
                hint = f" (line {line - 1} was changed, or lines before line {line} were removed or moved)"
            print(f"{path}: TAMPERED at line {line}: {result.reason}{hint}")
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contop")
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["audit", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
