"""Fake ``claude``, ``gemini`` and ``codex`` executables for the proxy tests, written as small Python scripts.

Each prints what its real CLI prints in non-interactive mode (Claude Code ``-p --output-format json|stream-json|
text``, Gemini CLI ``--output-format json``, Codex ``exec --json`` JSONL events), and its error shapes. What a
call answers comes from a JSON script file (``FAKE_CLI_SCRIPT``: a list of steps, taken in order, the last one
repeating); every call's argv, stdin and pid (and its helper child's) are recorded in
``FAKE_CLI_RECORD``/call-N.json.

A step: ``{"reply": "...", "fail": "auth"|"rate"|"crash", "sleep": seconds, "ignore_term": true, "child": true}``.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

FAKE_SOURCE = r"""
import json, os, signal, subprocess, sys, time

PROVIDER = __PROVIDER__


def next_step():
    steps = json.loads(open(os.environ["FAKE_CLI_SCRIPT"]).read())
    rec = os.environ["FAKE_CLI_RECORD"]
    os.makedirs(rec, exist_ok=True)
    n = len([f for f in os.listdir(rec) if f.startswith("call-")])
    return n, steps[min(n, len(steps) - 1)], rec


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")


def main():
    argv = sys.argv[1:]
    data = sys.stdin.buffer.read()
    n, step, rec = next_step()
    if step.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record = {"argv": argv, "stdin": data.decode("utf-8", "surrogateescape"), "pid": os.getpid()}
    if step.get("child"):
        # a grandchild in the same process group, as a real CLI's helper processes would be
        child = subprocess.Popen([sys.executable, "-c", "import time,signal;signal.signal(signal.SIGTERM,"
                                  "signal.SIG_IGN);time.sleep(600)", "fake-cli-child", rec])
        record["child_pid"] = child.pid
    with open(os.path.join(rec, f".call-{n}.tmp"), "w") as fh:
        json.dump(record, fh)
    os.replace(fh.name, os.path.join(rec, f"call-{n}.json"))  # whole, for a test polling for it
    time.sleep(step.get("sleep", 0))
    reply = step.get("reply", "ok")
    fail = step.get("fail")
    usage_in, usage_out = 120, 30
    if PROVIDER == "anthropic":
        fmt = argv[argv.index("--output-format") + 1] if "--output-format" in argv else "text"
        if fail == "auth":
            msg = "Invalid API key · Please run /login"
        elif fail == "rate":
            msg = "Claude AI usage limit reached|1767225600"
        else:
            msg = None
        if fail == "crash":
            sys.stderr.write("Error: something broke inside\n")
            sys.exit(3)
        result = {
            "type": "result", "subtype": "success", "is_error": msg is not None, "duration_ms": 1200,
            "duration_api_ms": 1100, "num_turns": 1, "result": msg or reply, "session_id": "3f6c-fake",
            "total_cost_usd": 0.0012,
            "usage": {"input_tokens": usage_in, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": usage_out, "service_tier": "standard"},
        }
        if fmt == "json":
            emit(result)
        elif fmt == "stream-json":
            emit({"type": "system", "subtype": "init", "session_id": "3f6c-fake", "model": "claude-sonnet-4-5",
                  "tools": [], "cwd": os.getcwd()})
            if msg is None:
                emit({"type": "assistant", "session_id": "3f6c-fake", "message": {"id": "msg_1", "type": "message",
                      "role": "assistant", "content": [{"type": "text", "text": reply}]}})
            emit(result)
        else:
            sys.stdout.write((msg or reply) + "\n")
        sys.exit(1 if msg else 0)
    if PROVIDER == "gemini":
        if fail == "crash":
            sys.stderr.write("Error: something broke inside\n")
            sys.exit(1)
        if fail in ("auth", "rate"):
            message = ("Please set an Auth method in your settings.json or login with Google" if fail == "auth"
                       else "Quota exceeded for quota metric 'Gemini requests per day' (429 RESOURCE_EXHAUSTED)")
            emit({"error": {"type": "Error", "message": message, "code": 1}})
            sys.exit(1)
        emit({"response": reply, "stats": {"models": {"gemini-2.5-pro": {
            "api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 900},
            "tokens": {"prompt": usage_in, "candidates": usage_out, "total": usage_in + usage_out, "cached": 0,
                       "thoughts": 0, "tool": 0}}},
            "tools": {"totalCalls": 0}, "files": {"totalLinesAdded": 0, "totalLinesRemoved": 0}}})
        sys.exit(0)
    # codex exec --json
    emit({"type": "thread.started", "thread_id": "0199-fake"})
    emit({"type": "turn.started"})
    if fail == "crash":
        sys.stderr.write("Error: something broke inside\n")
        sys.exit(1)
    if fail in ("auth", "rate"):
        message = ("unexpected status 401 Unauthorized: please run codex login" if fail == "auth"
                   else "You've hit your usage limit. Try again later.")
        emit({"type": "error", "message": message})
        emit({"type": "turn.failed", "error": {"message": message}})
        sys.exit(1)
    emit({"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Thinking**"}})
    emit({"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": reply}})
    emit({"type": "turn.completed", "usage": {"input_tokens": usage_in, "cached_input_tokens": 0,
                                              "output_tokens": usage_out}})


main()
"""

NAMES = {"anthropic": "claude", "gemini": "gemini", "openai": "codex"}


def install_fake(bin_dir: Path, provider: str) -> Path:
    """Write the fake CLI of ``provider`` into ``bin_dir`` (made executable) and return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / NAMES[provider]
    source = FAKE_SOURCE.replace("__PROVIDER__", repr(provider))
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def path_with(bin_dir: Path) -> str:
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
