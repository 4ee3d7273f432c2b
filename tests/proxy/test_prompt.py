"""The pure parts: conversation → prompt, tool calls out of free text, CLI outputs and failures."""

from __future__ import annotations

import json

import pytest

from contop.proxy.prompt import RequestError, build_prompt, check_messages, parse_reply
from contop.proxy.providers import SPECS, classify_failure, cli_argv, parse_output

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "execute_cli",
            "description": "Run a shell command",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}},
]


def test_prompt_holds_the_whole_conversation() -> None:
    messages = [
        {"role": "system", "content": "You are Contop."},
        {"role": "user", "content": [{"type": "text", "text": "list files"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "execute_cli", "arguments": '{"command":"ls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt\nb.txt"},
    ]
    prompt = build_prompt(check_messages(messages), TOOLS)
    for needle in ("You are Contop.", "list files", "execute_cli", '{"command":"ls"}', "a.txt\nb.txt", "call_1"):
        assert needle in prompt
    assert prompt.index("You are Contop.") < prompt.index("list files") < prompt.index("a.txt")
    assert "tool_calls" in prompt  # the reply format is described


def test_images_are_refused() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(RequestError) as err:
        check_messages([{"role": "user", "content": [{"type": "text", "text": "look"}, image]}])
    assert err.value.code == "images_not_supported"


@pytest.mark.parametrize(
    "reply",
    [
        '{"tool_calls": [{"name": "execute_cli", "arguments": {"command": "echo hi"}}]}',
        "Sure, let me run it.\n```json\n"
        '{"tool_calls": [{"name": "execute_cli", "arguments": {"command": "echo hi"}}]}\n```',
        'I will call {"name": "execute_cli", "arguments": {"command": "echo hi"}} now.',
        '{"name": "execute_cli", "arguments": "{\\"command\\": \\"echo hi\\"}"}',
    ],
)
def test_tool_calls_are_found_in_prose(reply: str) -> None:
    parsed = parse_reply(reply, TOOLS)
    assert [c["function"]["name"] for c in parsed.tool_calls] == ["execute_cli"]
    assert json.loads(parsed.tool_calls[0]["function"]["arguments"]) == {"command": "echo hi"}
    assert "tool_calls" not in parsed.content and "{" not in parsed.content


def test_several_calls() -> None:
    reply = (
        'First {"name": "execute_cli", "arguments": {"command": "ls"}} then\n'
        '```\n{"name": "read_file", "arguments": {"path": "a"}}\n```'
    )
    parsed = parse_reply(reply, TOOLS)
    assert [c["function"]["name"] for c in parsed.tool_calls] == ["execute_cli", "read_file"]
    assert len({c["id"] for c in parsed.tool_calls}) == 2


@pytest.mark.parametrize(
    "reply",
    [
        "Just a plain answer.",
        '{"tool_calls": [{"name": "unknown_tool", "arguments": {}}]}',
        '{"tool_calls": [{"name": "execute_cli", "arguments": "not json"}]}',
        '{"tool_calls": [ broken',
        'Here is data: {"a": 1}',
    ],
)
def test_malformed_or_absent_calls_are_plain_text(reply: str) -> None:
    parsed = parse_reply(reply, TOOLS)
    assert parsed.tool_calls == []
    assert parsed.content == reply.strip()


def test_no_tools_means_no_parsing() -> None:
    reply = '{"name": "execute_cli", "arguments": {}}'
    assert parse_reply(reply, None).content == reply


def test_argv_never_holds_the_prompt_and_refuses_option_like_models() -> None:
    argv = cli_argv(SPECS["anthropic"], "/bin/claude", "--dangerously-skip-permissions")
    assert argv == ["/bin/claude", "-p", "--output-format", "json"]
    assert cli_argv(SPECS["openai"], "codex", "gpt-5")[-1] == "-"
    assert "-m" in cli_argv(SPECS["gemini"], "gemini", "gemini-2.5-pro")


def test_outputs() -> None:
    claude = json.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "hi",
            "usage": {"input_tokens": 5, "output_tokens": 2},
        }
    )
    assert parse_output("anthropic", claude).text == "hi"
    assert parse_output("anthropic", claude).usage["total_tokens"] == 7
    assert parse_output("anthropic", "plain words").text == "plain words"
    gem = {"response": "g", "stats": {"models": {"m": {"tokens": {"prompt": 3, "candidates": 4}}}}}
    assert parse_output("gemini", json.dumps(gem)).usage == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
    }
    codex = "\n".join(
        json.dumps(e)
        for e in [
            {"type": "item.completed", "item": {"type": "agent_message", "text": "c"}},
            {"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 1}},
        ]
    )
    assert parse_output("openai", codex).text == "c"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Invalid API key · Please run /login", "auth"),
        ("unexpected status 401 Unauthorized", "auth"),
        ("Claude AI usage limit reached|1767225600", "rate_limit"),
        ("429 RESOURCE_EXHAUSTED", "rate_limit"),
        ("segmentation fault", "upstream"),
        ("Loaded cached credentials.\nTypeError: Cannot read properties of undefined", "upstream"),
        ("Error: No credentials found. Run gemini auth", "auth"),
        ("Invalid credentials", "auth"),
    ],
)
def test_failures(text: str, kind: str) -> None:
    assert classify_failure(text) == kind
