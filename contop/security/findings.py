"""Severity levels and the accumulator that keeps the strictest finding about a command."""

from __future__ import annotations

from dataclasses import dataclass

from contop.security.decision import Verdict

SAFE = 0
CONFIRM = 1
BLOCK = 2

VERDICTS: tuple[Verdict, Verdict, Verdict] = ("safe", "confirm", "block")
LEVELS: dict[str, int] = {"safe": SAFE, "confirm": CONFIRM, "block": BLOCK}

_MAX_SHOWN = 70


def shorten(text: str, limit: int = _MAX_SHOWN) -> str:
    """One line of at most ``limit`` characters, for quoting a command inside a reason."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(slots=True)
class Findings:
    """The strictest finding so far; the first reason at the strictest level wins."""

    level: int = SAFE
    reason: str = ""

    def add(self, level: int, what: str, text: str = "") -> None:
        if level > self.level or (level == self.level and not self.reason and level > SAFE):
            self.level = level
            self.reason = f"{what} ({shorten(text)})" if text else what

    def merge(self, other: Findings) -> None:
        if other.level > self.level:
            self.level = other.level
            self.reason = other.reason

    @property
    def verdict(self) -> Verdict:
        return VERDICTS[self.level]
