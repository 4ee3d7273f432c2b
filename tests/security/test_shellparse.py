"""Our tokenizer against bashlex: on every corpus line bashlex can parse, the flat structure must agree."""

from __future__ import annotations

import bashlex
import pytest

from contop.security.shellparse import Script, _Converter, _Fallback, _is_compound, parse
from tests.security.corpus_support import load


def _flat(script: Script) -> list[object]:
    out: list[object] = []

    def walk(s: Script) -> None:
        for pipeline in s.pipelines:
            out.append([(c.words, c.assigns, c.redirects) if c.group is None else "group" for c in pipeline])
            for c in pipeline:
                if c.group is not None:
                    walk(c.group)
                for sub in c.subs:
                    walk(sub)

    walk(script)
    return out


def _bashlex(source: str) -> Script | None:
    try:
        nodes = bashlex.parse(source)
    except Exception:
        return None
    script = Script()
    for node in nodes:
        script.pipelines.extend(_Converter(source, 0).walk(node))
    return script


EXTRA = [
    "a | b && c || d; e &",
    "FOO=1 BAR='x y' cmd --opt=\"$(inner 'q')\" 2>/dev/null >> out.log < in.txt",
    "sudo -u bob env X=1 nice -n 5 prog `date` <(sort a) >(tee b)",
    'echo "a \\"b\\" $(c "d e")" h\\ i',
]


def _comparable(sources: list[str]) -> list[str]:
    """Lines both parsers read: compound syntax always goes to bashlex (nothing to compare), bashlex mis-reads
    ANSI-C quoting ($'…'), and some valid lines bashlex cannot parse at all."""
    return [s for s in sources if not _is_compound(s) and "$'" not in s and _bashlex(s) is not None]


ALL_LINES = [e["command"] for e in load("posix")] + EXTRA
COMPARABLE = _comparable(ALL_LINES)


def test_most_lines_are_compared() -> None:
    assert len(COMPARABLE) >= 0.9 * len(ALL_LINES)


@pytest.mark.parametrize("source", COMPARABLE)
def test_tokenizer_agrees_with_bashlex(source: str) -> None:
    theirs = _bashlex(source)
    assert theirs is not None
    assert _flat(_Fallback(source, 0).parse()) == _flat(theirs)


def test_compound_lines_keep_their_grouping() -> None:
    script = parse("{ echo a; echo b; } | sh")
    assert script.pipelines[0][0].group is not None
    assert [c.words for c in script.pipelines[0][0].group.commands()] == [["echo", "a"], ["echo", "b"]]


def test_tokenizer_quote_removal() -> None:
    # bashlex keeps the backslash of 'f'\''g'; the shell (and we) do not
    assert _Fallback("echo 'f'\\''g' $'\\x72m'", 0).parse().pipelines[0][0].words == ["echo", "f'g", "rm"]
