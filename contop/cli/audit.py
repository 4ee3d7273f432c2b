"""``contop audit verify FILE...``: check the hash chain of audit log files.

Exit status 0: every file is intact; 1: a file is not (a line tampered with, or left cut short by a writer that
stopped mid-write); 2: a file could not be read, and none was found not intact.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from contop.security.audit import VerifyResult, verify_file

EXIT_INTACT = 0
EXIT_NOT_INTACT = 1
EXIT_UNREADABLE = 2  # as argparse's bad arguments, and as `cmp` and `diff` say they could not compare


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` command to the main parser's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser("audit", help="inspect the audit log")
    actions = parser.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check that no line of an audit log file was edited, removed or moved (the chain is not keyed: it "
        "cannot show an edit of the last line, lines cut off the end, or an edit whose author also rewrote every "
        "later line's hash); exit status 0 intact, 1 not intact, 2 a file could not be read",
    )
    verify.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    not_intact = unreadable = False
    for path in args.files:
        try:
            result = verify_file(path)
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            unreadable = True
            continue
        print(f"{path}: {describe(result)}")
        not_intact = not_intact or not result.ok
    # A file found not intact matters more than one that could not be read: a script that retries on 2 must not
    # miss it.
    if not_intact:
        return EXIT_NOT_INTACT
    return EXIT_UNREADABLE if unreadable else EXIT_INTACT


def describe(result: VerifyResult) -> str:
    """One line saying what ``verify_file`` found, with where to look."""
    line = result.first_bad_line
    if line is not None:
        hint = ""
        if line == 1 and "start the chain" in result.reason:
            hint = " (lines may have been removed from the start of the file, or line 1 was changed)"
        elif line > 1 and "previous line" in result.reason:
            hint = f" (line {line - 1} was changed, or lines before line {line} were removed or moved)"
        return f"TAMPERED at line {line}: {result.reason}{hint}"
    if result.cut_lines:
        numbers = ", ".join(str(n) for n in result.cut_lines)
        which = f"line {numbers} was" if len(result.cut_lines) == 1 else f"lines {numbers} were"
        still = ", or a server still writing the last line" if result.cut_lines[-1] == result.lines else ""
        return (
            f"CUT SHORT: {which} left unfinished by a writer that stopped mid-write (a crash, a full disk{still}); "
            f"the chain is intact around the cut, but what a cut line held, and whether lines were lost just before "
            f"it, cannot be checked ({result.lines} lines)"
        )
    if result.lines == 0:
        return "OK (empty file: 0 lines)"
    return f"OK ({result.lines} lines, chain intact)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contop")
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["audit", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
