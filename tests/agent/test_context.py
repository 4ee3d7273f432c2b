# mypy: disable-error-code="union-attr"
"""The context processors over plain message lists."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai.messages import (
    BinaryContent,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from contop.agent.context import OLD_IMAGE_NOTE, estimate_tokens, fit_budget, keep_newest_image, trim_tool_outputs

pytestmark = pytest.mark.timeout(30)

PNG = BinaryContent(data=b"\x89PNG....", media_type="image/png")


def exchange(i: int, size: int = 10) -> list[ModelRequest | ModelResponse]:
    return [
        ModelResponse(parts=[ToolCallPart("execute_cli", {"command": f"echo {i}"}, tool_call_id=f"c{i}")]),
        ModelRequest(parts=[ToolReturnPart("execute_cli", "x" * size, tool_call_id=f"c{i}")]),
    ]


def test_only_the_newest_image_is_kept_and_the_input_is_untouched() -> None:
    messages: list[Any] = [
        ModelRequest(parts=[UserPromptPart(content=["look", PNG])]),
        ModelResponse(parts=[TextPart("ok")]),
        ModelRequest(parts=[UserPromptPart(content=["again", PNG]), UserPromptPart(content=[PNG])]),
    ]
    out = keep_newest_image(messages)
    assert out[0].parts[0].content == ["look", OLD_IMAGE_NOTE]
    assert out[2].parts[0].content == ["again", OLD_IMAGE_NOTE]
    assert out[2].parts[1].content == [PNG]
    assert messages[0].parts[0].content == ["look", PNG]


def test_long_tool_returns_are_cut() -> None:
    messages: list[Any] = [ModelRequest(parts=[UserPromptPart("go")]), *exchange(1, 20_000), *exchange(2, 100)]
    out = trim_tool_outputs(messages)
    first: Any = out[2].parts[0].content
    assert len(first) < 8_300 and "output cut: 11808 more characters" in first
    assert out[4] is messages[4]


def test_budget_drops_old_turns_then_old_exchanges_keeping_pairs() -> None:
    old_turn = [
        ModelRequest(parts=[UserPromptPart("old")]),
        *exchange(0, 4000),
        ModelResponse(parts=[TextPart("done")]),
    ]
    current: list[Any] = [ModelRequest(parts=[UserPromptPart("new")])]
    for i in range(1, 6):
        current += exchange(i, 4000)
    messages = old_turn + current
    assert estimate_tokens(messages) > 5000
    out = fit_budget(messages, 3000)
    assert estimate_tokens(out) <= 3000 or len(out) == 3
    assert isinstance(out[0], ModelRequest) and "new" in [getattr(p, "content", None) for p in out[0].parts]
    # every tool call still has its return right after it
    for index, message in enumerate(out):
        if isinstance(message, ModelResponse):
            ids = [p.tool_call_id for p in message.parts if isinstance(p, ToolCallPart)]
            returns = [p.tool_call_id for p in out[index + 1].parts if isinstance(p, ToolReturnPart)]
            assert ids == returns
    assert out[-1] is messages[-1]
    assert fit_budget(messages, 10**9) is messages
