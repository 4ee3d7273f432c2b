"""What the model is sent: only the newest image, long tool outputs cut, history kept under a token budget.

Applied to each request only (the run's own history keeps everything until the sessions store strips images).
The functions are pure over message lists; ``ContextPolicy`` plugs them into pydantic-ai before every attempt.
"""

from __future__ import annotations

import copy
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

# A string field of a tool's JSON result is never cut below this many characters (it would say nothing).
MIN_FIELD_CHARS = 1024
# Room kept for the note the cut adds at the end of the result (``OUTPUT_CUT_KEY``) and each in-place marker.
SUMMARY_ROOM = 300
MARKER_ROOM = 100
OUTPUT_CUT_KEY = "output_cut"
# Of what a cut field keeps, the share taken from its beginning; the rest comes from its end. An error is
# usually at the end of stderr, while a command's output needs both: how it starts and how it ended.
HEAD_SHARE = {"stderr": 0.25}
DEFAULT_HEAD_SHARE = 0.5


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
        self._trims: dict[int, tuple[ToolReturnPart, int, ToolReturnPart]] = {}

    def text(self, part: Any, content: Any) -> str:
        key = id(part)
        hit = self._items.get(key)
        if hit is not None and hit[0] is part:
            return hit[1]
        text = _text_size(content)
        self._items[key] = (part, text)
        return text

    def trimmed(self, part: ToolReturnPart, text: str, limit: int) -> ToolReturnPart:
        """The part ``trim_tool_outputs`` sends instead of ``part`` (``text`` is its JSON), made once: cutting a
        long result costs a few JSON encodings, and every request of the run sends the whole history again."""
        key = id(part)
        hit = self._trims.get(key)
        if hit is not None and hit[0] is part and hit[1] == limit:
            return hit[2]
        made = dataclasses.replace(part, content=_trim(part.content, text, limit))
        self._trims[key] = (part, limit, made)
        return made


Leaf = tuple[str, Any, Any, str]  # path, container, key, value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _leaves(value: Any, path: str) -> list[Leaf]:
    found: list[Leaf] = []
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(item, str):
            found.append((where, value, key, item))
        elif isinstance(item, (dict, list)):
            found.extend(_leaves(item, where))
    return found


def _cut_field(key: Any, label: str, text: str, keep: int) -> tuple[str, int]:
    """``text`` cut to about ``keep`` characters, its beginning and end around a marker naming ``label`` (at line
    ends when one is near), and how many characters were left out."""
    head_size = int(keep * HEAD_SHARE.get(str(key), DEFAULT_HEAD_SHARE))
    tail_size = keep - head_size
    head = text[:head_size]
    tail = text[len(text) - tail_size :] if tail_size > 0 else ""
    newline = head.rfind("\n")
    if newline >= head_size * 3 // 4:  # the marker gets a line of its own: the line break goes with what is left out
        head = head[:newline]
    newline = tail.find("\n")
    if 0 <= newline < tail_size // 4:
        tail = tail[newline + 1 :]
    omitted = len(text) - len(head) - len(tail)
    return f"{head}\n[output cut: {omitted} characters of {label} left out here]\n{tail}", omitted


def shorten_result(value: dict[str, Any], limit: int) -> dict[str, Any] | None:
    """A copy of a tool's JSON result that fits ``limit`` characters, its long strings cut and every field kept.

    ``stdout`` is cut first, then the other long strings, largest first, and the tool's ``note`` last, each only
    as far as needed and never below ``MIN_FIELD_CHARS``. A note at the end says what was cut. None when cutting
    strings cannot make it fit (thousands of short items).
    """
    data = copy.deepcopy(value)  # cutting fields never touches the stored result (strings are shared, not copied)
    budget = limit - SUMMARY_ROOM
    size = len(_dumps(data))
    cuts: list[tuple[str, int]] = []
    floor = MIN_FIELD_CHARS + MARKER_ROOM

    def order(leaf: Leaf) -> tuple[int, int]:
        return (0 if leaf[0] == "stdout" else 2 if leaf[0] == "note" else 1, -len(leaf[3]))

    for path, container, key, text in sorted(_leaves(data, ""), key=order):
        if size <= budget:
            break
        if len(text) <= floor:
            continue
        escaped = len(_dumps(text)) - 2  # newlines and quotes take two characters in JSON
        keep = len(text)
        room = MARKER_ROOM
        omitted = 0
        for _ in range(4):  # JSON escaping is uneven along the text: re-measure and cut a little more
            over = size - budget
            if over <= 0 or keep <= MIN_FIELD_CHARS:
                break
            keep = max(MIN_FIELD_CHARS, keep - -(-(over + room) * len(text) // escaped))
            room = 0
            container[key], omitted = _cut_field(key, path, text, keep)
            size = len(_dumps(data))
        if omitted:
            cuts.append((path, omitted))
    if not cuts:
        return None
    if len(cuts) <= 3:
        what = ", ".join(f"{omitted} characters of {path}" for path, omitted in cuts)
    else:
        what = f"{sum(omitted for _, omitted in cuts)} characters of {len(cuts)} fields"
    data[OUTPUT_CUT_KEY] = (
        f"output cut to fit the model's context: {what} left out where marked; "
        "ask for a narrower range if you need them"
    )
    if len(_dumps(data)) > limit:
        return None
    return data


def _parsed_object(content: Any) -> dict[str, Any] | None:
    """The tool result as a JSON object: a dict, or a string holding one (a result that arrived as text)."""
    if isinstance(content, dict):
        return content
    if isinstance(content, str) and content.startswith("{"):
        try:
            value = json.loads(content)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
    return None


def _trim(content: Any, text: str, limit: int) -> Any:
    """``content`` made to fit ``limit`` characters: a JSON object keeps all its fields, anything else is cut."""
    value = _parsed_object(content)
    if value is not None:
        shortened = shorten_result(value, limit)
        if shortened is not None:
            return shortened if isinstance(content, dict) else _dumps(shortened)
    cut = len(text) - limit
    note = f"\n[output cut: {cut} more characters not shown; ask for a narrower range if you need them]"
    return text[:limit] + note


def trim_tool_outputs(
    messages: list[ModelMessage], limit: int = MAX_TOOL_OUTPUT_CHARS, cache: SizeCache | None = None
) -> list[ModelMessage]:
    """Make tool returns longer than ``limit`` characters (as JSON) fit, and say what was cut.

    A JSON object (``execute_cli``'s result) keeps every field: its long strings are cut in the middle, so the
    model still sees ``stderr``, ``exit_code`` and the tool's own note. Any other result is cut at ``limit``.
    """
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
            parts[p] = cache.trimmed(part, text, limit)
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
