"""The gate follows the folder a command line moves to, the HOME it sets and the script it feeds a shell.

Each command here ran on the host unattended, reading a protected file, before the gate followed it: ``cd -`` and
the directory stack, ``cd`` to a folder only known when the line runs, CDPATH, ``HOME=…`` before ``~``, and
``bash < script``. The last tests bound what one decision may cost.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from contop.security.decision import GateContext
from contop.security.gate import classify_command
from tests.security.corpus_support import posix_context


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder holding a protected ``secret/`` folder, an ordinary ``A/`` and scripts that read it."""
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("k\n")
    (tmp_path / "A").mkdir()
    (tmp_path / "reads.sh").write_text("cat secret/key.txt\n")
    (tmp_path / "tidy.sh").write_text("ls -la\necho done\n")
    (tmp_path / "reads.py").write_text("print(open('/etc/shadow').read())\n")
    return tmp_path


def context(work: Path, cwd: str | None = None) -> GateContext:
    base = posix_context()
    return replace(base, cwd=cwd or str(work), restricted_paths=(*base.restricted_paths, str(work / "secret")))


def judged(command: str, ctx: GateContext) -> tuple[str, str]:
    decision = classify_command(command, ctx)
    return decision.verdict, decision.reason


@pytest.mark.parametrize(
    "command",
    [
        "cd {W}; cd /; cd - >/dev/null; cat secret/key.txt",
        "cd {W}; cd /; cd $OLDPWD; cat secret/key.txt",
        "cd {W}; cd /; cd ~-; cat secret/key.txt",
        "cd {W}; cd /; cat ~-/secret/key.txt",
        "cd /; OLDPWD={W}; cd -; cat secret/key.txt",  # cd - goes where OLDPWD says
        "pushd {W}; pushd /; popd; cat secret/key.txt",
        "pushd {W}; pushd /usr; pushd; cat secret/key.txt",  # the top two swap
        "pushd {W}; pushd /usr; pushd +1; cat secret/key.txt",  # the stack rotates
        "pushd -n {W}; pushd; cat secret/key.txt",
        "pushd {W}; pushd /usr; popd +0; cat secret/key.txt",
        "cd {W}; cat $PWD/secret/key.txt",
        "cd {W}; cat ~+/secret/key.txt",
    ],
)
def test_going_back_to_an_earlier_folder_is_followed(work: Path, command: str) -> None:
    ctx = context(work, cwd="/")
    assert judged(command.format(W=work), ctx)[0] == "block", command


def test_the_directory_stack_is_followed_where_it_stays(work: Path) -> None:
    ctx = context(work, cwd="/")
    # 'popd -n' and 'popd +1' drop an entry below the top: the folder stays /usr, where secret/ is nothing
    assert judged(f"pushd {work}; pushd /usr; popd -n; cat secret/key.txt", ctx)[0] == "safe"
    assert judged(f"pushd {work}; pushd /usr; popd +1; cat secret/key.txt", ctx)[0] == "safe"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("cd $(echo {W}); cat secret/key.txt", "block"),  # what the substitution prints is known
        ("cd /; cd $(git rev-parse --show-toplevel); cat secret/key.txt", "confirm"),
        ("cd /; cd $X; cat key.txt", "confirm"),
        ("cd -; cat secret/key.txt", "confirm"),  # OLDPWD comes from the server's environment
        ("cd $X && ./reads.sh", "confirm"),
        ("cd $X && bash reads.sh", "confirm"),
        ("cd /; cd secr*; cat key.txt", "confirm"),
    ],
)
def test_a_folder_known_only_when_the_command_runs_is_not_judged_as_the_old_one(
    work: Path, command: str, expected: str
) -> None:
    verdict, reason = judged(command.format(W=work), context(work))
    assert verdict == expected, (command, reason)


@pytest.mark.parametrize(
    "command",
    [
        "cd /; CDPATH={W} cd secret && cat key.txt",
        "cd /; export CDPATH={W}; cd secret && cat key.txt",
        "cd /; CDPATH=/usr:{W} cd A && cat ../secret/key.txt",
    ],
)
def test_cdpath_is_followed(work: Path, command: str) -> None:
    assert judged(command.format(W=work), context(work))[0] != "safe", command


