"""The agent's system prompts: the execution and planning prompts, with per-tool notes for this platform."""

from __future__ import annotations

import platform as _platform
from collections.abc import Iterable
from importlib import resources

from contop.agent.prompts.tool_notes import tool_notes

_PLATFORM_NAMES = {"Linux": "Linux", "Darwin": "macOS", "Windows": "Windows"}


def _read(name: str) -> str:
    return (resources.files("contop.agent.prompts") / name).read_text(encoding="utf-8")


def default_execution_prompt() -> str:
    """The built-in execution prompt template (placeholders unfilled), as ``/api/default-prompts`` shows it."""
    return _read("execution.md")


def default_conversation_prompt() -> str:
    """How the agent talks; ``conversation_system_prompt`` from the settings is appended to it."""
    return _read("conversation.md")


def default_planning_prompt() -> str:
    return _read("planning.md")


def platform_label(system: str | None = None) -> str:
    system = system or _platform.system()
    return _PLATFORM_NAMES.get(system, system)


def build_execution_prompt(
    tool_names: Iterable[str],
    *,
    system: str | None = None,
    skills_section: str = "",
    custom: str = "",
    conversation_custom: str = "",
) -> str:
    """The execution prompt for ``system`` (``platform.system()`` by default) and the tools on offer."""
    system = system or _platform.system()
    notes = tool_notes(tool_names, system)
    text = (
        _read("conversation.md")
        + "\n"
        + _read("execution.md").format(
            platform=platform_label(system),
            tool_instructions=notes or "(none)",
            skills=skills_section or "No skills are enabled.",
        )
    )
    if conversation_custom.strip():
        text += "\n\n## How the user wants you to talk\n\n" + conversation_custom.strip() + "\n"
    if custom.strip():
        text += "\n\n## Instructions from the user of this computer\n\n" + custom.strip() + "\n"
    return text


def build_planning_prompt(tool_names: Iterable[str], *, system: str | None = None) -> str:
    system = system or _platform.system()
    return _read("planning.md").format(
        platform=platform_label(system), tool_instructions=tool_notes(tool_names, system) or "(none)"
    )
