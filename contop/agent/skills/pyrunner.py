"""Runs one python tool of a skill in a process of its own: ``python -m contop.agent.skills.pyrunner REQ RESULT``.

``REQ`` is a JSON file ``{"paths": [...], "tool": name, "params": {...}}``; the first of ``paths`` (the skill's
``scripts/*.py``) that defines a public function ``tool`` at its top level runs it with ``params`` as keyword
arguments (a coroutine function under ``asyncio.run``). A name the script imports is never called, even when the
server asks (it checks the same before). ``RESULT`` gets ``{"value": ...}``, ``{"missing": true}``, or
``{"error": ..., "kind": ...}``, at most ``MAX_RESULT_BYTES``.
What the tool prints goes to stderr, which the server keeps as the call's output.

The server starts it with the agent's environment (no API keys, no ``CONTOP_*``), so a skill's code never runs inside
the server nor sees its secrets, and a stuck or crashing tool is killed without taking the server with it.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeGuard

MAX_TRACE_FRAMES = 5
MAX_RESULT_BYTES = 2**20  # of the JSON answer: the server reads and decodes it whole, and the agent's history keeps it


def _trace(exc: BaseException, paths: list[str]) -> str:
    """The last frames of ``exc``'s traceback that are in the skill's own files: not this runner's, asyncio's or
    those of the libraries the tool called (the author fixes their own code; the message names the error)."""
    folders = {os.path.dirname(os.path.abspath(path)) + os.sep for path in paths}
    own = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if any(os.path.abspath(frame.filename).startswith(folder) for folder in folders)
    ]
    return "".join(traceback.format_list(own[-MAX_TRACE_FRAMES:])).rstrip("\n")


def _declared(path: str) -> list[str]:
    """The public functions ``path`` defines at its top level, read from its text (as the server does)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), filename=path)
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")
    ]


def _own_function(value: Any, module: ModuleType) -> TypeGuard[Callable[..., Any]]:
    """Whether ``value`` is a plain function of ``module`` itself, not one it imported or a builtin."""
    return inspect.isfunction(value) and value.__module__ == module.__name__


def _what(value: Any) -> str:
    """``value`` named for a message: 'subprocess.check_output', 'a str'."""
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    module = getattr(value, "__module__", None)
    if isinstance(name, str):
        return f"{module}.{name}" if isinstance(module, str) else name
    return f"a {type(value).__name__}"


def _encode(result: dict[str, Any]) -> str:
    """``result`` as the JSON the server reads: a value JSON cannot hold as its ``repr``, and one larger than the
    server accepts as an error saying so."""
    try:
        text = json.dumps(result)
    except (TypeError, ValueError):
        text = json.dumps({**result, "value": repr(result.get("value"))})
    if len(text) > MAX_RESULT_BYTES:  # ASCII (json's default escapes the rest): characters are bytes
        size = len(text) / 2**20
        return json.dumps(
            {
                "error": f"the tool returned {size:.1f} MB; only results up to {MAX_RESULT_BYTES // 2**20} MiB are "
                "accepted: return less (write a large result to a file and return its path)",
                "kind": "too_large",
            }
        )
    return text


def _call(paths: list[str], tool: str, params: dict[str, Any]) -> dict[str, Any]:
    if tool.startswith("_"):
        return {"missing": True}
    for path in paths:
        try:
            declared = _declared(path)
        except (OSError, SyntaxError, ValueError) as exc:
            return {"error": f"{os.path.basename(path)} cannot be parsed: {exc}", "kind": "load"}
        if tool not in declared:  # only what the script itself defines is a tool, whatever it imports
            continue
        name = "contop_skill_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            return {"error": f"{os.path.basename(path)} failed to load: {type(exc).__name__}: {exc}", "kind": "load"}
        namespace = vars(module)
        fn = namespace.get(tool)
        if not _own_function(fn, module):
            # defined, then replaced by an import or an assignment: calling it would call someone else's code
            tools = [n for n in declared if _own_function(namespace.get(n), module)]
            return {
                "error": f"{tool} in {os.path.basename(path)} is not a function the script defines (it is "
                f"{_what(fn)}); only functions a skill's scripts define are python tools"
                + (f"; this script's are: {', '.join(tools)}" if tools else ""),
                "kind": "not_a_tool",
            }
        try:
            inspect.signature(fn).bind(**params)
        except TypeError as exc:
            return {"error": f"{tool}: {exc}", "kind": "arguments"}
        try:
            value = asyncio.run(fn(**params)) if inspect.iscoroutinefunction(fn) else fn(**params)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt of the tool are its failures too
            return {
                "error": f"{tool} raised {type(exc).__name__}: {exc}",
                "kind": "raised",
                "trace": _trace(exc, paths),
            }
        return {"value": value}
    return {"missing": True}


def main(argv: list[str]) -> int:
    request_path, result_path = argv
    with open(request_path, encoding="utf-8") as fh:
        request = json.load(fh)
    os.dup2(2, 1)  # the tool's own output, even from C code or child processes, goes to stderr
    sys.stdout = sys.stderr
    result = _call(list(request["paths"]), str(request["tool"]), dict(request["params"]))
    with open(result_path, "w", encoding="utf-8") as fh:
        fh.write(_encode(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
