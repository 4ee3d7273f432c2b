"""The model's tools are generated wrappers around the guarded toolset, never the tool functions themselves."""

from __future__ import annotations

import pytest

from contop.agent.toolbridge import args_schema, guarded_tools
from contop.security.enforce import GateLists, GuardedToolset
from contop.tools.registry import all_tools

pytestmark = pytest.mark.timeout(30)


def test_every_model_tool_is_a_wrapper_with_the_tool_schema() -> None:
    functions = all_tools()
    toolset = GuardedToolset(functions, lists=lambda: GateLists())
    tools = {t.name: t for t in guarded_tools(toolset, functions)}
    assert set(tools) == set(functions)
    for name, tool in tools.items():
        assert tool.function is not functions[name]
        assert tool.function.__qualname__.endswith("forward")
        assert tool.description == toolset.doc(name)
    schema = args_schema(functions["execute_cli"], "execute_cli")
    assert "ctx" not in schema["properties"] and "command" in schema["required"]
    assert schema["properties"]["timeout"]["type"] in ("number", "integer")


def test_a_long_step_detail_is_cut_at_a_word_and_says_so() -> None:
    """The phone's step card shows this line: cut mid-word without a mark, it read as the whole message."""
    from contop.agent.toolbridge import clip, describe_outcome
    from contop.security.enforce import ToolOutcome

    message = "Keyboard actions are refused while the desk is locked: " + "the user is away " * 20 + "until unlock."
    detail = describe_outcome(ToolOutcome(call_id="c", tool="execute_gui", status="blocked", message=message))
    assert detail.endswith("…") and len(detail) <= 240
    assert message.startswith(detail[:-1])  # the beginning, unchanged
    assert message[len(detail) - 1] == " "  # at a word, not in the middle of one
    assert clip("short") == "short"
    assert clip("x" * 300) == "x" * 239 + "…"  # one long word is cut where it must be
