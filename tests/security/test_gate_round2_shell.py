"""Round-two gate fixes for shell lines: scripts hidden behind an interpreter option's value, extended globs
turned on through quoting, and programs a compiler on the same line writes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contop.security.gate import classify_command
from tests.security.corpus_support import posix_context

READS_SHADOW = {
    "scripts/evil2.py": "print(open('/etc/shadow').read())\n",
    "evil.js": "require('fs').readFileSync('/etc/shadow')\n",
    "evil.pl": "open F, '/etc/shadow'; print <F>;\n",
    "evil.rb": "puts File.read('/etc/shadow')\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in READS_SHADOW.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        "python3 scripts/evil2.py",
        "python3 -W ignore scripts/evil2.py",
        "python3 -X dev scripts/evil2.py",
        "python3 --check-hash-based-pycs never scripts/evil2.py",
        "python3 -Wignore -I scripts/evil2.py",
        "node -r ./x evil.js",
        "node --require x evil.js",
        "perl -I lib evil.pl",
        "ruby -r json evil.rb",
        "python3 -W ignore < scripts/evil2.py",
    ],
)
def test_a_script_after_a_valued_option_is_read(project: Path, command: str) -> None:
    decision = classify_command(command, replace(posix_context(), cwd=str(project)))
    assert decision.verdict == "block", decision.reason


@pytest.mark.parametrize(
    "command",
    [
        "node -pe \"require('fs').readFileSync('/etc/shadow')\"",
        "python3 -Ic \"print(open('/etc/shadow').read())\"",
        "python3 -c\"print(open('/etc/shadow').read())\"",
        "perl -le'open F, \"/etc/shadow\"; print <F>'",
        "perl -e 'print 1' -e 'open F, \"/etc/shadow\"; print <F>'",
        "echo \"print(open('/etc/shadow').read())\" | python3 -W ignore",
        "python3 -W ignore <(echo \"print(open('/etc/shadow').read())\")",
    ],
)
def test_program_text_in_combined_or_attached_flags_is_judged(command: str) -> None:
    decision = classify_command(command, posix_context())
    assert decision.verdict == "block", decision.reason


@pytest.mark.parametrize(
    "command",
    [
        "bash -O ext''glob -c 'cat ~/.@(ssh)/id_rsa'",
        "shopt -s ext''glob\ncat ~/.@(ssh)/id_rsa",
        "shopt -s ext\\glob\ncat ~/.@(ssh)/id_rsa",
        "o=ext; shopt -s ${o}glob\ncat ~/.@(ssh)/id_rsa",
        "shopt -s $'\\x65xtglob'\ncat ~/.@(ssh)/id_rsa",
    ],
)
def test_extglob_turned_on_through_quoting_is_noticed(command: str) -> None:
    decision = classify_command(command, posix_context())
    assert decision.verdict != "safe", decision.reason


@pytest.mark.parametrize(
    "command",
    [
        "gcc -o build/b a.c && ./build/b",
        "go build -o app . && ./app",
        "cc -o t t.c; ./t",
        "gcc-12 -obin/t t.c && ./bin/t",
        "cargo build && ./target/debug/x",
        "strace -f ./build/a",
        "node -pe 1+1",
        "python3 -X dev job.py",
        "python3 -m json.tool < data.json",
        "echo $((2*(3+4)))",
        "shopt -s nullglob; ls *.txt",
    ],
)
def test_everyday_lines_stay_safe(tmp_path: Path, command: str) -> None:
    decision = classify_command(command, replace(posix_context(), cwd=str(tmp_path)))
    assert decision.verdict == "safe", decision.reason


@pytest.mark.parametrize(
    "command", ["echo 'cat ~/.ssh/id_rsa' > run.sh; ./run.sh", "gcc -E -P -o a.sh x.c && ./a.sh", "cp x new; ./new"]
)
def test_files_whose_text_the_line_writes_are_still_scripts(tmp_path: Path, command: str) -> None:
    decision = classify_command(command, replace(posix_context(), cwd=str(tmp_path)))
    assert decision.verdict != "safe", decision.reason


def test_appending_to_a_variable_is_followed() -> None:
    decision = classify_command("x=/etc/sha; x+=dow; cat $x", posix_context())
    assert decision.verdict == "block", decision.reason
    decision = classify_command("HOME+=/../../etc; cat ~/shadow", posix_context())
    assert decision.verdict == "block", decision.reason
    assert classify_command("x=foo; x+=bar; echo $x", posix_context()).verdict == "safe"


def test_appending_past_the_value_cap_asks() -> None:
    doubling = "x=a; " + "x+=$x; " * 40 + "cat $x"
    decision = classify_command(doubling, posix_context())
    assert decision.verdict != "safe", decision.reason


@pytest.mark.parametrize(
    "command",
    [
        "let 'x=a[$(cat ~/.ssh/id_rsa >&2)]'",
        "x='a[$(touch /tmp/k2)]'; echo $((x))",
        "declare -i n='a[$(touch k2)]'",
        "printf -v 'a[$(touch k2)]' x",
        "read 'a[`touch k2`]' </dev/null",
        "x='$(touch k2)'; echo ${x@P}",
        "PS4='$(touch k2)'; set -x; true",
    ],
)
def test_a_command_in_text_bash_evaluates_later_asks(command: str) -> None:
    """bash runs `$(…)` in an array subscript it evaluates as arithmetic, and in prompt expansion, even from single
    quotes or a variable's value, where the gate reads plain text."""
    assert classify_command(command, posix_context()).verdict != "safe"


@pytest.mark.parametrize(
    "command",
    ['echo "[$(date)] done" >> log.txt', "arr[0]=1; echo ${arr[0]}", "echo ${a[$i]}", "x=$((a[1]+2))"],
)
def test_everyday_subscripts_stay_safe(command: str) -> None:
    assert classify_command(command, posix_context()).verdict == "safe"
