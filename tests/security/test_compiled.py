"""The compiled gate (``make gate``): used only when it matches the sources, and deciding exactly as they do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import contop.security as security
from contop.security.gate import decide
from tests.security.corpus_support import FILES, call_and_context, load

ROOT = Path(__file__).resolve().parents[2]

needs_build = pytest.mark.skipif(not security.COMPILED, reason=f"security gate {security.GATE_BUILD}")

_DECIDE_ALL = """
import json, sys
import contop.security as security
from contop.security import gate
from contop.security.gate import decide
from tests.security.corpus_support import FILES, call_and_context, load
out = [decide(*call_and_context(e)) for name in FILES for e in load(name)]
print(json.dumps({"build": security.GATE_BUILD, "module": gate.__file__,
                  "decisions": [[d.verdict, d.route, d.reason] for d in out]}))
"""


@needs_build
def test_the_compiled_and_the_interpreted_gate_decide_the_corpus_alike() -> None:
    from contop.security import gate

    assert gate.__file__ is not None and gate.__file__.endswith(".so"), gate.__file__
    ours = [decide(*call_and_context(e)) for name in FILES for e in load(name)]
    child = subprocess.run(
        [sys.executable, "-c", _DECIDE_ALL], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "CONTOP_GATE_COMPILED": "0"},
    )  # fmt: skip
    interpreted = json.loads(child.stdout)
    assert interpreted["build"] == "interpreted (CONTOP_GATE_COMPILED=0)"
    assert interpreted["module"].endswith("gate.py")
    assert len(ours) == len(interpreted["decisions"]) > 700
    pairs = zip(ours, interpreted["decisions"], strict=True)
    mismatched = [(d, theirs) for d, theirs in pairs if [d.verdict, d.route, d.reason] != theirs]
    assert not mismatched, mismatched[:5]


@needs_build
def test_an_edited_rule_is_never_run_as_stale_compiled_code(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "contop", tmp_path / "contop", ignore=shutil.ignore_patterns("__pycache__"))
    probe = (
        "import contop.security as s; from contop.security import gate, posix; "
        "print(s.GATE_BUILD); print(gate.__file__); print(posix.__file__)"
    )

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )  # fmt: skip
        return out.stdout.splitlines()

    build, gate_file, posix_file = run()
    assert build.startswith("compiled with mypyc") and gate_file.endswith(".so") and posix_file.endswith(".so")
    assert gate_file.startswith(str(tmp_path))

    posix = tmp_path / "contop" / "security" / "posix.py"
    posix.write_text(posix.read_text() + "\n# an edit made after the build\n")
    build, gate_file, posix_file = run()
    assert build.startswith("interpreted (changed since it was compiled: posix;") and "make gate" in build
    assert gate_file.endswith("gate.py") and posix_file.endswith("posix.py")


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTOP_GATE_COMPILED", raising=False)


def _sources_beside(folder: Path) -> Path:
    for name in security.COMPILED_MODULES:
        shutil.copy2(Path(security.PACKAGE_DIR) / f"{name}.py", folder / f"{name}.py")
    compiled = folder / "_compiled"
    compiled.mkdir()
    return compiled


def _manifest(compiled: Path, **fields: object) -> None:
    manifest = {
        "python": security.python_tag(),
        "mypyc": "9.9",
        "sources": security.source_digests(str(compiled.parent)),
    }
    manifest.update(fields)
    (compiled / security.MANIFEST).write_text(json.dumps(manifest))


def test_a_matching_manifest_selects_the_compiled_modules(tmp_path: Path) -> None:
    compiled = _sources_beside(tmp_path)
    _manifest(compiled)
    assert security.compiled_build(str(compiled)) == (True, "compiled with mypyc 9.9")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"python": "cpython-2.7"}, "interpreted (compiled for another Python;"),
        ({"sources": {"posix": "0" * 64}}, "interpreted (changed since it was compiled: "),
        ({"sources": None}, "interpreted (changed since it was compiled: "),
    ],
)
def test_a_manifest_that_does_not_match_keeps_the_gate_interpreted(
    tmp_path: Path, fields: dict[str, object], expected: str
) -> None:
    compiled = _sources_beside(tmp_path)
    _manifest(compiled, **fields)
    ok, why = security.compiled_build(str(compiled))
    assert not ok and why.startswith(expected) and "make gate" in why


def test_a_missing_or_broken_manifest_keeps_the_gate_interpreted(tmp_path: Path) -> None:
    compiled = _sources_beside(tmp_path)
    assert security.compiled_build(str(compiled)) == (False, f"interpreted (not compiled; {security.BUILD_HINT})")
    (compiled / security.MANIFEST).write_text("{not json")
    ok, why = security.compiled_build(str(compiled))
    assert not ok and why.startswith("interpreted (unreadable build manifest: JSONDecodeError;")


def test_the_environment_can_force_the_interpreted_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _sources_beside(tmp_path)
    _manifest(compiled)
    monkeypatch.setenv("CONTOP_GATE_COMPILED", "0")
    assert security.compiled_build(str(compiled)) == (False, "interpreted (CONTOP_GATE_COMPILED=0)")
