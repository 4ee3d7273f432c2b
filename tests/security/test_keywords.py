"""``Keywords``: the substring pre-test never changes what the regular expression finds."""

from __future__ import annotations

import random
import re

import pytest

from contop.security import cmdbase, cmdsystem, cmdtools, commands, embedded, powershell
from contop.security.keywords import Keywords, required_literals

PATTERNS = {
    f"{module.__name__.rsplit('.', 1)[-1]}.{name}": value
    for module in (cmdbase, cmdsystem, cmdtools, commands, embedded, powershell)
    for name, value in vars(module).items()
    if isinstance(value, Keywords)
}


def test_the_rules_use_keyword_patterns_with_a_pre_test() -> None:
    assert len(PATTERNS) >= 15
    without = sorted(name for name, k in PATTERNS.items() if k.literals is None)
    assert without == []  # a pattern with no pre-test is a plain re.compile


def _texts(k: Keywords, rng: random.Random) -> list[str]:
    pieces = [lit for lit in k.literals or ()] + ["\u0130", "\u212a", "\u017f", " ", "-", "(", ")", "\\", "/", ":"]
    texts = []
    for _ in range(1500):
        parts = []
        for _ in range(rng.randint(0, 6)):
            piece = rng.choice(pieces)
            if rng.random() < 0.5 and len(piece) > 2:  # a broken or cut piece: almost a keyword
                cut = rng.randrange(1, len(piece))
                piece = piece[:cut] + rng.choice(" x.") + piece[cut:]
            piece = "".join(c.upper() if rng.random() < 0.3 else c for c in piece)
            parts.append(piece + rng.choice(["", " ", "  ", "\t", "=", "$x "]))
        texts.append("".join(parts))
    return texts


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_a_keyword_pattern_finds_what_its_regex_finds(name: str) -> None:
    k = PATTERNS[name]
    rng = random.Random(name)
    texts = _texts(k, rng)
    assert sum(k.regex.search(t) is not None for t in texts) > 50  # the texts do exercise matches
    for text in texts:
        ours, theirs = k.search(text), k.regex.search(text)
        assert (ours and ours.span()) == (theirs and theirs.span()), text
        assert [m.span() for m in k.finditer(text)] == [m.span() for m in k.regex.finditer(text)], text


def test_literals_come_from_every_alternative() -> None:
    assert required_literals(r"\biex\b|invoke-expression|&\s*\(", re.I) == ("iex", "invoke-expression", "&")
    assert required_literals(r"\b(curl|wget)\b|/dev/tcp/", re.I) == ("curl", "wget", "/dev/tcp/")
    assert required_literals(r"(get-childitem|ls)\s+env:", re.I) == ("env:",)
    assert required_literals(r"Net::HTTP|socket") == ("Net::HTTP", "socket")
    assert required_literals(r"a|\d+") is None  # an alternative with no literal
    assert required_literals(r"caf\u00e9|tea") is None  # not ASCII: lower() is not the engine's case folding
    assert required_literals(r"(?-i:Abc)|xyz", re.I) is None  # a group with its own flags is not descended


def test_non_ascii_text_is_left_to_the_regex() -> None:
    k = Keywords(r"\bkill\b", re.IGNORECASE)
    assert k.regex.search("\u212aill") is not None  # the Kelvin sign folds to k in the engine, not in lower()
    assert k.search("\u212aill") is not None
    assert k.search("skill") is None and k.search("KILL it") is not None