@pytest.mark.parametrize(
    "command",
    [
        "HOME={W}; cat ~/secret/key.txt",
        "HOME=/etc; cat ~/shadow",
        "export HOME=/etc; cat ~/shadow",
        "declare -x HOME=/etc; cat ~/shadow",
        "HOME=/etc; cd; cat shadow",
        "HOME=/etc cd; cat shadow",  # cd alone goes to the HOME its own prefix sets
        "HOME={W}; x=~/secret/key.txt; cat $x",
        "HOME={W} bash -c 'cat ~/secret/key.txt'",  # the environment a shell is given
        "env HOME={W} bash -c 'cat ~/secret/key.txt'",
        "HOME=/tmp; unset HOME; cat ~/.ssh/id_rsa",  # unset: '~' is the user's home again
    ],
)
def test_tilde_is_the_home_the_line_sets(work: Path, command: str) -> None:
    assert judged(command.format(W=work), context(work))[0] == "block", command


def test_a_home_set_elsewhere_is_judged_where_it_points(work: Path) -> None:
    # '~' reads /tmp/x/.ssh, nothing protected; a HOME given to a program alone does not change the line's '~'
    assert judged("HOME=/tmp/x; cat ~/.ssh/id_rsa", context(work))[0] == "safe"
    assert judged("HOME=/tmp/x cat ~/.ssh/id_rsa", context(work))[0] == "block"


@pytest.mark.parametrize(
    "command",
    [
        "cd {W}; x=$(cd /; pwd); cat secret/key.txt",
        "cd {W}; cd / | true; cat secret/key.txt",
        "cd {W}; bash -c 'cd /'; cat secret/key.txt",
    ],
)
def test_a_subshell_leaves_the_folder_as_it_was(work: Path, command: str) -> None:
    assert judged(command.format(W=work), context(work, cwd="/"))[0] == "block", command


@pytest.mark.parametrize(
    "command",
    [
        "bash < reads.sh",
        "sh -s < reads.sh",
        "bash -s arg < reads.sh",
        "sh 0< reads.sh",
        "bash - < reads.sh",
        "source /dev/stdin < reads.sh",
        "python3 < reads.py",
        "echo 'cat secret/key.txt' > new.sh; sh < new.sh",
    ],
)
def test_a_script_on_standard_input_is_judged_like_a_script_file(work: Path, command: str) -> None:
    verdict, reason = judged(command, context(work))
    assert verdict == "block", (command, reason)


@pytest.mark.parametrize(
    "command",
    [
        "cd src && ls",
        "cd -",
        "cd - && ls",
        "cd ~ && ls",
        "cd .. && git status",
        "pushd build && make; popd",
        "mkdir -p build && cd build && cmake .. && make",
        'cd "$(git rev-parse --show-toplevel)" && git status',
        "HOME=/tmp/x some-tool",
        "ls $PWD",
        "bash < /dev/null",
        "bash < tidy.sh",
    ],
)
def test_everyday_folder_commands_stay_safe(work: Path, command: str) -> None:
    verdict, reason = judged(command, context(work))
    assert verdict == "safe", (command, reason)


@pytest.mark.parametrize("doublings", [24, 40])
def test_a_variable_too_long_to_judge_asks_at_once(doublings: int) -> None:
    # 27 doublings took 4 s and 727 MB; 40 ran out of memory
    command = "x=a; " + "x=$x$x; " * doublings + "echo $x"
    started = time.perf_counter()
    verdict, reason = judged(command, posix_context())
    assert (verdict, reason.split(" (")[0]) == ("confirm", "builds a value longer than 64 KiB, too long to judge")
    assert time.perf_counter() - started < 5  # a loose bound: behaviour, not speed


def test_a_long_value_is_never_cut_to_a_harmless_one() -> None:
    # past the cap the value stays an expansion, which is what a program name or a file to read asks about
    grow = "x=a; " + "x=$x$x; " * 17
    assert judged(grow + "cat $x", posix_context())[0] == "confirm"
    assert judged(grow + "x=$x/.ssh/id_rsa; cat ~/$x", posix_context())[0] != "safe"


def test_many_appends_to_a_script_ask_instead_of_growing_it() -> None:
    command = "x=a; " + "x=$x$x; " * 12 + "echo $x >> a.sh; " * 40 + "bash a.sh"
    assert judged(command, posix_context()) == ("confirm", "runs a script this same command writes (bash a.sh)")


def test_a_folder_too_deep_to_follow_is_unknown_and_judged_quickly(work: Path) -> None:
    started = time.perf_counter()
    verdict, reason = judged("cd a; " * 5000 + "cat notes.txt", context(work))
    assert verdict == "confirm" and "folder only known when it runs" in reason, reason
    assert time.perf_counter() - started < 5  # a loose bound: behaviour, not speed
    assert judged("cd a; " * 200 + "cat notes.txt", context(work))[0] == "safe"
