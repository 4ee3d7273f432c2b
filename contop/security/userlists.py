"""The user's own lists (forbidden_commands, destructive_patterns): extra strictness on top of the rules.

Command patterns match program invocations as words (so ``echo format`` does not match ``format``); SQL-like
patterns written in capitals (``DROP TABLE``, ``TRUNCATE``) match anywhere in the text, ignoring case.
"""

from __future__ import annotations

import re
from functools import lru_cache

from contop.security.cmdbase import normalise
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
    words = stripped.split()
    return None, (normalise(words[0]), *[w.casefold() for w in words[1:]]) if words else ()


def _matches(words: tuple[str, ...], name: str, args: list[str]) -> bool:
    if not words or words[0] != name:
        return False
    if len(words) == 1:
        return True
    position = 0
    folded = [a.casefold() for a in args]
    for want in words[1:]:
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


@lru_cache(maxsize=64)
def _index(
    patterns: tuple[str, ...],
) -> tuple[tuple[tuple[str, re.Pattern[str]], ...], dict[str, list[tuple[str, tuple[str, ...]]]]]:
    """Text patterns, and command patterns grouped by program name (so a check is one dict lookup per program)."""
    texts: list[tuple[str, re.Pattern[str]]] = []
    by_name: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for pattern in patterns:
        if not pattern.strip():
            continue
        regex, words = _compile(pattern)
        if regex is not None:
            texts.append((pattern.strip(), regex))
        elif words:
            by_name.setdefault(words[0], []).append((pattern.strip(), words))
    return tuple(texts), by_name


def _first_hit(patterns: tuple[str, ...], source: str, st: State) -> str | None:
    texts, by_name = _index(patterns)
    for name, args in st.seen:
        for pattern, words in by_name.get(name, ()):
            if _matches(words, name, args):
                return pattern
    for pattern, regex in texts:
        if regex.search(source):
            return pattern
    return None


def apply(source: str, st: State) -> None:
    """Raise the verdict for the user's forbidden commands (block) and destructive patterns (confirm)."""
    hit = _first_hit(st.ctx.forbidden_commands, source, st)
    if hit is not None:
        st.add(BLOCK, f"matches your forbidden commands ({hit})", source)
        return
    if st.found.level >= CONFIRM:
        return
    hit = _first_hit(st.ctx.destructive_patterns, source, st)
    if hit is not None:
        st.add(CONFIRM, f"matches your destructive patterns ({hit})", source)
