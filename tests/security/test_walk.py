"""The gate's symlink resolver gives exactly what ``os.path.realpath`` gives, on a real tree of links, whether it
meets each path fresh or remembers the folders of thousands before it; and it remembers for one decision only."""

from __future__ import annotations

import itertools
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest

from contop.security import paths
from contop.security.decision import ToolCall
from contop.security.gate import classify_command, decide
from contop.security.paths import Walk
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the walk is the POSIX resolver")


def build_tree(root: Path) -> list[str]:
    (root / "real" / "deep" / "er").mkdir(parents=True)
    (root / "real" / "file.txt").write_text("x")
    (root / "secret").mkdir()
    (root / "secret" / "key").write_text("k")
    links = {
        "to_real": "real",  # relative, to a directory
        "abs_secret": str(root / "secret"),  # absolute
        "chain": "to_real",  # a link to a link
        "to_file": "real/file.txt",
        "dangling": "secret/not-yet/inner",  # points into the secret tree, but nothing there exists
        "dangling_abs": str(root / "secret" / "missing"),
        "loop_a": "loop_b",
        "loop_b": "loop_a",
        "up": "real/deep/../..",  # '..' inside the target
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    (root / "real" / "deep" / "back").symlink_to("../../abs_secret")
    names = ["real", "secret", "deep", "er", "file.txt", "key", "missing", ".dot", *links, "back"]
    probes = {str(root)}
    for depth in (1, 2, 3):
        for combo in itertools.product(names, repeat=depth):
            probes.add(str(root.joinpath(*combo)))
    return sorted(probes)


@pytest.fixture(params=["kernel", "walk only"])
def kernel_names(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways of starting: the kernel naming the first path (Linux), and the walk from the root (elsewhere)."""
    if request.param == "walk only":
        monkeypatch.setattr(paths, "_KERNEL_NAMES", False)
    return bool(paths._KERNEL_NAMES)


@pytest.fixture
def probes(tmp_path: Path, kernel_names: bool) -> list[str]:
    found = build_tree(tmp_path)
    assert len(found) > 6000
    return found


def mismatches(walk: Walk, probes: list[str]) -> list[tuple[str, str, str]]:
    return [(p, got, os.path.realpath(p)) for p in probes if (got := walk(p)) != os.path.realpath(p)]


def test_same_answer_as_realpath_for_every_probe_met_fresh(probes: list[str]) -> None:
    assert [(p, Walk()(p), os.path.realpath(p)) for p in probes if Walk()(p) != os.path.realpath(p)] == []


def test_same_answer_when_one_walk_remembers_every_probe_in_any_order(probes: list[str]) -> None:
    assert mismatches(Walk(), probes) == []
    shuffled = list(probes)
    random.Random(7).shuffle(shuffled)
    walk = Walk()
    assert mismatches(walk, shuffled) == []
    assert mismatches(walk, probes) == []  # everything answered from memory now
    assert len(walk.known) > 1000
    assert mismatches(Walk(), ["/", "/nonexistent-top/x", "/proc/self", *probes[:50]]) == []


def test_every_way_into_the_secret_tree_names_it(tmp_path: Path, kernel_names: bool) -> None:
    build_tree(tmp_path)
    walk = Walk()
    assert walk(str(tmp_path / "abs_secret" / "key")) == str(tmp_path / "secret" / "key")
    assert walk(str(tmp_path / "dangling")) == str(tmp_path / "secret" / "not-yet" / "inner")
    assert walk(str(tmp_path / "real" / "deep" / "back" / "x")) == str(tmp_path / "secret" / "x")
    assert walk(str(tmp_path / "chain" / "deep" / "back" / "key")) == str(tmp_path / "secret" / "key")


def test_a_name_too_long_for_the_system_gets_realpaths_answer(tmp_path: Path, kernel_names: bool) -> None:
    build_tree(tmp_path)
    for probe in (tmp_path / ("n" * 300), tmp_path / "real" / ("n" * 300) / "x", tmp_path / "to_real" / ("n" * 300)):
        assert Walk()(str(probe)) == os.path.realpath(probe)


@pytest.mark.parametrize("odd", ["relative/path", "/tmp//x", "/tmp/./x", "/tmp/../etc", "/tmp/x/", "/tmp/..", "/"])
def test_unnormalised_input_goes_the_slow_way_with_the_same_answer(odd: str) -> None:
    assert Walk()(odd) == os.path.realpath(odd)


def test_dot_names_are_ordinary_names(tmp_path: Path, kernel_names: bool) -> None:
    (tmp_path / ".config").mkdir()
    (tmp_path / ".config" / "..x").symlink_to(tmp_path)
    for probe in (tmp_path / ".config" / "a", tmp_path / ".config" / "..x" / "b", tmp_path / "...", tmp_path / ".x."):
        assert Walk()(str(probe)) == os.path.realpath(probe)


def test_each_decision_gets_a_fresh_walk() -> None:
    first, second = paths.decision_resolver(), paths.decision_resolver()
    assert isinstance(first, Walk) and isinstance(second, Walk) and first is not second


def test_a_link_made_between_two_decisions_is_seen_by_the_second(tmp_path: Path) -> None:
    """Nothing is remembered from one command to the next: a folder swapped for a link into a protected place
    between two commands is judged as the link it now is."""
    (tmp_path / "vault").mkdir()
    (tmp_path / "work" / "notes").mkdir(parents=True)
    ctx = replace(posix_context(), home=str(tmp_path), cwd=str(tmp_path / "work"), restricted_paths=("~/vault",))
    read = ToolCall("read_file", {"file_path": "notes/todo.txt"})
    assert decide(read, ctx).verdict == "safe"
    assert classify_command("cat notes/todo.txt", ctx).verdict == "safe"
    (tmp_path / "work" / "notes").rmdir()
    (tmp_path / "work" / "notes").symlink_to(tmp_path / "vault")
    assert decide(read, ctx).verdict == "block"
    assert classify_command("cat notes/todo.txt", ctx).verdict == "block"


def test_a_working_directory_reached_through_a_link_is_judged_where_it_lands(tmp_path: Path) -> None:
    (tmp_path / "vault" / "inner").mkdir(parents=True)
    (tmp_path / "shortcut").symlink_to(tmp_path / "vault")
    ctx = replace(
        posix_context(), home=str(tmp_path), cwd=str(tmp_path / "shortcut" / "inner"), restricted_paths=("~/vault",)
    )
    assert classify_command("ls", ctx).verdict == "block"
    assert classify_command("echo hi", ctx).verdict == "block"  # anything run from inside the vault
