"""Runs one python tool of a skill in a process of its own: ``python -m contop.agent.skills.pyrunner REQ RESULT``.

``REQ`` is a JSON file ``{"paths": [...], "tool": name, "params": {...}}``; the first of ``paths`` (the skill's
``scripts/*.py``) with a public function ``tool`` runs it with ``params`` as keyword arguments (a coroutine function
under ``asyncio.run``). ``RESULT`` gets ``{"value": ...}``, ``{"missing": true}``, or ``{"error": ..., "kind": ...}``.
What the tool prints goes to stderr, which the server keeps as the call's output.

The server starts it with the agent's environment (no API keys, no ``CONTOP_*``), so a skill's code never runs inside
the server nor sees its secrets, and a stuck or crashing tool is killed without taking the server with it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
import sys
import traceback
from typing import Any

MAX_TRACE_FRAMES = 5


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


def _call(paths: list[str], tool: str, params: dict[str, Any]) -> dict[str, Any]:
    for path in paths:
        name = "contop_skill_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            return {"error": f"{os.path.basename(path)} failed to load: {type(exc).__name__}: {exc}", "kind": "load"}
        fn = getattr(module, tool, None)
        if fn is None or tool.startswith("_") or not callable(fn):
            continue
        try:
            inspect.signature(fn).bind(**params)
        except TypeError as exc:
            return {"error": f"{tool}: {exc}", "kind": "arguments"}
        except ValueError:  # no signature to check (a builtin): let the call say
            pass
        try:
            value = asyncio.run(fn(**params)) if inspect.iscoroutinefunction(fn) else fn(**params)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt of the tool are its failures too
            return {
                "error": f"{tool} raised {type(exc).__name__}: {exc}",
                "kind": "raised",
                "trace": _trace(exc, paths),
            }
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            value = repr(value)
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
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
