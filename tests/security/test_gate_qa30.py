"""QA 30: a write that names the temporary folder but leads out of it (``/tmp/../work/pyproject.toml``) is judged
by where it lands, as any other write over an existing configuration file is. Commands are only classified here,
never run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from contop.security.decision import GateContext
from contop.security.gate import classify_command
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.timeout(60)

OVERWRITES = "overwrites an existing file"


@pytest.fixture
def project() -> Iterator[Path]:
    """A project outside /tmp (where files are scratch and never asked about) holding a pyproject.toml."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as root:
        folder = Path(root) / "proj"
        folder.mkdir()
        (folder / "pyproject.toml").write_text("[project]\nname = 'x'\n")
        yield folder


def context(cwd: Path) -> GateContext:
    return replace(posix_context(), cwd=str(cwd))


def judge(command: str, ctx: GateContext) -> tuple[str, str]:
    decision = classify_command(command, ctx)
    return decision.verdict, decision.reason


@pytest.mark.parametrize(
    "command",
    [
        "echo 'b = 2' > {up}/pyproject.toml",
        "cp notes.txt {up}/pyproject.toml",
        "curl -o {up}/pyproject.toml http://127.0.0.1:9/x",
        "printf x | tee {up}/pyproject.toml",
        "echo 'b = 2' > $TMPDIR/../..{project}/pyproject.toml",
    ],
)
def test_a_write_through_tmp_dot_dot_over_a_project_file_asks_as_the_direct_write_does(
    project: Path, command: str
) -> None:
    ctx = context(project)
    direct = command.replace("{up}", str(project)).replace("$TMPDIR/../..{project}", str(project))
    assert judge(direct, ctx)[0] == "confirm"
    got, why = judge(command.replace("{up}", "/tmp/.." + str(project)).replace("{project}", str(project)), ctx)
    assert (got, OVERWRITES in why) == ("confirm", True), why


@pytest.mark.parametrize(
    "command",
    [
        "echo x > /tmp/notes/pyproject.toml",
        "echo x > /tmp/a/../b/pyproject.toml",
        "cp a.toml /tmp/x/pyproject.toml",
        "curl -o /tmp/pyproject.toml http://127.0.0.1:9/x",
    ],
)
def test_writes_that_stay_in_the_temporary_folder_stay_safe(project: Path, command: str) -> None:
    assert judge(command, context(project))[0] == "safe"
