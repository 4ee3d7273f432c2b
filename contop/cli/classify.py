"""``contop classify``: the security gate as a line filter (CONTRACTS.md §7).

Reads JSON objects (one per line) and writes one decision per line, flushed at once, so another program can
drive it interactively. This module is the only part of the gate that reads the environment and settings.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from contop.core.defaults import (
    DEFAULT_DESTRUCTIVE_PATTERNS,
    DEFAULT_FORBIDDEN_COMMANDS,
    default_restricted_paths,
)
from contop.security.decision import Decision, GateContext, ToolCall

_PLATFORMS = ("posix", "powershell", "cmd")


def register(subparsers: Any) -> None:
    """Add the ``classify`` sub-command to the main CLI's sub-parsers."""
    parser = subparsers.add_parser("classify", help="classify commands or tool calls with the security gate")
    _add_arguments(parser)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--jsonl", action="store_true", help="read one JSON request per line on stdin")
    mode.add_argument("--json", metavar="COMMAND", help="classify one execute_cli command")
    parser.add_argument("--platform", choices=_PLATFORMS, default="posix", help="shell of --json COMMAND")


def run(args: argparse.Namespace) -> int:
    base = base_context(os.environ)
    if args.json is not None:
        request = {"command": args.json, "platform": args.platform}
        _write(sys.stdout, handle(request, base))
        return 0
    # What exists once the gate has judged one line (its modules, caches, compiled patterns) lives as long as
    # the filter: out of the collector's reach, a full collection no longer stalls a decision for ~13 ms.
    handle({"command": "cd ~ && ls -la | grep -c x > /dev/null", "platform": "posix"}, base)
    gc.collect()
    gc.freeze()
    serve(sys.stdin, sys.stdout, base)
    return 0


def serve(lines: Iterable[str], out: TextIO, base: GateContext) -> None:
    """One response line per input line, a blank one included (an error, as for invalid JSON): a consumer pairs
    outputs to inputs by their order, and a skipped line would put every later answer against the wrong request."""
    for line in lines:
        if not line.strip():
            _write(out, _error("empty line: each line must be a JSON object"))
            continue
        try:
            request = json.loads(line)
        except ValueError as exc:
            _write(out, _error(f"invalid JSON: {exc}"))
            continue
        except RecursionError:  # nested deeper than the parser goes: one answer, and the next lines still get theirs
            _write(out, _error("invalid JSON: nested too deeply"))
            continue
        try:
            answer = handle(request, base)
        except RecursionError:
            answer = _error("the request is nested too deeply")
        _write(out, answer)


def handle(request: Any, base: GateContext) -> dict[str, Any]:
    """One request object → one response object (errors become a block with an ``error`` field)."""
    from contop.security.gate import decide  # imported on use: bashlex would cost every other command ~1 s

    if not isinstance(request, dict):
        return _error("each line must be a JSON object")
    try:
        call, ctx = _to_call(request, base)
    except ValueError as exc:
        return _error(str(exc))
    started = time.perf_counter()
    decision = decide(call, ctx)
    elapsed = (time.perf_counter() - started) * 1e6
    return _response(decision, elapsed)


def _to_call(request: dict[str, Any], base: GateContext) -> tuple[ToolCall, GateContext]:
    from dataclasses import replace

    cwd = request.get("cwd", base.cwd)
    home = request.get("home", base.home)
    if not isinstance(cwd, str) or not isinstance(home, str):
        raise ValueError("cwd and home must be strings")
    if "command" in request:
        command = request["command"]
        platform = request.get("platform", "posix")
        if not isinstance(command, str):
            raise ValueError("command must be a string")
        if platform not in _PLATFORMS:
            raise ValueError(f"platform must be one of {', '.join(_PLATFORMS)}")
        ctx = replace(base, platform=platform, cwd=cwd, home=home)
        return ToolCall("execute_cli", {"command": command}), ctx
    if "tool" in request:
        tool = request["tool"]
        args = request.get("args", {})
        platform = request.get("platform", "posix")
        if not isinstance(tool, str) or not isinstance(args, dict):
            raise ValueError("tool must be a string and args an object")
        if platform not in ("posix", "windows"):
            raise ValueError("platform of a tool call must be posix or windows")
        ctx = replace(base, cwd=cwd, home=home, windows_paths=platform == "windows")
        if tool == "execute_cli" and isinstance(args.get("platform"), str) and args["platform"] in _PLATFORMS:
            ctx = replace(ctx, platform=args["platform"])
        return ToolCall(tool, args), ctx
    raise ValueError('a request needs "command" or "tool"')


def base_context(environ: os._Environ[str] | dict[str, str]) -> GateContext:
    """Defaults, the home directory, the state directory, TMPDIR and the user's lists from settings.json."""
    home = environ.get("HOME") or os.path.expanduser("~")
    state_dir = environ.get("CONTOP_HOME") or os.path.join(home, ".contop")
    restricted: list[str] = default_restricted_paths(state_dir)
    forbidden: list[str] = list(DEFAULT_FORBIDDEN_COMMANDS)
    destructive: list[str] = list(DEFAULT_DESTRUCTIVE_PATTERNS)
    settings = _read_settings(os.path.join(state_dir, "settings.json"))
    restricted = _string_list(settings.get("restricted_paths"), restricted)
    forbidden = _string_list(settings.get("forbidden_commands"), forbidden)
    destructive = _string_list(settings.get("destructive_patterns"), destructive)
    return GateContext(
        cwd=os.getcwd(),
        home=home,
        state_dir=state_dir,
        restricted_paths=tuple(restricted),
        forbidden_commands=tuple(forbidden),
        destructive_patterns=tuple(destructive),
        tmpdir=environ.get("TMPDIR", ""),  # as the server judges '$TMPDIR': the agent's shell inherits it
    )


def _read_settings(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _string_list(value: Any, default: list[str]) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return default


def _response(decision: Decision, elapsed_us: float) -> dict[str, Any]:
    return {
        "decision": decision.verdict,
        "route": decision.route,
        "confirm": decision.confirm,
        "reason": decision.reason,
        "elapsed_us": round(elapsed_us, 1),
    }


def _error(message: str) -> dict[str, Any]:
    response = _response(Decision.block("the request could not be read"), 0.0)
    response["error"] = message
    return response


def _write(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="contop classify", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
