"""The conditional command ``[[ … ]]``: its ``&&``, ``||``, parentheses and ``<``/``>`` belong to the test, not to
the command list, while every substitution in it still runs and must be judged."""

from __future__ import annotations

import pytest

from contop.security.gate import classify_command
from contop.security.shellparse import _Fallback, parse
from tests.security.corpus_support import posix_context


def verdict(command: str) -> str:
    return classify_command(command, posix_context()).verdict


# Each of these only tests strings and files: QA saw them asked about as programs named at run time.
PLAIN_TESTS = [
    "[[ $a == b && $c == d ]]",
    "[[ -f README.md && $n -eq 5 ]]",
    "[[ $a == b || $c == d ]]",
    "[[ ( -f a || -d b ) && ! -L c ]]",
    "[[ x =~ (a|b) ]]",
    "[[ $x =~ ^(foo|bar baz)[0-9]+$ && -n $y ]]",
    "[[ a < b ]]",  # a comparison, not a redirection from the file b
    "[[ a > b ]]",  # nor a write to it
    "[[ $a == b &&\n   $c == d ]]",  # bash reads on over a newline after '&&'
    "if [[ $a == b && $c == d ]]; then echo same; fi",
    "while [[ $i -lt 3 && -f x ]]; do i=$((i+1)); done",
    "for f in *.txt; do [[ -f $f && $f > a ]] && echo $f; done",
    "! [[ -z $a || -z $b ]]",
    "[ a ] && [ b ]",
    "test -f a && test $n -eq 5",
]


@pytest.mark.parametrize("command", PLAIN_TESTS)
def test_plain_conditionals_are_safe(command: str) -> None:
    assert verdict(command) == "safe"


def test_conditional_is_one_command() -> None:
    script = parse("[[ $a == b && $c < d ]] && echo yes")
    assert [cmd.words for cmd in script.commands()] == [
        ["[[", "$a", "==", "b", "&&", "$c", "<", "d", "]]"],
        ["echo", "yes"],
    ]
    assert script.commands()[0].redirects == []


def test_regular_expression_keeps_its_groups() -> None:
    words = parse("[[ $x =~ (a b|c)d && -n $y ]]").commands()[0].words
    assert words == ["[[", "$x", "=~", "(a b|c)d", "&&", "-n", "$y", "]]"]


def test_compound_lines_with_a_conditional_agree() -> None:
    """bashlex cannot read ``[[``: lines with control syntax go to our tokenizer, which reads them the same way."""
    source = "if [[ $a == b && $c == d ]]; then echo hi; fi"
    assert [c.words for c in parse(source).commands()] == [
        ["[[", "$a", "==", "b", "&&", "$c", "==", "d", "]]"],
        ["echo", "hi"],
    ]


# Substitutions inside the test run before it is computed; the list after it runs too.
STILL_JUDGED = [
    "[[ $(cat ~/.ssh/id_rsa) == x ]]",
    "[[ -f x && $(rm -rf ~) ]]",
    "[[ -f x || `rm -rf ~` ]]",
    "[[ -n <(rm -rf ~) ]]",
    "[[ x =~ ($(rm -rf ~)|b) ]]",
    "[[ x =~ (a|b) ]] && rm -rf ~",
    "[[ -n x ]] || cat ~/.ssh/id_rsa",
    "if [[ -f x && $(rm -rf ~) ]]; then :; fi",
    # arithmetic operands: bash expands array subscripts in their text again, quotes or not
    "[[ 'a[$(rm -rf ~)]' -eq 1 ]]",
    "[[ 1 -lt 'a[`rm -rf ~`]' ]]",
    "[[ -v 'a[$(rm -rf ~)]' ]]",
]


@pytest.mark.parametrize("command", STILL_JUDGED)
def test_what_runs_inside_a_conditional_is_judged(command: str) -> None:
    assert verdict(command) == "block"


# bash rejects these (no closing ']]', a ';' or a lone '|' inside): read as an ordinary list, nothing goes unread
BROKEN = [
    "[[ a && rm -rf ~",
    "[[ a ; rm -rf ~ ]]",
    "[[ a | rm -rf ~ ]]",
    "[[ x =~ ( ]] ; rm -rf ~",
    "[[ a &&\nrm -rf ~",
    "echo [[ a && rm -rf ~ ]]",  # not in command position: '[[' is an ordinary word
    "x=1 [[ a && rm -rf ~ ]]",
]


@pytest.mark.parametrize("command", BROKEN)
def test_unfinished_or_misplaced_conditional_leaves_nothing_unjudged(command: str) -> None:
    assert verdict(command) == "block"


def test_here_document_opened_before_a_conditional_is_read() -> None:
    script = parse("cat <<EOF && [[ a &&\nrm -rf ~\nEOF\n")
    assert script.commands()[0].redirects == [("<<", "rm -rf ~")]


def test_long_unfinished_conditionals_stay_linear() -> None:
    """A failed ``[[`` is not read again from each ``[[`` inside it."""
    source = "[[ a && " * 20000
    reader = _Fallback(source, 0)
    assert len(reader.parse().commands()) == 20000
