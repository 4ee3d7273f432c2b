"""The scripted model (CONTRACTS §8): ignores its input and replays a JSON script, for tests and demos.

Items: ``{"tool": NAME, "args": {...}}``, ``{"tools": [{"tool", "args"}, ...]}`` (parallel calls),
``{"thinking": "..."}`` (sent with the next step) and ``{"text": "..."}`` (a reply; ends the run). It can record
what it received (one JSON line per request) so tests can check what reached the model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.messages import (
    BinaryContent,
    ImageUrl,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)
from pydantic_ai.models.function import (
    AgentInfo,
    DeltaThinkingCalls,
    DeltaThinkingPart,
    DeltaToolCall,
    DeltaToolCalls,
    FunctionModel,
)

from contop.core.errors import ConfigError

END_OF_SCRIPT = "The script has no more steps."


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One model response: optional thinking, then either tool calls or a text reply."""

    thinking: str = ""
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    text: str | None = None


@dataclass(slots=True)
class _Cursor:
    steps: list[ScriptStep]
    position: int = 0
    requests: int = 0
    record_path: Path | None = None
    received: list[dict[str, Any]] = field(default_factory=list)


def _call(item: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict) or not isinstance(item.get("tool"), str) or not item["tool"]:
        raise ConfigError(f"{where}: a tool call needs a non-empty string 'tool'")
    args = item.get("args", {})
    if not isinstance(args, dict):
        raise ConfigError(f"{where}: 'args' must be an object")
    return item["tool"], args


def parse_script(data: Any, source: str = "script") -> list[ScriptStep]:
    """Validate a decoded script and group it into model responses; ``ConfigError`` says what is wrong, where."""
    if not isinstance(data, list):
        raise ConfigError(f"{source}: a script is a JSON list of steps")
    steps: list[ScriptStep] = []
    thinking: list[str] = []
    for index, item in enumerate(data):
        where = f"{source} item {index}"
        if not isinstance(item, dict) or len(item.keys() & {"tool", "tools", "thinking", "text"}) != 1:
            raise ConfigError(f"{where}: expected exactly one of 'tool', 'tools', 'thinking', 'text'")
        if "thinking" in item:
            if not isinstance(item["thinking"], str):
                raise ConfigError(f"{where}: 'thinking' must be a string")
            thinking.append(item["thinking"])
            continue
        if "text" in item:
            if not isinstance(item["text"], str):
                raise ConfigError(f"{where}: 'text' must be a string")
            steps.append(ScriptStep("\n".join(thinking), text=item["text"]))
        elif "tools" in item:
            calls = item["tools"]
            if not isinstance(calls, list) or not calls:
                raise ConfigError(f"{where}: 'tools' must be a non-empty list")
            steps.append(ScriptStep("\n".join(thinking), tuple(_call(c, f"{where}.tools") for c in calls)))
        else:
            steps.append(ScriptStep("\n".join(thinking), (_call(item, where),)))
        thinking = []
    if thinking:
        steps.append(ScriptStep("\n".join(thinking), text=END_OF_SCRIPT))
    return steps


def load_script(path: str | Path) -> list[ScriptStep]:
    file = Path(path).expanduser()
    try:
        raw = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"scripted model: cannot read {file}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"scripted model: {file} is not valid JSON: {exc}") from exc
    return parse_script(data, str(file))


def summarize_messages(messages: Sequence[ModelMessage]) -> dict[str, Any]:
    """What a request carried, without the bytes: parts by kind, texts shortened, images counted."""
    parts: list[dict[str, Any]] = []
    images = 0
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            content = getattr(part, "content", None)
            items = content if isinstance(content, list) else [content]
            texts: list[str] = []
            part_images = 0
            for item in items:
                if (isinstance(item, BinaryContent) and item.is_image) or isinstance(item, ImageUrl):
                    part_images += 1
                elif isinstance(item, str):
                    texts.append(item)
                elif item is not None:
                    texts.append(json.dumps(item, default=str))
            images += part_images
            text = " | ".join(texts)
            short = text if len(text) <= 600 else text[:300] + " … " + text[-300:]
            parts.append({"kind": part.part_kind, "images": part_images, "chars": len(text), "text": short})
    return {"parts": parts, "images": images}


class ScriptedModel(FunctionModel):
    """A ``FunctionModel`` that replays a script, streamed or not, and ignores what it is sent."""

    def __init__(self, steps: list[ScriptStep], *, name: str = "script", record_path: str | Path | None = None):
        self._cursor = _Cursor(list(steps), record_path=Path(record_path) if record_path else None)
        super().__init__(self._respond, stream_function=self._stream, model_name=f"scripted:{name}")

    @classmethod
    def from_file(cls, path: str | Path, *, record_path: str | Path | None = None) -> ScriptedModel:
        return cls(load_script(path), name=Path(path).name, record_path=record_path)

    @property
    def received(self) -> list[dict[str, Any]]:
        """One summary per request this model got, when recording (see ``summarize_messages``)."""
        return self._cursor.received

    def _next(self, messages: list[ModelMessage], info: AgentInfo) -> tuple[int, ScriptStep]:
        cursor = self._cursor
        cursor.requests += 1
        if cursor.record_path is not None:  # only when asked: summarising costs time on long histories
            summary = {
                "request": cursor.requests,
                **summarize_messages(messages),
                "tools": sorted(t.name for t in info.function_tools),
            }
            cursor.received.append(summary)
            with cursor.record_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(summary) + "\n")
        if cursor.position >= len(cursor.steps):
            return cursor.requests, ScriptStep(text=END_OF_SCRIPT)
        step = cursor.steps[cursor.position]
        cursor.position += 1
        return cursor.requests, step

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        number, step = self._next(messages, info)
        parts: list[ModelResponsePart] = []
        if step.thinking:
            parts.append(ThinkingPart(content=step.thinking))
        for index, (tool, args) in enumerate(step.calls):
            parts.append(ToolCallPart(tool, args, tool_call_id=f"scripted-{number}-{index}"))
        if step.text is not None:
            parts.append(TextPart(content=step.text))
        return ModelResponse(parts=parts)

    async def _stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls | DeltaThinkingCalls]:
        number, step = self._next(messages, info)
        index = 0
        if step.thinking:
            yield {index: DeltaThinkingPart(content=step.thinking)}
            index += 1
        for offset, (tool, args) in enumerate(step.calls):
            call = DeltaToolCall(name=tool, json_args=json.dumps(args), tool_call_id=f"scripted-{number}-{offset}")
            yield {index + offset: call}
        if step.text is not None:
            words = step.text.split(" ")
            for position, word in enumerate(words):  # streamed word by word, like a real model
                yield word if position == len(words) - 1 else word + " "
