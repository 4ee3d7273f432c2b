"""Command substitutions bash runs from places the gate once read as plain text: inside ``${…}``, arithmetic,
unquoted here-document bodies, array items and case statements. Each of these ran on the host unattended."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contop.security.gate import classify_command
from contop.security.shellparse import Script, _Fallback, matching_end, parse
from tests.security.corpus_support import posix_context


def verdict(command: str) -> str:
    return classify_command(command, posix_context()).verdict


def programs(script: Script) -> list[str]:
    """The first word of every command in ``script``, its groups and its substitutions, nested ones included."""
    found: list[str] = []
    for cmd in script.commands():
        found += cmd.words[:1]
        for inner in ([cmd.group] if cmd.group is not None else []) + cmd.subs:
            found += programs(inner)
    return found


HIDDEN = [
    "echo ${x:-$(rm -rf ~)}",
    "y=${x:-$(rm -rf ~)}",
    "echo ${x:=`rm -rf ~`}",
    "echo ${a[$(rm -rf ~)]}",
    "echo ${x:-${y:-$(rm -rf ~)}}",  # nested
    "echo ${x:-{a}$(rm -rf ~)}",  # bash pairs the plain braces inside
    "echo ${x:-<(rm -rf ~)}",
    'echo "${x:-"\'$(rm -rf ~)\'"}"',  # double quotes inside the braces: the single quotes are text
    "eval ${x:-'rm -rf ~'}",  # the quotes of a default are removed before eval reads it
    "echo $(( $(rm -rf ~) ))",
    "echo $(( `rm -rf ~` ))",
    "echo $(( '$(rm -rf ~)' ))",  # arithmetic expands as in double quotes: the single quotes are text
    "echo $(( 1 + $(rm -rf ~) ))",
    "echo $((echo hi; rm -rf ~) )",  # not arithmetic: a substitution of a subshell, as bash reads it
    "cat <<EOF\n$(rm -rf ~)\nEOF",
    "cat <<EOF\n`rm -rf ~`\nEOF",
    "cat <<EOF\n'$(rm -rf ~)'\nEOF",
    "cat <<EOF\n${x:-$(rm -rf ~)}\nEOF",
    "cat <<EOF\n$(( $(rm -rf ~) ))\nEOF",
    "cat <<-EOF\n\t$(rm -rf ~)\n\tEOF",
    "cat <<-EOF\n\thi\n\tEOF\nrm -rf ~",  # the delimiter line of <<- may be indented: what follows is commands
    "cat <<EOF\nEOF2\nEOF\nrm -rf ~",  # a line that only starts with the delimiter does not end the body
    "sh <<EOF\n\\$(rm -rf ~)\nEOF",  # the shell reads the body with the backslash removed
    "a=($(rm -rf ~))",
    "a=(x `rm -rf ~` y)",
    "echo $(case x in x) rm -rf ~;; esac)",
    "echo $(case x in (x) echo;; y|z) rm -rf ~;; esac)",
    'echo "$(case x in x) rm -rf ~;; esac)"',
    "echo ${x:-$(case a in a) rm -rf ~;; esac)}",
    "echo ${x:-$(rm -rf ~)}{a,b}",  # a brace group after it
    "cat <<EOF\necho '$(rm -rf ~)'\nEOF",
    # a ')' that is not code must not end a substitution early, leaving the rest outside it, unjudged
    "x=$(echo a # ) '\n$(rm -rf ~)\n#'\n)",  # in a comment
    "x=$(cat <<EOF\n) '\nEOF\n$(rm -rf ~) #'\n)",  # in a here-document body
    "echo $(echo $'it\\'s )' ; rm -rf ~)",  # in $'…', where \' is a quote
    "x=$(cat <<EOF\nhi\nEOF)\nrm -rf ~",  # 'EOF)' ends both the body and the substitution
]


@pytest.mark.parametrize("command", HIDDEN)
def test_hidden_substitutions_are_judged(command: str) -> None:
    assert verdict(command) == "block", classify_command(command, posix_context()).reason


@pytest.mark.parametrize("command", HIDDEN)
def test_hidden_substitutions_are_judged_inside_compound_commands(command: str) -> None:
    # 'for …; do …; done' sends the line to bashlex, which keeps '${…}' and here-document bodies as text
    assert verdict(f"for i in 1; do {command}\ndone") == "block"


@pytest.mark.parametrize(
    "command",
    [
        "echo ${a[$(shutdown now)]}",
        "echo $(( $(shutdown now) ))",
        "cat <<EOF\n$(shutdown now)\nEOF",
        "if true; then cat <<EOF; fi\n$(shutdown now)\nEOF",
    ],
)
def test_hidden_substitutions_are_judged_as_what_they_run(command: str) -> None:
    assert verdict(command) == verdict("shutdown now") == "confirm"


@pytest.mark.parametrize(
    "command",
    [
        "echo ${x:-$(rm -rf ~)",  # the '}' never comes
        "echo $(( $(rm -rf ~) )",
        "echo ${x:-$(rm -rf ~",
        "cat <<EOF\n$(rm -rf ~)",  # the delimiter never comes
        "echo $(case x in x) rm -rf ~",
    ],
)
def test_unterminated_expansions_are_not_safe(command: str) -> None:
    assert verdict(command) == "block"


def test_a_script_on_disk_is_read_for_hidden_substitutions(tmp_path: Path) -> None:
    ctx = replace(posix_context(), cwd=str(tmp_path))
    (tmp_path / "evil.sh").write_text("echo ${x:-$(rm -rf ~)}\n")
    (tmp_path / "doc.sh").write_text("cat <<EOF\n$(rm -rf ~)\nEOF\n")
    (tmp_path / "fine.sh").write_text("cat <<'EOF'\n$(rm -rf ~)\nEOF\necho ${HOME:-/tmp} $((1+2))\n")
    assert classify_command("bash evil.sh", ctx).verdict == "block"
    assert classify_command("sh ./doc.sh", ctx).verdict == "block"
    assert classify_command("bash fine.sh", ctx).verdict == "safe"


@pytest.mark.parametrize(
    "command",
    [
        "echo ${HOME:-/tmp}",
        "ls ${DIR:-.}",
        "echo ${#x} ${x%%.*} ${x/a/b} ${x:0:2} ${!x} ${a[1]} ${a[@]}",
        "echo ${x:-'$(rm -rf ~)'}",  # single quotes outside double quotes: text
        "echo $((1+2))",
        "echo $(( (1+2) * 3 ))",
        "echo $(( x > 1 ? x : 1 ))",
        "cat <<'EOF'\n$(rm -rf ~)\nEOF",
        'cat <<"EOF"\n`rm -rf ~`\nEOF',
        "cat <<\\EOF\n$(rm -rf ~)\nEOF",
        "cat <<EOF\n\\$(rm -rf ~) and \\`rm -rf ~\\`\nEOF",  # escaped: text
        "cat <<EOF > notes.txt\nhello $USER, $((1+2)) ${HOME} $(date)\nEOF",
        "x=$(case $1 in a) echo a;; b) echo b;; esac); echo $x",
        "echo $(echo case in x) | wc -l",
        "a=(one two $(date)); echo ${a[@]}",
    ],
)
def test_everyday_expansions_stay_safe(command: str) -> None:
    assert verdict(command) == "safe", classify_command(command, posix_context()).reason
    assert verdict(f"for i in 1; do {command}\ndone") == "safe"


def test_substitutions_inside_braces_are_parsed_as_commands() -> None:
    for source in ("echo ${x:-$(rm -rf ~)}", "for i in 1; do echo ${x:-$(rm -rf ~)}; done"):
        assert "rm" in programs(parse(source)), source
    assert programs(_Fallback("echo $(( $(id) + `uname` ))", 0).parse()) == ["echo", "id", "uname"]


def test_parameter_text_loses_its_quotes_as_the_shell_does() -> None:
    # the text is what state.substitute reads a default from: eval gets 'rm -rf ~', not "'rm -rf ~'"
    assert parse("eval ${x:-'rm -rf ~'}").commands()[0].words == ["eval", "${x:-rm -rf ~}"]
    assert parse("for i in 1; do eval ${x:-'rm -rf ~'}; done").commands()[-1].words == ["eval", "${x:-rm -rf ~}"]
    assert parse("echo \"${x:-'a'}\"").commands()[0].words == ["echo", "${x:-'a'}"]


def test_here_document_bodies_are_read_as_bash_reads_them() -> None:
    unquoted = parse("cat <<EOF\na \\$b \\\\c d\\\ne\nEOF").commands()[0]
    assert unquoted.redirects == [("<<", "a $b \\c de")]
    quoted = parse("cat <<'EOF'\na \\$b\nEOF").commands()[0]
    assert quoted.redirects == [("<<", "a \\$b")] and not quoted.subs
    stripped = parse("cat <<-EOF\n\tone\n\t\ttwo\n\tEOF\necho after").commands()
    assert stripped[0].redirects == [("<<", "one\ntwo")] and stripped[1].words == ["echo", "after"]


def test_a_case_statement_does_not_end_its_substitution_early() -> None:
    source = "$(case $x in a|b) echo ');';; (c) f;; esac)"
    assert matching_end(source, 2, ")") == len(source) - 1
    assert matching_end("$(echo case) x)", 2, ")") == len("$(echo case)") - 1
