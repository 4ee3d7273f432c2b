# mypy: disable-error-code="union-attr"
"""The context processors over plain message lists."""

from __future__ import annotations

import json
import re
from pathlib import Path
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

from contop.agent.context import (
    MAX_TOOL_OUTPUT_CHARS,
    OLD_IMAGE_NOTE,
    OUTPUT_CUT_KEY,
    SizeCache,
    estimate_tokens,
    fit_budget,
    keep_newest_image,
    trim_tool_outputs,
)
from contop.agent.events import RecordingEvents
from contop.agent.scripted import ScriptedModel, load_script
from contop.tools.cli import MAX_OUTPUT_BYTES, execute_cli
from contop.tools.context import ToolContext
from tests.agent.conftest import Env, run_intent

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


# --- long JSON results keep every field ---------------------------------------------------------------------------

MARKER = re.compile(r"\n\[output cut: (\d+) characters of (\S+) left out here\]\n")


def seen(content: Any) -> str:
    """The text a provider is sent for a tool return with this content."""
    return ToolReturnPart("execute_cli", content, tool_call_id="c").model_response_str()


def trimmed(content: Any) -> Any:
    messages: list[Any] = [ModelRequest(parts=[ToolReturnPart("execute_cli", content, tool_call_id="c")])]
    return trim_tool_outputs(messages)[0].parts[0].content


def assert_cut_in_place(original: str, cut: str, name: str) -> int:
    """``cut`` is ``original``'s beginning and end around one marker that counts exactly what is missing."""
    match = MARKER.search(cut)
    assert match is not None and match.group(2) == name, cut[:200]
    head, tail = cut[: match.start()], cut[match.end() :]
    assert original.startswith(head) and original.endswith(tail)
    omitted = int(match.group(1))
    assert omitted == len(original) - len(head) - len(tail) > 0
    return omitted


async def run_cli(tmp_path: Path, command: str) -> dict[str, Any]:
    ctx = ToolContext(session_id="s", state_dir=tmp_path, home=str(tmp_path), cwd=str(tmp_path))
    return await execute_cli(ctx, command)


async def test_a_long_failing_command_keeps_its_stderr_exit_code_and_note(tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "seq 1 20000; ls /nonexistent")
    assert result["exit_code"] != 0 and "nonexistent" in result["stderr"] and result["truncated"]
    out = trimmed(result)
    text = seen(out)
    assert "No such file or directory" in text and '"exit_code":2' in text.replace(" ", "")
    assert len(json.dumps(out, ensure_ascii=False)) <= MAX_TOOL_OUTPUT_CHARS
    assert set(out) == {*result, OUTPUT_CUT_KEY}
    assert {k: v for k, v in out.items() if k not in ("stdout", OUTPUT_CUT_KEY)} == {
        k: v for k, v in result.items() if k != "stdout"
    }
    omitted = assert_cut_in_place(result["stdout"], out["stdout"], "stdout")
    assert out["stdout"].startswith("1\n2\n3\n") and f"{omitted} characters of stdout" in out[OUTPUT_CUT_KEY]
    assert result["stdout"] == "".join(f"{i}\n" for i in range(1, 20001))[: len(result["stdout"])]  # input untouched


async def test_the_tools_own_truncation_note_reaches_the_model(tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "seq 1 3000000")
    total = sum(len(str(i)) + 1 for i in range(1, 3_000_001))
    assert f"dropped {total - MAX_OUTPUT_BYTES} bytes" in result["note"]
    out = trimmed(result)
    assert f"dropped {total - MAX_OUTPUT_BYTES} bytes" in seen(out)
    assert out["note"] == result["note"] and out["truncated"] is True and out["exit_code"] == 0
    assert_cut_in_place(result["stdout"], out["stdout"], "stdout")


