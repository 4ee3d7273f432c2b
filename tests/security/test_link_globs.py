"""Symbolic links and globs never hide a protected place from the gate: a link to the root, a link in the folders
of a glob or among the names it matches, a tree read through a link, and the shell options that change what a
glob matches (judged on real links in a temporary folder)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from contop.core.defaults import default_restricted_paths
from contop.security import paths
from contop.security.decision import GateContext, ToolCall
from contop.security.gate import classify_command, decide
from contop.security.paths import Walk, policy_for, use_resolver
from tests.security.corpus_support import posix_context, windows_context

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX symbolic links and shell globs")


@pytest.fixture(params=["kernel", "walk only"])
def kernel_names(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways the walk starts: the kernel naming the first path (Linux), and from the root (elsewhere)."""
    if request.param == "walk only":
        monkeypatch.setattr(paths, "_KERNEL_NAMES", False)
    return bool(paths._KERNEL_NAMES)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A home with a secret, a project in it, and a vault outside it that the user's settings protect."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("key")
    (home / "proj" / "src").mkdir(parents=True)
    (home / "proj" / "src" / "main.c").write_text("int main;")
    (home / "proj" / "setup.py").write_text("")
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "plans.txt").write_text("plans")
    return tmp_path


def context(tree: Path) -> GateContext:
    """Commands run from the project in that home."""
    state = str(tree / "home" / ".contop")
    restricted = (*default_restricted_paths(state), str(tree / "vault"))
    return replace(posix_context(), home=str(tree / "home"), cwd=str(tree / "home" / "proj"), state_dir=state,
                   restricted_paths=restricted)  # fmt: skip


def verdict(command: str, ctx: GateContext) -> str:
    return classify_command(command, ctx).verdict


# --- a link to the root


@pytest.mark.parametrize("target", ["/", "//", "/.", "/tmp/.."])
def test_a_link_to_the_root_resolves_to_real_paths(tmp_path: Path, kernel_names: bool, target: str) -> None:
    (tmp_path / "r").symlink_to(target)
    (tmp_path / "chain").symlink_to("r")
    walk = Walk()
    assert walk(str(tmp_path)) == os.path.realpath(tmp_path)  # the folder remembered first, as for a command
    for probe in ("r/etc/shadow", "chain/etc/shadow", "r/root/.ssh/id_rsa", "r", "chain/r/etc"):
        assert walk(str(tmp_path / probe)) == os.path.realpath(tmp_path / probe), probe
        assert Walk()(str(tmp_path / probe)) == os.path.realpath(tmp_path / probe), probe


@pytest.mark.parametrize("target", ["/", "//", "/."])
def test_nothing_behind_a_link_to_the_root_escapes(tree: Path, kernel_names: bool, target: str) -> None:
    proj = tree / "home" / "proj"
    (proj / "r").symlink_to(target)
    (proj / "chain").symlink_to("r")
    ctx = context(tree)
    for command in ("cat r/etc/shadow", f"cat {proj}/r/root/.ssh/id_rsa", "cat chain/etc/shadow", "cat r/etc/*",
                    "cat r/*/shadow", f"cat chain/{tree.relative_to('/')}/vault/plans.txt"):  # fmt: skip
        assert verdict(command, ctx) == "block", command
    assert decide(ToolCall("read_file", {"file_path": "r/etc/shadow"}), ctx).verdict == "block"


# --- links and globs


def test_a_link_in_the_folders_of_a_glob_is_followed(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "sl").symlink_to(tree / "vault")
    (proj / "hh").symlink_to(tree / "home")
    ctx = context(tree)
    for command in ("cat sl/*", "cat sl/*.txt", "cat hh/.ssh/*", "cat hh/.ss?/id_rsa", "head hh/.ssh/id_*"):
        assert verdict(command, ctx) == "block", command


def test_a_link_the_first_pattern_matches_is_followed(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "sl").symlink_to(tree / "vault")
    (proj / "hh").symlink_to(tree / "home")
    ctx = context(tree)
    for command in ("cat ./s?/plans.txt", "cat ./h*/.ssh/id_rsa", "cat ./[a-z]l/*", "cat ./s*"):
        assert verdict(command, ctx) == "block", command


def test_a_tree_read_through_a_link_reads_what_it_points_to(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "hh").symlink_to(tree / "home")
    (proj / "up").symlink_to(tree)  # above the vault and the home
    ctx = context(tree)
    for command in ("grep -r x hh", "tar cf - hh/", "python3 -m http.server --directory hh", "grep -r x up",
                    "zip -r out.zip up", "cp -r hh /tmp/copy"):  # fmt: skip
        assert verdict(command, ctx) != "safe", command
    assert verdict("grep -r x ./h?", ctx) != "safe"  # named through a glob


