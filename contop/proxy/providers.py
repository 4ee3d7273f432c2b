"""The three provider CLIs: how each is invoked non-interactively, how its output is read, how its failures map.

Pure functions over bytes and strings; spawning lives in ``contop.proxy.runner``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

ProviderName = Literal["anthropic", "gemini", "openai"]
PROVIDERS: tuple[ProviderName, ...] = ("anthropic", "gemini", "openai")
DEFAULT_PORTS: dict[str, int] = {"anthropic": 3456, "gemini": 3457, "openai": 3458}

# Anything but a plain model identifier is not passed to the CLI (it would otherwise be read as an option).
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,100}$")
# Gemini CLI reads stdin as context and wants a prompt argument: a fixed one, so no user text is on argv.
GEMINI_INSTRUCTION = "Continue the conversation given on standard input, following its instructions exactly."


@dataclass(frozen=True, slots=True)
class CliSpec:
    provider: ProviderName
    executable: str
    label: str
    install: str  # the command that installs it
    login: str  # what the user runs once to log in
    models: tuple[str, ...]


SPECS: dict[str, CliSpec] = {
    "anthropic": CliSpec(
        "anthropic",
        "claude",
        "Claude Code",
        "npm install -g @anthropic-ai/claude-code",
        "claude",
        ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"),
    ),
    "gemini": CliSpec(
        "gemini",
        "gemini",
        "Gemini CLI",
        "npm install -g @google/gemini-cli",
        "gemini",
        ("gemini-2.5-pro", "gemini-2.5-flash"),
    ),
    "openai": CliSpec(
        "openai",
        "codex",
        "Codex CLI",
        "npm install -g @openai/codex",
        "codex login",
        ("gpt-5", "gpt-5-codex"),
    ),
}


def cli_argv(spec: CliSpec, executable: str, model: str | None) -> list[str]:
    """The argv that runs one non-interactive turn; the prompt itself always goes to stdin."""
    chosen = model if model and _MODEL_RE.match(model) and model not in ("default", "auto") else None
    if spec.provider == "anthropic":
        argv = [executable, "-p", "--output-format", "json"]
        if chosen:
            argv += ["--model", chosen]
        return argv
    if spec.provider == "gemini":
        argv = [executable, "--output-format", "json"]
        if chosen:
            argv += ["-m", chosen]
        return [*argv, "-p", GEMINI_INSTRUCTION]
    argv = [executable, "exec", "--json", "--skip-git-repo-check", "--sandbox", "read-only"]
    if chosen:
        argv += ["-m", chosen]
    return [*argv, "-"]  # "-": read the prompt from stdin


@dataclass(slots=True)
class CliReply:
    """What one CLI run answered: the text, token usage if reported, and an error message if it reported one."""

    text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    error: str = ""


def _json_lines(out: str) -> list[dict[str, Any]]:
    events = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            events.append(value)
    return events


def _whole_json(out: str) -> dict[str, Any] | None:
    text = out.strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(prompt: Any, completion: Any) -> dict[str, int]:
    p, c = _int(prompt), _int(completion)
    if not p and not c:
        return {}
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def parse_output(provider: str, out: str) -> CliReply:
    """The reply in the CLI's JSON output; plain text output is taken as the answer itself."""
    if provider == "anthropic":
        return _parse_claude(out)
    if provider == "gemini":
        return _parse_gemini(out)
    return _parse_codex(out)


def _parse_claude(out: str) -> CliReply:
    # --output-format json prints one result object; stream-json prints events ending with the same result.
    events = _json_lines(out)
    whole = _whole_json(out)
    result = next((e for e in reversed(events) if e.get("type") == "result"), None)
    if result is None and whole is not None and whole.get("type") == "result":
        result = whole
    if result is None:
        texts = [
            block.get("text", "")
            for e in events
            if e.get("type") == "assistant"
            for block in (e.get("message") or {}).get("content") or []
            if isinstance(block, dict) and block.get("type") == "text"
        ]
        return CliReply(text="".join(texts) if texts else out.strip())
    usage = result.get("usage") or {}
    reply = CliReply(
        text=str(result.get("result") or ""),
        usage=_usage(
            _int(usage.get("input_tokens"))
            + _int(usage.get("cache_read_input_tokens"))
            + _int(usage.get("cache_creation_input_tokens")),
            usage.get("output_tokens"),
        ),
    )
    if result.get("is_error") or str(result.get("subtype", "success")) != "success":
        reply.error = reply.text or str(result.get("subtype"))
    return reply


def _parse_gemini(out: str) -> CliReply:
    whole = _whole_json(out)
    if whole is None:
        return CliReply(text=out.strip())
    reply = CliReply(text=str(whole.get("response") or ""))
    error = whole.get("error")
    if isinstance(error, dict):
        reply.error = str(error.get("message") or error)
    elif error:
        reply.error = str(error)
    prompt = completion = 0
    models = (whole.get("stats") or {}).get("models") or {}
    if isinstance(models, dict):
        for stats in models.values():
            tokens = (stats or {}).get("tokens") or {}
            prompt += _int(tokens.get("prompt"))
            completion += _int(tokens.get("candidates"))
    reply.usage = _usage(prompt, completion)
    return reply


def _parse_codex(out: str) -> CliReply:
    events = _json_lines(out)
    if not events:
        return CliReply(text=out.strip())
    reply = CliReply()
    texts: list[str] = []
    for event in events:
        kind = event.get("type")
        item = event.get("item") or {}
        if kind == "item.completed" and item.get("type") == "agent_message":
            texts.append(str(item.get("text") or ""))
        elif kind == "turn.completed":
            usage = event.get("usage") or {}
            reply.usage = _usage(usage.get("input_tokens"), usage.get("output_tokens"))
        elif kind == "turn.failed":
            reply.error = str((event.get("error") or {}).get("message") or "the turn failed")
        elif kind == "error" and not reply.error:
            reply.error = str(event.get("message") or "error")
    reply.text = "\n\n".join(t for t in texts if t)
    return reply


ErrorKind = Literal["auth", "rate_limit", "bad_request", "upstream"]

_AUTH = re.compile(
    r"(not (logged|signed) in|log ?in|/login|unauthori[sz]ed|authenticat|invalid api key|\b401\b|"
    r"(no|missing|invalid|expired|bad) credentials|credentials (are |were )?(not found|missing|invalid|expired)|"
    r"oauth|token (has )?expired)",
    re.I,
)  # not "credentials" alone: Gemini CLI says "Loaded cached credentials." on every run, crash or not
_RATE = re.compile(r"(rate.?limit|\b429\b|quota|usage limit|too many requests|resource.?exhausted|overloaded)", re.I)


def classify_failure(text: str) -> ErrorKind:
    """What kind of failure a CLI's error text describes (the messages differ by CLI and by version)."""
    if _RATE.search(text):
        return "rate_limit"
    if _AUTH.search(text):
        return "auth"
    return "upstream"