def test_a_huge_stderr_keeps_mostly_its_end_and_stdout_both_ends() -> None:
    stdout = "".join(f"line {i}\n" for i in range(20_000))
    stderr = "".join(f"warning {i}: deprecated\n" for i in range(20_000)) + "Error: the build failed\n"
    result = {"status": "error", "stdout": stdout, "stderr": stderr, "exit_code": 1, "note": ""}
    out = trimmed(result)
    assert "Error: the build failed" in seen(out) and '"exit_code":1' in seen(out).replace(" ", "")
    assert len(json.dumps(out, ensure_ascii=False)) <= MAX_TOOL_OUTPUT_CHARS and out["exit_code"] == 1
    assert_cut_in_place(stdout, out["stdout"], "stdout")
    assert_cut_in_place(stderr, out["stderr"], "stderr")
    assert out["stdout"].startswith("line 0\n") and out["stdout"].endswith("line 19999\n")
    head, tail = MARKER.split(out["stderr"])[::3]
    assert tail.endswith("Error: the build failed\n") and len(tail) > 2 * len(head)


def test_a_result_given_as_json_text_is_cut_the_same_way() -> None:
    result = {"status": "error", "stdout": "x" * 30_000, "stderr": "fatal: no\n", "exit_code": 128, "note": "n"}
    out = trimmed(json.dumps(result))
    assert isinstance(out, str) and '"exit_code": 128' in out and len(out) <= MAX_TOOL_OUTPUT_CHARS
    decoded = json.loads(out)
    assert decoded["stderr"] == "fatal: no\n" and decoded["exit_code"] == 128 and decoded["note"] == "n"
    assert_cut_in_place(result["stdout"], decoded["stdout"], "stdout")


def test_a_result_of_many_short_items_is_cut_as_text() -> None:
    out = trimmed({"files": [f"file{i}.txt" for i in range(3000)], "count": 3000})
    assert isinstance(out, str) and out.startswith('{"files": ["file0.txt"')
    assert "[output cut:" in out and "more characters not shown" in out


def test_a_cut_result_is_made_once_per_part() -> None:
    part = ToolReturnPart("execute_cli", {"stdout": "y\n" * 10_000, "exit_code": 0}, tool_call_id="c")
    messages: list[Any] = [ModelRequest(parts=[part])]
    cache = SizeCache()
    first = trim_tool_outputs(messages, cache=cache)[0].parts[0]
    assert trim_tool_outputs(messages, cache=cache)[0].parts[0] is first
    assert part.content["stdout"] == "y\n" * 10_000


class SeeingModel(ScriptedModel):
    """The scripted model, remembering every message list it was sent whole (the record shortens texts)."""

    def __init__(self, path: Path) -> None:
        super().__init__(load_script(path))
        self.requests: list[list[Any]] = []

    def _next(self, messages: list[Any], info: Any) -> Any:
        self.requests.append(list(messages))
        return super()._next(messages, info)


async def test_the_model_sees_the_end_of_a_long_failing_command(env: Env, events: RecordingEvents) -> None:
    command = "seq 1 30000; echo 'mkfs: /dev/sdz1: no such device' >&2; exit 3"
    path = env.script([{"tool": "execute_cli", "args": {"command": command}}, {"text": "it failed"}])
    model = SeeingModel(path)
    service = env.service()
    service.tool_context("long").cwd = str(env.work)
    await run_intent(service, "format it", events, session_id="long", model=model)
    phone = events.of("tool_result")[0]
    assert phone["exit_code"] == 3 and len(phone["stdout"]) == MAX_OUTPUT_BYTES
    returns = [p for p in model.requests[1][-1].parts if isinstance(p, ToolReturnPart)]
    text = returns[0].model_response_str()
    assert "mkfs: /dev/sdz1: no such device" in text and '"exit_code":3' in text.replace(" ", "")
    assert f"kept the first {MAX_OUTPUT_BYTES} bytes" in text
    assert len(text) <= MAX_TOOL_OUTPUT_CHARS
    view = json.loads(text)
    assert view["stderr"] == "mkfs: /dev/sdz1: no such device\n" and view["exit_code"] == 3
    assert view["truncated"] is True and f"kept the first {MAX_OUTPUT_BYTES} bytes" in view["note"]
    assert view["stdout"].startswith("1\n2\n") and "[output cut:" in view["stdout"] and OUTPUT_CUT_KEY in view
