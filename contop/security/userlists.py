"""The user's own lists (forbidden_commands, destructive_patterns): extra strictness on top of the rules.

Command patterns match program invocations as words (so ``echo format`` does not match ``format``); SQL-like
patterns written in capitals (``DROP TABLE``, ``TRUNCATE``) match anywhere in the text, ignoring case.
"""

from __future__ import annotations

import re
from functools import lru_cache

from contop.security.commands import normalise
from contop.security.findings import BLOCK, CONFIRM
from contop.security.state import State


@lru_cache(maxsize=512)
def _compile(pattern: str) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """A text regex for SQL-like patterns, or the pattern's words for command patterns."""
    stripped = pattern.strip()
    letters = [c for c in stripped if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and not re.search(r"[\\/:]", stripped):
        body = r"\s+".join(re.escape(w) for w in stripped.split())
        return re.compile(rf"(?<![\w-]){body}(?![\w-])", re.IGNORECASE), ()
    return None, tuple(stripped.split())


def _matches(words: tuple[str, ...], name: str, args: list[str]) -> bool:
    if not words or normalise(words[0]) != name:
        return False
    position = 0
    folded = [a.casefold() for a in args]
    for word in words[1:]:
        want = word.casefold()
        while position < len(folded):
            arg = folded[position]
            position += 1
            if (
                arg == want
                or (want.endswith(("=", ":")) and arg.startswith(want))
                or (want.rstrip("\\/") == arg.rstrip("\\/") and want.rstrip("\\/") != want)
            ):
                break
        else:
            return False
    return True


def _hit(pattern: str, source: str, st: State) -> bool:
    regex, words = _compile(pattern)
    if regex is not None:
        return regex.search(source) is not None
    return any(_matches(words, name, args) for name, args in st.seen)


def apply(source: str, st: State) -> None:
    """Raise the verdict for the user's forbidden commands (block) and destructive patterns (confirm)."""
    for pattern in st.ctx.forbidden_commands:
        if pattern.strip() and _hit(pattern, source, st):
            st.add(BLOCK, f"matches your forbidden commands ({pattern.strip()})", source)
            return
    if st.found.level >= CONFIRM:
        return
    for pattern in st.ctx.destructive_patterns:
        if pattern.strip() and _hit(pattern, source, st):
            st.add(CONFIRM, f"matches your destructive patterns ({pattern.strip()})", source)
            return
