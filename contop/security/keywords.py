"""Case-insensitive searches for alternations of keywords, settled by substring tests when the text has none.

Python's regular expression engine tries every alternative at every position of a case-insensitive alternation
with word boundaries (``\\biex\\b|invoke-expression|…``): 5 to 18 µs on a 100-character command, for patterns the
PowerShell rules run over every command. Each alternative needs some run of literal characters, taken here from
the parsed pattern; when the text is ASCII and lower-cased contains none of them, no alternative can match and the
regex is skipped. Otherwise (or for non-ASCII text, where case-insensitive matching is not just ``lower()``), the
regex decides, so the answers are always the regex's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _parser  # type: ignore[attr-defined]  # the engine's own parser: literals exactly as it reads them
from typing import Any

_LITERAL = _parser.LITERAL
_BRANCH = _parser.BRANCH
_SUBPATTERN = _parser.SUBPATTERN


class Keywords:
    """``re.compile(pattern, flags)`` with a substring pre-test (``search`` and ``finditer``)."""

    __slots__ = ("ignore_case", "literals", "regex")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.regex = re.compile(pattern, flags)
        self.ignore_case = bool(flags & re.IGNORECASE)
        self.literals = required_literals(pattern, flags)

    def possible(self, text: str) -> bool:
        """False only when no alternative can match ``text``."""
        literals = self.literals
        if literals is None:
            return True
        if self.ignore_case:
            if not text.isascii():
                return True
            text = text.lower()
        for literal in literals:
            if literal in text:
                return True
        return False

    def search(self, text: str) -> re.Match[str] | None:
        return self.regex.search(text) if self.possible(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.regex.finditer(text) if self.possible(text) else iter(())


def required_literals(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """Literal strings such that any match of ``pattern`` contains one of them (lower-cased when ``flags`` ignore
    case), or None when the pattern has an alternative without an ASCII literal."""
    found = _literals_of(_parser.parse(pattern, flags))
    if found is None:
        return None
    return tuple(dict.fromkeys(f.lower() if flags & re.IGNORECASE else f for f in found))


def _literals_of(parsed: Any) -> list[str] | None:
    """One literal from each alternative of a parsed (sub)pattern."""
    items = list(parsed)
    if len(items) == 1 and items[0][0] is _BRANCH:
        alternatives = [list(alternative) for alternative in items[0][1][1]]
    else:
        alternatives = [items]
    found: list[str] = []
    for alternative in alternatives:
        literals = _required_in_sequence(alternative)
        if literals is None:
            return None
        found.extend(literals)
    return found


def _required_in_sequence(ops: list[Any]) -> list[str] | None:
    """What a sequence of operations needs: its longest run of literal characters when two or longer, else the
    literals of one of its groups (every operation of a sequence must match), else a single character."""
    best, run = "", ""
    for op, value in [*ops, (None, None)]:
        if op is _LITERAL:
            run += chr(value)
            continue
        if len(run) > len(best):
            best = run
        run = ""
    if not best.isascii():
        return None
    if len(best) >= 2:
        return [best]
    for op, value in ops:
        if op is _SUBPATTERN and value[1] == 0 and value[2] == 0:  # a group that does not change the flags
            inner = _literals_of(value[3])
            if inner is not None and all(len(i) >= 2 for i in inner):
                return inner
    return [best] if best else None
