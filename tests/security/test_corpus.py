"""Every labelled entry of the corpus must be classified as labelled; the report shows accuracy per group."""

from __future__ import annotations

from collections import defaultdict

import pytest

from contop.security.gate import decide
from contop.security.paths import use_resolver
from tests.security.corpus_support import FILES, call_and_context, category, load


def _report() -> tuple[str, list[str]]:
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    misses: list[str] = []
    with use_resolver(None):  # the corpus is about fictional paths; no symlinks to follow
        for name in FILES:
            for entry in load(name):
                call, ctx = call_and_context(entry)
                decision = decide(call, ctx)
                ok = decision.verdict == entry["expect"]
                for key in ((name, "all"), (name, category(entry))):
                    totals[key][0] += ok
                    totals[key][1] += 1
                if not ok:
                    shown = entry.get("command") or f"{entry['tool']} {entry.get('args')}"
                    misses.append(
                        f"[{name}] expected {entry['expect']}, got {decision.verdict}: {shown!r} — {decision.reason}"
                    )
    lines = ["platform    category         correct / total   accuracy"]
    for (name, group), (good, total) in sorted(totals.items()):
        lines.append(f"{name:<11} {group:<16} {good:>7} / {total:<7} {100 * good / total:6.1f}%")
    return "\n".join(lines), misses


def test_corpus_is_large_enough() -> None:
    sizes = {name: len(load(name)) for name in FILES}
    assert sum(sizes.values()) >= 400
    assert sizes["powershell"] >= 100
    assert sizes["cmd"] >= 60


def test_corpus_entries_are_well_formed() -> None:
    for name in FILES:
        for entry in load(name):
            assert entry["expect"] in ("safe", "confirm", "block"), entry
            assert isinstance(entry["tricky"], bool) and entry["note"], entry
            assert ("command" in entry) != ("tool" in entry), entry


def test_corpus_accuracy() -> None:
    report, misses = _report()
    print("\n" + report)
    if misses:
        pytest.fail(report + "\n\nmisclassified:\n" + "\n".join(misses), pytrace=False)
