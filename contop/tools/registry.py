"""Every tool Contop has, by name: the one table the guarded toolset (and so the agent and the phone) draws from.

Tool families that need optional parts (a display, OCR, a browser) are added only when their module imports;
the gate still knows their names, so a call to a missing one is refused with a clear reason, never run.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ToolFn = Callable[..., Any]

# Modules exporting ``TOOLS: dict[str, fn]``. Families that land later are listed here as they arrive.
_FAMILIES = (
    "contop.tools.files",
    "contop.tools.documents",
    "contop.tools.system",
    "contop.tools.gui",
    "contop.tools.screen",
    "contop.tools.windows",
    # The skill tools live with the skills engine; imported by name so the tools layer does not depend on it.
    "contop.agent.skills.tools",
)


def all_tools() -> dict[str, ToolFn]:
    from contop.tools.cli import execute_cli
    from contop.tools.history import get_action_history

    tools: dict[str, ToolFn] = {"execute_cli": execute_cli, "get_action_history": get_action_history}
    for module_name in _FAMILIES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            log.warning("tool family %s unavailable: %s", module_name, exc)
            continue
        tools.update(module.TOOLS)
    return tools
