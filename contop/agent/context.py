"""What the model is sent: only the newest image, long tool outputs cut, history kept under a token budget.

Applied to each request only (the run's own history keeps everything until the sessions store strips images).
The functions are pure over message lists; ``ContextPolicy`` plugs them into pydantic-ai before every attempt.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import (
    BinaryContent,
    ImageUrl,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestContext
from pydantic_ai.tools import RunContext

from contop.agent.history import starts_turn

OLD_IMAGE_NOTE = "[an older screenshot/image was here; only the newest image is kept]"
NO_VISION_NOTE = "[an image was here; this model cannot see images: use text tools such as the accessibility tree]"
MAX_TOOL_OUTPUT_CHARS = 8 * 1024
IMAGE_TOKENS = 1_500  # what one image costs a provider, roughly, whatever its base64 size
DROPPED_NOTE = "[earlier steps were dropped to fit the model's context window]"


def _is_image(item: Any) -> bool:
    return isinstance(item, ImageUrl) or (isinstance(item, BinaryContent) and item.is_image)


def _image_slots(messages: Sequence[ModelMessage]) -> list[tuple[int, int, int]]:
    """(message, part, item) positions of every image, oldest first."""
    slots: list[tuple[int, int, int]] = []
    for m, message in enumerate(messages):
        if not isinstance(message, ModelRequest):
            continue
        for p, part in enumerate(message.parts):
            content = getattr(part, "content", None)
            if isinstance(part, (UserPromptPart, ToolReturnPart)) and isinstance(content, list):
                slots.extend((m, p, i) for i, item in enumerate(content) if _is_image(item))
    return slots


def keep_newest_image(messages: list[ModelMessage]) -> list[ModelMessage]:
    """Replace every image but the newest with a short note (new message objects; the input is untouched)."""
    return _replace_images(messages, _image_slots(messages)[:-1], OLD_IMAGE_NOTE)


def strip_images(messages: list[ModelMessage]) -> list[ModelMessage]:
    """Replace every image with a note, for models without vision (a subscription CLI takes text only)."""
    return _replace_images(messages, _image_slots(messages), NO_VISION_NOTE)


def _replace_images(messages: list[ModelMessage], slots: list[tuple[int, int, int]], note: str) -> list[ModelMessage]:
    if not slots:
        return messages
    out = list(messages)
    by_part: dict[tuple[int, int], set[int]] = {}
    for m, p, i in slots:
        by_part.setdefault((m, p), set()).add(i)
    for (m, p), items in by_part.items():
        message = out[m]
        assert isinstance(message, ModelRequest)
        parts: list[Any] = list(message.parts)
        part = parts[p]
        content = [note if i in items else item for i, item in enumerate(part.content)]
        parts[p] = dataclasses.replace(part, content=content)
        out[m] = dataclasses.replace(message, parts=parts)
    return out


def _text_size(content: Any) -> str:
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(content)


class SizeCache:
    """Text of parts already measured, by identity (history parts do not change once made; the cache holds
    them, so an id is never reused while cached). Keeps per-request work small on long runs."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[Any, str]] = {}

    def text(self, part: Any, content: Any) -> str:
        key = id(part)
        hit = self._items.get(key)
        if hit is not None and hit[0] is part:
            return hit[1]
        text = _text_size(content)
        self._items[key] = (part, text)
        return text


def trim_tool_outputs(
    messages: list[ModelMessage], limit: int = MAX_TOOL_OUTPUT_CHARS, cache: SizeCache | None = None
) -> list[ModelMessage]:
    """Cut tool returns longer than ``limit`` characters (as JSON) and say how much was cut."""
    cache = cache or SizeCache()
    out = list(messages)
    for m, message in enumerate(out):
        if not isinstance(message, ModelRequest):
            continue
        changed = False
        parts: list[Any] = list(message.parts)
        for p, part in enumerate(parts):
            if not isinstance(part, ToolReturnPart) or isinstance(part.content, list):
                continue
            text = cache.text(part, part.content)
            if len(text) <= limit:
                continue
            cut = len(text) - limit
            note = f"\n[output cut: {cut} more characters not shown; ask for a narrower range if you need them]"
            parts[p] = dataclasses.replace(part, content=text[:limit] + note)
            changed = True
        if changed:
            out[m] = dataclasses.replace(message, parts=parts)
    return out


def estimate_tokens(messages: Sequence[ModelMessage], cache: SizeCache | None = None) -> int:
    """chars/4 over the text of every part, plus a flat cost per image."""
    cache = cache or SizeCache()
    chars = 0
    images = 0
    for message in messages:
        for part in message.parts:
            content = getattr(part, "content", None)
            if isinstance(content, list):
                for item in content:
                    if _is_image(item) or isinstance(item, BinaryContent):
                        images += 1
                    else:
                        chars += len(_text_size(item))
            elif content is not None:
                chars += len(cache.text(part, content))
            args = getattr(part, "args", None)
            if args is not None:
                chars += len(args) if isinstance(args, str) else len(cache.text(args, args))
    return chars // 4 + images * IMAGE_TOKENS


def fit_budget(messages: list[ModelMessage], budget_tokens: int, cache: SizeCache | None = None) -> list[ModelMessage]:
    """Drop the oldest whole turns, then the oldest call/return pairs of the current turn, until under budget.

    A pair is a ``ModelResponse`` and the ``ModelRequest`` answering it, so every tool call keeps its return and
    the list still alternates request/response. The current turn's first request and the last exchange stay.
    """
    cache = cache or SizeCache()
    if estimate_tokens(messages, cache) <= budget_tokens:
        return messages
    out = list(messages)
    dropped = False
    # 1. whole earlier turns (previous intents of the session)
    while True:
        starts = [i for i, message in enumerate(out) if starts_turn(message)]
        if len(starts) < 2 or estimate_tokens(out, cache) <= budget_tokens:
            break
        out = out[starts[1] :]
        dropped = True
    # 2. oldest exchanges of the current turn
    while estimate_tokens(out, cache) > budget_tokens and len(out) > 3:
        if isinstance(out[1], ModelResponse) and isinstance(out[2], ModelRequest):
            del out[1:3]
            dropped = True
        else:
            break
    if dropped and out and isinstance(out[0], ModelRequest):
        first = out[0]
        out[0] = dataclasses.replace(first, parts=[UserPromptPart(content=DROPPED_NOTE), *first.parts])
    return out


def prepare_messages(
    messages: list[ModelMessage], budget_tokens: int, cache: SizeCache | None = None, *, vision: bool = True
) -> list[ModelMessage]:
    cache = cache or SizeCache()
    images = keep_newest_image(messages) if vision else strip_images(messages)
    return fit_budget(trim_tool_outputs(images, cache=cache), budget_tokens, cache)


@dataclass
class ContextPolicy(AbstractCapability[Any]):
    """Applies ``prepare_messages`` to every model request (request-only: the run's history is not changed).

    It hooks ``before_model_request``, not ``prepare_model_request``: a run has a single model, and pydantic-ai
    deep-copies every tool definition before each attempt when any capability overrides the latter.
    """

    budget_tokens: int = 100_000
    cache: SizeCache = dataclasses.field(default_factory=SizeCache)
    vision: bool = True  # False: every image is replaced by a note before it reaches the model

    async def before_model_request(
        self, ctx: RunContext[Any], request_context: ModelRequestContext
    ) -> ModelRequestContext:
        request_context.messages = prepare_messages(
            list(request_context.messages), self.budget_tokens, self.cache, vision=self.vision
        )
        return request_context
