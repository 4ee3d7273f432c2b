"""The data the security gate works on: a tool call, the context it is judged in, and the decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["safe", "confirm", "block"]
Route = Literal["host", "sandbox"]
Platform = Literal["posix", "powershell", "cmd"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate decided about one tool call, and a short sentence saying why (shown on the phone)."""

    verdict: Verdict
    route: Route
    confirm: bool
    reason: str

    @classmethod
    def safe(cls, reason: str) -> Decision:
        return cls("safe", "host", False, reason)

    @classmethod
    def needs_confirmation(cls, reason: str) -> Decision:
        return cls("confirm", "host", True, reason)

    @classmethod
    def block(cls, reason: str) -> Decision:
        return cls("block", "sandbox", False, reason)

    @classmethod
    def of(cls, verdict: Verdict, reason: str) -> Decision:
        if verdict == "block":
            return cls.block(reason)
        if verdict == "confirm":
            return cls.needs_confirmation(reason)
        return cls.safe(reason)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call proposed by the model: the tool's name and its arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GateContext:
    """Everything the gate needs to judge a call besides the call itself.

    ``platform`` is the shell an ``execute_cli`` command runs in; ``windows_paths`` says that paths are judged
    with Windows rules (case-insensitive, both separators), which is also implied by the ``powershell`` and
    ``cmd`` platforms. ``force_host`` means the user already approved this exact call on the phone. ``tmpdir``
    is the TMPDIR of the server's environment, which the agent's shell inherits ("" when it has none): what
    ``$TMPDIR`` names in a command.
    """

    cwd: str
    home: str
    state_dir: str
    restricted_paths: tuple[str, ...] = ()
    forbidden_commands: tuple[str, ...] = ()
    destructive_patterns: tuple[str, ...] = ()
    platform: Platform = "posix"
    force_host: bool = False
    windows_paths: bool = False
    tmpdir: str = ""
