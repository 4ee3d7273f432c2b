"""OpenAI chat requests as one text prompt for a CLI, and tool calls read back out of the CLI's free-text reply.

The CLIs take one prompt and answer with text, so the whole conversation (system prompt, prior turns, tool calls
and their results) is written out, the available functions are described, and a reply holding a JSON tool call is
turned back into OpenAI ``tool_calls``. Pure functions.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any


class RequestError(ValueError):
    """The request cannot be served as sent (400)."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code


IMAGE_REFUSAL = (
    "this model runs through a subscription CLI, which takes text only: images cannot be sent to it "
    "(remove the image parts, or use an API-key model with vision)"
)


def _text_of(content: Any) -> str:
    """A message's content as text; image parts are refused."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("image_url", "image", "input_image") or "image_url" in part:
                raise RequestError(IMAGE_REFUSAL, "images_not_supported")
            if kind == "input_audio" or kind == "file":
                raise RequestError(f"content of type {kind!r} is not supported: text only", "unsupported_content")
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
        return "\n".join(texts)
    raise RequestError("message content must be a string or a list of parts")


def check_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise RequestError("each message must be an object with a 'role'")
        _text_of(m.get("content"))  # refuses images early, before anything is spawned
    return messages


def _tool_names(tools: Any) -> list[str]:
    names = []
    for tool in tools or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.append(fn["name"])
    return names


def describe_tools(tools: list[dict[str, Any]], tool_choice: Any) -> str:
    lines = [
        "## Functions you can call",
        "You cannot run anything yourself; instead, ask for a function call and its result will be sent back to you.",
        "Available functions (name, description, JSON schema of the arguments):",
    ]
    for tool in tools:
        fn = tool.get("function") or {}
        lines.append(
            f"- {fn.get('name')}: {fn.get('description') or ''}\n  parameters: "
            f"{json.dumps(fn.get('parameters') or {}, separators=(',', ':'))}"
        )
    lines += [
        "",
        "To call one or more functions, reply with ONLY this JSON object and nothing else:",
        '{"tool_calls": [{"name": "<function name>", "arguments": {<arguments>}}]}',
        "To answer the user directly, reply with plain text (no JSON).",
    ]
    if tool_choice == "required":
        lines.append("You MUST call at least one function in this reply.")
    elif isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name:
            lines.append(f"You MUST call the function {name} in this reply.")
    return "\n".join(lines)


def build_prompt(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, tool_choice: Any = None) -> str:
    """The whole conversation as one prompt, ending with a cue for the assistant's next turn."""
    system: list[str] = []
    turns: list[str] = []
    for m in messages:
        role = m["role"]
        text = _text_of(m.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        elif role == "user":
            turns.append(f"[user]\n{text}")
        elif role == "assistant":
            body = text
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                body += (
                    f"\n[called function {fn.get('name')} with id {call.get('id')}; "
                    f"arguments: {fn.get('arguments') or '{}'}]"
                )
            turns.append(f"[assistant]\n{body.strip()}")
        elif role in ("tool", "function"):
            ident = m.get("tool_call_id") or m.get("name") or ""
            turns.append(f"[result of function call {ident}]\n{text}")
    parts = []
    if system:
        parts.append("## Instructions\n" + "\n\n".join(system))
    if tools and tool_choice != "none":
        parts.append(describe_tools(tools, tool_choice))
    parts.append(
        "## Conversation so far\n"
        + "\n\n".join(turns)
        + "\n\n## Your task\nWrite the assistant's next reply only (no role label)."
    )
    return "\n\n".join(parts) + "\n"


@dataclass(slots=True)
class ParsedReply:
    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)


def _candidates(text: str) -> list[tuple[int, int, Any]]:
    """Every top-level JSON value in ``text`` (fenced blocks first), with its span."""
    found: list[tuple[int, int, Any]] = []
    decoder = json.JSONDecoder()
    for fence in _FENCE.finditer(text):
        try:
            found.append((fence.start(), fence.end(), json.loads(fence.group(1).strip())))
        except ValueError:
            continue
    covered = [(s, e) for s, e, _ in found]
    i = 0
    while i < len(text):
        if text[i] in "{[" and not any(s <= i < e for s, e in covered):
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                i += 1
                continue
            found.append((i, end, value))
            i = end
        else:
            i += 1
    found.sort(key=lambda f: f[0])
    return found


def _calls_in(value: Any, known: set[str]) -> list[tuple[str, Any]]:
    if isinstance(value, list):
        return [c for v in value for c in _calls_in(v, known)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("tool_calls"), list):
        return _calls_in(value["tool_calls"], known)
    inner = value.get("function")
    fn: dict[str, Any] = inner if isinstance(inner, dict) else value
    name = fn.get("name") or fn.get("tool")
    if not isinstance(name, str) or name not in known:
        return []
    args = fn.get("arguments", fn.get("parameters", fn.get("args", {})))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return []
    if not isinstance(args, dict):
        return []
    return [(name, args)]


def parse_reply(text: str, tools: list[dict[str, Any]] | None) -> ParsedReply:
    """Tool calls found in the reply (JSON anywhere, fenced or not, one or several); the rest stays as text.

    A reply with no usable call (no JSON, unknown function, broken arguments) is a plain text answer.
    """
    known = set(_tool_names(tools))
    if not known:
        return ParsedReply(text.strip())
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    last = 0
    for start, end, value in _candidates(text):
        found = _calls_in(value, known)
        if not found or start < last:
            continue
        kept.append(text[last:start])
        last = end
        for name, args in found:
            calls.append(
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            )
    kept.append(text[last:])
    if not calls:
        return ParsedReply(text.strip())
    return ParsedReply("".join(kept).strip(), calls)
