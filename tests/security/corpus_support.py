"""Loading the labelled corpus and the contexts it is judged in (shared by the corpus test and the benchmark)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from contop.core.defaults import DEFAULT_DESTRUCTIVE_PATTERNS, DEFAULT_FORBIDDEN_COMMANDS, default_restricted_paths
from contop.security.decision import GateContext, ToolCall

CORPUS_DIR = Path(__file__).parent / "corpus"
FILES = ("posix", "powershell", "cmd", "tools")

POSIX_HOME = "/home/u"
WINDOWS_HOME = "C:\\Users\\u"


def posix_context() -> GateContext:
    state = POSIX_HOME + "/.contop"
    return GateContext(
        cwd=POSIX_HOME + "/proj",
        home=POSIX_HOME,
        state_dir=state,
        restricted_paths=tuple(default_restricted_paths(state)),
        forbidden_commands=DEFAULT_FORBIDDEN_COMMANDS,
        destructive_patterns=DEFAULT_DESTRUCTIVE_PATTERNS,
    )


def windows_context(platform: str = "powershell") -> GateContext:
    state = WINDOWS_HOME + "\\.contop"
    return replace(
        posix_context(),
        cwd=WINDOWS_HOME + "\\proj",
        home=WINDOWS_HOME,
        state_dir=state,
        restricted_paths=tuple(default_restricted_paths(state)),
        platform=platform,  # type: ignore[arg-type]
        windows_paths=True,
    )


def load(name: str) -> list[dict[str, Any]]:
    path = CORPUS_DIR / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def call_and_context(entry: dict[str, Any]) -> tuple[ToolCall, GateContext]:
    if "command" in entry:
        platform = entry["platform"]
        ctx = posix_context() if platform == "posix" else windows_context(platform)
        return ToolCall("execute_cli", {"command": entry["command"]}), ctx
    ctx = windows_context("posix") if entry.get("platform") == "windows" else posix_context()
    if entry.get("platform") == "windows":
        ctx = replace(ctx, platform="posix", windows_paths=True)
    return ToolCall(entry["tool"], entry.get("args", {})), ctx


def category(entry: dict[str, Any]) -> str:
    return f"{entry['expect']}{'/tricky' if entry.get('tricky') else ''}"
