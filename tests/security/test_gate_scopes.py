"""The gate's working folder follows only what changes the shell itself.

Each line here read a protected file while the gate judged it in another folder: a ``cd`` inside ``( … )`` or in
a list sent to the background with ``&`` was applied to the rest of the line, ``env cd`` and ``sudo cd`` (which
run a program of their own) moved the folder, ``eval 'cd …'`` did not, ``~1`` and ``~-0`` were taken for
folders of those names, ``x=$(pwd)`` held the folder the line had moved to by the time ``$x`` was used, and
``read HOME`` or a name reference left HOME as it was. Commands are only classified here, never run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contop.core.defaults import default_restricted_paths
from contop.security.decision import GateContext
from contop.security.gate import classify_command
from contop.security.shellparse import Cmd, Script, _Converter, _Fallback, parse
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home folder with a key in ``.ssh`` and a project, and beside it an ordinary folder with two scripts."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("KEY\n")
    (home / "proj" / "src").mkdir(parents=True)
    (home / "proj" / "build").mkdir()
    (home / "proj" / "src" / "main.py").write_text("print('hi')\n")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "goes-to-ssh.sh").write_text(f"cd {home}/.ssh\n")
    (tmp_path / "plain" / "stays.sh").write_text("echo hello\n")
    return home


def context(home: Path) -> GateContext:
    state = str(home / ".contop")
    base = posix_context()
    return replace(base, home=str(home), cwd=str(home / "proj"), state_dir=state,
                   restricted_paths=tuple(default_restricted_paths(state)))  # fmt: skip


def verdict(command: str, home: Path) -> str:
    decision = classify_command(command.format(H=home, P=home.parent / "plain"), context(home))
    return decision.verdict


# -------------------------------------------------------------------------------------------- subshells, '&'


@pytest.mark.parametrize(
    "command",
    [
        "cd /etc; (cd {P}); cat shadow",
        "cd /etc; (cd {P}) && cat shadow",
        "cd /etc; (cd {P}) || cat shadow",
        "cd /etc; (cd {P}) > out.txt; cat shadow",
        "cd /etc; (cd {P}; cat x); cat shadow",  # inside, x is read in the plain folder; after it, /etc again
        "cd /etc; ( (cd {P}) ); cat shadow",
        "cd {H}; (pushd {P}); cat .ssh/id_rsa",
        "cd {H}; (cd {P}; cd -); cat .ssh/id_rsa",
        "cd /etc; if true; then (cd {P}); fi; cat shadow",  # a compound line: bashlex's reading
        "cd /etc; if [[ -d {P} ]]; then (cd {P}); fi; cat shadow",  # '[[': our tokenizer's
        "cd /etc; (case x in x) cd {P};; esac); cat shadow",  # a case pattern's ')' does not end the subshell
        "cd /etc; case x in x) (cd {P});; esac; cat shadow",
        "cd /etc; x=$(cd {P}); cat shadow",
        # a list ended by '&' runs in a subshell of its own: all of it, not only its last pipeline
        "cd /etc; cd {P} & cat shadow",
        "cd /etc; cd {P} && true & cat shadow",
        "cd /etc; true || cd {P} & cat shadow",
        "cd /etc; {{ cd {P}; }} & cat shadow",
        "cd /etc; {{ cd {P} & }}; cat shadow",
        "cd /etc; if true; then cd {P}; fi & cat shadow",
        "cd /etc; for d in {P}; do cd $d; done & cat shadow",
        "cd /etc; if [[ -d {P} ]]; then cd {P}; fi & cat shadow",
        "cd /etc; case x in x) cd {P};; esac & cat shadow",
        # what a subshell sets ends with it, HOME too
        "HOME=/etc; (HOME={P}); cd; cat shadow",
        "HOME=/etc; HOME={P} | true; cd; cat shadow",
        "HOME=/etc; HOME={P} & cd; cat shadow",
    ],
)
def test_what_a_subshell_changes_ends_with_it(home: Path, command: str) -> None:
    assert verdict(command, home) == "block", command


@pytest.mark.parametrize(
    "command",
    [
        "cd /etc; {{ cd {P}; }}; cat shadow",  # a brace group runs in this shell: its cd stays
        "cd /etc; (cd {P}; cat shadow)",
        "cd /etc; (cd {P} && cat shadow) | head",
        "cd /etc; cd {P}; cat shadow &",
        "(cd build && make)",
        "(cd build; make) && ls",
        "cd src && cat main.py",
        "(cd /tmp && ls)",
        "pushd src; cat main.py; popd",
        "sleep 10 & echo started",
        "make -C build & wait",
        "for d in src build; do (cd $d && ls); done",
    ],
)
def test_everyday_lines_stay_safe(home: Path, command: str) -> None:
    assert verdict(command, home) == "safe", command


@pytest.mark.parametrize(
    ("source", "fallback"),
    [
        ("a; (cd /x); b", True),
        ("a; if true; then (cd /x); fi; b", False),
        ("a; cd /x && c & b", True),
        ("a; if true; then cd /x; fi & b", False),
    ],
)
def test_subshells_are_groups_of_their_own(source: str, fallback: bool) -> None:
    script = parse(source)
    assert script.fallback is fallback
    assert script.pipelines[0][0].words == ["a"]
    groups = [p[0].group for p in script.pipelines if p[0].group is not None and p[0].subshell]
    assert len(groups) == 1, script
    assert ["cd", "/x"] in [c.words for c in groups[0].commands()]
    assert script.pipelines[-1][0].words == ["b"]  # after the group, outside it


def _shape(script: Script) -> list[object]:
    def cmd(c: Cmd) -> object:
        return (c.subshell, _shape(c.group)) if c.group is not None else c.words

    return [[cmd(c) for c in pipeline] for pipeline in script.pipelines]


@pytest.mark.parametrize("source", ["a; (b; c) && d", "(a) | b & c", "a && b & c; d", "(a; b) & c"])
def test_both_parsers_mark_subshells_alike(source: str) -> None:
    import bashlex

    theirs = Script()
    for node in bashlex.parse(source):
        theirs.pipelines.extend(_Converter(source, 0).walk(node))
    assert _shape(_Fallback(source, 0).parse()) == _shape(theirs)


# ------------------------------------------------------------------------------------- wrappers, eval, source


@pytest.mark.parametrize(
    "command",
    [
        # a program of its own (or nothing at all) runs: the shell's folder stays /etc
        "cd /etc; env cd {P}; cat shadow",
        "cd /etc; sudo cd {P}; cat shadow",
        "cd /etc; timeout 5 cd {P}; cat shadow",
        "cd /etc; nice cd {P}; cat shadow",
        "cd /etc; nohup cd {P}; cat shadow",
        "cd /etc; echo {P} | xargs cd; cat shadow",
        "cd /etc; xargs cd <<< {P}; cat shadow",
        "cd /etc; find {P} -maxdepth 0 -exec cd {{}} \\; ; cat shadow",
        "cd /etc; sudo eval 'cd {P}'; cat shadow",
        "HOME=/etc; env HOME={P} export HOME={P}; cd; cat shadow",
        # builtins of this shell: they move it
        "cd {P}; command cd /etc; cat shadow",
        "cd {P}; builtin cd /etc; cat shadow",
        "cd {P}; time cd /etc; cat shadow",
        "cd {P}; eval 'cd /etc'; cat shadow",
        "cd {P}; eval cd /etc; cat shadow",
        "cd {P}; HOME=/etc eval cd; cat shadow",
        "cd {P}; source <(echo cd /etc); cat shadow",
        "cd {P}; . <(echo cd /etc); cat shadow",
        "cd {P}; $(echo cd) /etc; cat shadow",
        "cd {P}; . ./goes-to-ssh.sh; cat id_rsa",
        "cd {P}; source {P}/goes-to-ssh.sh && cat id_rsa",
        "cd {P}; echo 'cd /etc' > go.sh; . ./go.sh; cat shadow",
    ],
)
def test_only_the_shell_itself_moves(home: Path, command: str) -> None:
    assert verdict(command, home) != "safe", command


@pytest.mark.parametrize(
    "command",
    [
        "cd /etc; command cd {P}; cat shadow",
        "cd /etc; eval 'cd {P}'; cat shadow",
        "cd /etc; . {P}/stays.sh; cd {P}; cat shadow",
        "cd /etc; source <(echo cd {P}); cat shadow",
        "cd {P}; bash -c 'cd /etc'; cat shadow",  # another shell: its cd ends with it
        "cd {P}; sudo cd /etc; cat shadow",
        "cd {P}; HOME=/etc eval true; cd; ls",
    ],
)
def test_builtins_that_move_elsewhere_are_followed(home: Path, command: str) -> None:
    assert verdict(command, home) == "safe", command


# ------------------------------------------------------------------------ the directory stack and the folder


@pytest.mark.parametrize(
    "command",
    [
        "cd /etc; pushd {P}; cat ~1/shadow",
        "cd /etc; pushd {P}; cat ~+1/shadow",
        "cd /etc; pushd {P}; cat ~-0/shadow",
        "cd /etc; pushd {P}; cd ~1; cat shadow",
        "cd /etc; cd {P}; cat ~-/shadow",
        "cd /etc; x=$(pwd); cd {P}; cat $x/shadow",
        "cd /etc; x=`pwd`; cd {P}; cat $x/shadow",
        'cd /etc; x="$(pwd)/shadow"; cd {P}; cat "$x"',
        "cd /etc; x=$PWD; cd {P}; cat $x/shadow",
        "cd /etc; cd {P}; cat $OLDPWD/shadow",
        "cd {H}; pushd /etc; pushd {P}; cat ~1/x ~2/.ssh/id_rsa",
    ],
)
def test_the_directory_stack_and_pwd_name_the_folders_they_held(home: Path, command: str) -> None:
    assert verdict(command, home) == "block", command


@pytest.mark.parametrize(
    "command",
    [
        "cd {P}; cat ~1/shadow",  # no such entry: bash leaves it as written, the gate does not guess
        "cd {P}; cat ~-3/x",
        "cd {P}; cd ~2; cat x",
        "cd {P}; cat ~12345678901/x",
        "cd {P}; x=$(cd /etc; pwd); cat $x/shadow",  # what moved before the pwd: not known
        "cd $X; y=$(pwd); cd {P}; cat $y/x",
        "cd {P}; OLDPWD=$Y; cd -; cat x",
    ],
)
def test_an_entry_the_line_does_not_know_asks(home: Path, command: str) -> None:
    assert verdict(command, home) == "confirm", command


def test_an_entry_the_line_knows_is_judged_where_it_is(home: Path) -> None:
    assert verdict("cd /etc; pushd {P}; cat ~+0/x ~0/y; popd", home) == "safe"
    assert verdict("cd {P}; x=$(pwd); cd /etc; cat $x/shadow", home) == "safe"


# ---------------------------------------------------------------------------- variables builtins set


@pytest.mark.parametrize(
    "command",
    [
        "read HOME <<< /etc; cd; cat shadow",
        "HOME={P}; read -r HOME <<< /etc; cd; cat shadow",
        "HOME={P}; read -a HOME <<< /etc; cd; cat shadow",
        "HOME={P}; IFS=: read x HOME <<< y:/etc; cd; cat shadow",
        "HOME={P}; printf -v HOME /etc; cd; cat shadow",
        "HOME={P}; printf -vHOME /etc; cd; cat shadow",
        "HOME={P}; mapfile HOME < list; cd; cat shadow",
        "HOME={P}; readarray -t HOME < list; cd; cat shadow",
        "CDPATH={P}; read CDPATH <<< /; cd etc; cat shadow",
        "cd {P}; declare -n r=$X; r=/etc; cd; cat shadow",  # a reference to a name not known: any
        "cd {P}; declare -n r; r=/etc; cd; cat shadow",
    ],
)
def test_a_variable_a_builtin_sets_is_not_left_as_it_was(home: Path, command: str) -> None:
    assert verdict(command, home) != "safe", command


@pytest.mark.parametrize(
    "command",
    [
        "declare -n h=HOME; h=/etc; cd; cat shadow",
        "HOME={P}; typeset -n h=HOME; h=/etc; cd; cat shadow",
        "HOME={P}; declare -n h=HOME; export h=/etc; cd; cat shadow",
        "declare -n h=HOME; HOME=/etc; cd $h; cat shadow",
    ],
)
def test_a_name_reference_assigns_what_it_names(home: Path, command: str) -> None:
    assert verdict(command, home) == "block", command


def test_a_variable_a_wrapped_builtin_names_stays(home: Path) -> None:
    # 'env read HOME' runs no builtin: the line's HOME is still the one it set
    assert verdict("HOME={P}; env read HOME <<< /etc; cd; ls", home) == "safe"
    assert verdict("HOME=/etc; sudo read HOME <<< {P}; cd; cat shadow", home) == "block"


# --------------------------------------------------------------------- variables set by ${X:=…}, mapfile's -C


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (": ${{D:=/etc}}; cat $D/shadow", "block"),  # the default stays assigned for the rest of the line
        (": ${{D=/etc}}; cat $D/shadow", "block"),
        ("echo ${{D:-/etc}}; cat $D/shadow", "confirm"),  # ':-' only stands in: D stays unknown
        (": ${{CDPATH:=/}}; cd etc; cat shadow", "block"),  # CDPATH=/ and /etc exists: 'cd etc' lands in /etc
        (": ${{OUT:=build}}; mkdir -p $OUT", "safe"),
        ("mapfile -C 'cat {H}/.ssh/id_rsa' -c 1 x < notes.txt", "block"),  # the callback runs every -c lines
        ("readarray -C'cat {H}/.ssh/id_rsa' x < notes.txt", "block"),
        ("mapfile -C 'echo' -c 10 lines < notes.txt", "safe"),
        ("mapfile -t lines < notes.txt", "safe"),
    ],
)
def test_what_an_expansion_or_a_callback_does_is_judged(command: str, expected: str, home: Path) -> None:
    assert verdict(command, home) == expected
