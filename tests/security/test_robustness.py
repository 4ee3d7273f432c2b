"""The gate never crashes and fails closed: random and mangled input, deep nesting, huge commands."""

from __future__ import annotations

import base64
import random
import shlex

import pytest

from contop.security.gate import classify_command
from contop.security.paths import use_resolver
from tests.security.corpus_support import FILES, load, posix_context, windows_context

ATOMS = (
    "rm -rf ~ / $( ) ` ' \" | && || ; & <( > >> << EOF \n { } ( ) $X X= echo curl sh bash -c base64 -d iex iwr "
    "Remove-Item -Recurse C:\\ %USERPROFILE% ^ cmd /c powershell -enc QUJD python os.system( \\ $' * for do done "
    "if then fi case in esac ! %0 [ ] :: $env:HOME @("
).split(" ")
CONTEXTS = [posix_context(), windows_context("powershell"), windows_context("cmd")]


def test_random_and_mangled_input_never_raises() -> None:
    rng = random.Random(1234)
    corpus = [e["command"] for name in FILES[:3] for e in load(name)]
    with use_resolver(None):
        for i in range(400):
            if i % 2:
                text = "".join(rng.choice(ATOMS) + rng.choice(("", " ")) for _ in range(rng.randint(1, 25)))
            else:
                base = rng.choice(corpus)
                cut = rng.randint(0, len(base))
                text = base[:cut] + rng.choice(ATOMS) + base[cut:]
            for ctx in CONTEXTS:
                assert classify_command(text, ctx).verdict in ("safe", "confirm", "block")


@pytest.mark.parametrize(
    "command",
    ["$(" * 300 + "ls" + ")" * 300, "echo " + "`" * 501, "((((((((((" * 50, "x" * 40_000],
)
def test_pathological_input_does_not_crash(command: str) -> None:
    decision = classify_command(command, posix_context())
    assert decision.verdict in ("block", "safe", "confirm")
    if len(command) > 32_000:
        assert decision.verdict == "block"


def test_too_deep_nesting_blocks() -> None:
    command = "ls"
    for _ in range(8):  # each level multiplies the quoting; 8 levels is about 4 kB
        command = "bash -c " + shlex.quote(command)
    assert classify_command(command, posix_context()).verdict == "block"
    shallow = "ls"
    for _ in range(3):
        shallow = "bash -c " + shlex.quote(shallow)
    assert classify_command(shallow, posix_context()).verdict == "safe"


def test_a_bug_in_a_rule_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A library the rules call misbehaving stands for a bug in a rule; patched in the library so that it also
    # reaches the compiled gate, whose calls between its own functions bypass module attributes.
    command = "echo bHMgLWwK | base64 -d | sh"  # runs 'ls -l', decoded: asks like any encoded payload
    assert classify_command(command, posix_context()).verdict == "confirm"

    def broken(data: object) -> bytes:
        raise KeyError("boom")

    monkeypatch.setattr(base64, "b64decode", broken)
    decision = classify_command(command, posix_context())
    assert decision.verdict == "block"
    assert "could not be judged (KeyError)" in decision.reason
