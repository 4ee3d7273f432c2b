"""The gate's fast symlink resolver gives exactly what ``os.path.realpath`` gives, on a real tree of links."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from contop.security import paths
from contop.security.paths import kernel_realpath

pytestmark = pytest.mark.skipif(not hasattr(os, "O_PATH"), reason="O_PATH is Linux-only")


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
    names = ["real", "secret", "deep", "er", "file.txt", "key", "missing", "nope", *links, "back"]
    probes = {str(root)}
    for depth in (1, 2, 3):
        for combo in itertools.product(names, repeat=depth):
            probes.add(str(root.joinpath(*combo)))
    return sorted(probes)


def test_same_answer_as_realpath_for_every_probe(tmp_path: Path) -> None:
    probes = build_tree(tmp_path)
    assert len(probes) > 6000
    mismatches = [
        (p, kernel_realpath(p), os.path.realpath(p)) for p in probes if kernel_realpath(p) != os.path.realpath(p)
    ]
    assert mismatches == []
    # the cases that matter to the gate: every way into the secret tree names it
    assert kernel_realpath(str(tmp_path / "abs_secret" / "key")) == str(tmp_path / "secret" / "key")
    assert kernel_realpath(str(tmp_path / "dangling")) == str(tmp_path / "secret" / "not-yet" / "inner")
    assert kernel_realpath(str(tmp_path / "real" / "deep" / "back" / "x")) == str(tmp_path / "secret" / "x")


@pytest.mark.parametrize("odd", ["relative/path", "/tmp//x", "/tmp/./x", "/tmp/../etc", "/tmp/x/", "/"])
def test_unnormalised_input_goes_the_slow_way_with_the_same_answer(odd: str) -> None:
    assert kernel_realpath(odd) == os.path.realpath(odd)


def test_it_is_the_gates_resolver_on_linux() -> None:
    assert paths._resolver is kernel_realpath