def test_a_link_directly_in_a_tree_read_is_followed(tree: Path) -> None:
    """``grep -R`` and ``zip -r`` follow the links they meet: one in the folder they are given is looked at."""
    proj = tree / "home" / "proj"
    (proj / "notes").symlink_to(tree / "vault" / "plans.txt")
    ctx = context(tree)
    assert verdict("grep -R x .", ctx) == "confirm"
    assert verdict(f"zip -r /tmp/out.zip {proj}", ctx) == "confirm"


def test_everyday_globs_and_tree_reads_stay_safe(tree: Path) -> None:
    proj = tree / "home" / "proj"
    (proj / "lib").symlink_to(proj / "src")  # a link that stays in the project
    ctx = context(tree)
    for command in ("ls *.py", "cat src/*.c", "cat lib/*.c", "grep -r foo src/", "grep -r foo lib", "grep -R foo .",
                    "wc -l src/*", "tar czf /tmp/src.tgz src", "grep -r foo ~/*", "cat ~/proj/*.py"):  # fmt: skip
        assert verdict(command, ctx) == "safe", command


# --- shell options that change what a glob matches


def test_a_pattern_matches_whatever_the_case_with_nocaseglob(tree: Path) -> None:
    ctx = context(tree)
    for command in ("shopt -s nocaseglob; cat ~/.SS[H]/id_rsa", "cat ~/.SS?/id_rsa", "cat ~/.Ss*/ID_rsa"):
        assert verdict(command, ctx) == "block", command
    assert verdict("cat /ETC/shado?", ctx) == "safe"  # a name without a pattern is matched as written


def test_glob_forms_fnmatch_does_not_know_are_judged_wide(tree: Path) -> None:
    ctx = context(tree)
    for command in ("cat ~/.[[:alpha:]]sh/id_rsa", "cat ~/.[![:digit:]]sh/id_rsa", "cat ~/.[^x]sh/id_rsa",
                    "cat /**/.ssh/id_rsa", "cat /**/vault/plans.txt"):  # fmt: skip
        assert verdict(command, ctx) == "block", command


def test_extglob_forms_match_anything_in_their_component(tree: Path) -> None:
    home = str(tree / "home")
    policy = policy_for(home, home + "/.contop", tuple(default_restricted_paths(home + "/.contop")), False, home)
    for pattern in ("~/@(.ssh)/id_rsa", "~/+(.ssh)/id_rsa", "~/!(x)/id_rsa", "~/*(.ssh)/id_rsa", "~/?(.ssh)/x",
                    "~/.s@(s|x)h/id_rsa", "~/@(a|+(.ssh))/id_rsa"):  # fmt: skip
        assert policy.restricted(pattern, home, None) == "~/.ssh", pattern
    assert policy.restricted_inside("~/@(x)", home, None) == "~/.ssh"
    assert policy.restricted("~/notes+(1).txt", home, None) is None  # can only name 'notes….txt'


def test_a_powershell_array_is_no_extglob() -> None:
    ctx = replace(windows_context(), cwd="C:\\Users\\u")
    with use_resolver(None):
        assert classify_command('Get-Content @("a\\b.txt")', ctx).verdict == "safe"
        assert classify_command("Get-Content ~\\.ss*\\id_rsa", ctx).verdict == "block"


def test_wildcards_match_a_leading_dot_when_the_command_may_have_set_dotglob(tree: Path) -> None:
    home = str(tree / "home")
    policy = policy_for(home, home + "/.contop", tuple(default_restricted_paths(home + "/.contop")), False, home)
    for pattern in ("~/*/id_rsa", "~/*", "~/?ssh/*", "~/[.]ssh/id_rsa", "~/**/id_rsa"):
        assert policy.restricted(pattern, home, None) is None, pattern  # bash's default: '*' skips hidden names
        assert policy.restricted(pattern, home, None, dotglob=True) is not None, pattern
    assert policy.restricted_inside("~/*", home, None) is None
    assert policy.restricted_inside("~/*", home, None, dotglob=True) == "~/.ssh"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("shopt -s dotglob; cat ~/*/id_rsa", "block"),
        ("GLOBIGNORE=x; cat ~/*/id_rsa", "block"),
        ("bash -O dotglob -c 'cat ~/*/id_rsa'", "block"),
        ("shopt -s extglob\ncat ~/@(.ssh)/id_rsa", "confirm"),  # the parser cannot read '@(…)': asked
        ("bash -O extglob -c 'cat ~/@(.ssh)/id_rsa'", "confirm"),
        ("cat ~/*/id_rsa", "safe"),  # without dotglob, '*' never matches '.ssh'
        ("shopt -s extglob; ls", "safe"),
    ],
)
def test_a_line_that_changes_how_globs_match_is_judged_by_the_new_rules(command: str, expected: str) -> None:
    assert classify_command(command, posix_context()).verdict == expected
