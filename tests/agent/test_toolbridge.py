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
