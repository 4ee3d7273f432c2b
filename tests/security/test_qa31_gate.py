"""QA 31: a write that names the temporary folder is judged where it lands once links are followed, those on disk
and those made earlier on the line, so writing the project's configuration through a link in /tmp asks as the
direct write does; ``$TMPDIR`` is the temporary folder only when the server's environment says where that is; and
the global options of kubectl, oc, az and fly given before the subcommand no longer hide one that sends this
computer's input away (``kubectl -n prod exec -i …``). Commands are only classified here, never run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from contop.core.defaults import DEFAULT_DESTRUCTIVE_PATTERNS, DEFAULT_FORBIDDEN_COMMANDS, default_restricted_paths
from contop.security.decision import GateContext
from contop.security.enforce import GateLists, GuardedToolset
from contop.security.gate import classify_command
from contop.tools.context import ToolContext
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.timeout(60)

OVERWRITES = "overwrites an existing file"
SENDS = "sends a file from this computer to another one"
CONFIG = "[project]\nname = 'x'\n"


@pytest.fixture
def project() -> Iterator[Path]:
    """A project outside /tmp (where files are scratch and never asked about) holding a pyproject.toml."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as root:
        folder = Path(root) / "proj"
        folder.mkdir()
        (folder / "pyproject.toml").write_text(CONFIG)
        yield folder


@pytest.fixture
def scratch(project: Path) -> Iterator[Path]:
    """A real folder in /tmp holding ``projlink`` (a link to the project), a real folder ``realdir`` and a
    pyproject.toml of its own, in it and in ``realdir``."""
    with tempfile.TemporaryDirectory(dir="/tmp") as root:
        folder = Path(root)
        (folder / "projlink").symlink_to(project)
        (folder / "realdir").mkdir()
        (folder / "realdir" / "pyproject.toml").write_text(CONFIG)
        (folder / "pyproject.toml").write_text(CONFIG)
        yield folder


def context(cwd: Path, tmpdir: str = "") -> GateContext:
    ctx = replace(posix_context(), cwd=str(cwd))
    return replace(ctx, tmpdir=tmpdir) if tmpdir else ctx


def judge(command: str, ctx: GateContext) -> tuple[str, str]:
    decision = classify_command(command, ctx)
    return decision.verdict, decision.reason


def filled(command: str, project: Path, scratch: Path) -> str:
    rel = os.path.relpath(project, scratch)
    return command.replace("{project}", str(project)).replace("{scratch}", str(scratch)).replace("{rel}", rel)


# ------------------------------------------------------------------------------------------- links


@pytest.mark.parametrize(
    "command",
    [
        "echo 'b = 2' > {scratch}/projlink/pyproject.toml",
        "cp notes.txt {scratch}/projlink/pyproject.toml",
        "printf x | tee {scratch}/projlink/pyproject.toml",
        "sort -o {scratch}/projlink/pyproject.toml notes.txt",
        "echo x > {scratch}/projlink/../proj/pyproject.toml",  # the kernel follows the link before the '..'
    ],
)
def test_a_write_through_a_link_in_tmp_over_a_project_file_asks_as_the_direct_write_does(
    project: Path, scratch: Path, command: str
) -> None:
    ctx = context(project)
    direct = command.replace("{scratch}/projlink/../proj", "{project}").replace("{scratch}/projlink", "{project}")
    assert judge(filled(direct, project, scratch), ctx)[0] == "confirm"
    got, why = judge(filled(command, project, scratch), ctx)
    assert (got, OVERWRITES in why) == ("confirm", True), why


@pytest.mark.parametrize(
    "command",
    [
        "ln -s {project} {scratch}/p1 && echo x > {scratch}/p1/pyproject.toml",
        "ln -s {project} {scratch}/p1; cp notes.txt {scratch}/p1/pyproject.toml",
        "ln -s {project}/pyproject.toml {scratch}/l.toml; echo x > {scratch}/l.toml",
        "ln -s {project}/pyproject.toml {scratch}/l.toml; cp notes.txt {scratch}/l.toml",
        "ln -s {rel} {scratch}/rel; echo x > {scratch}/rel/pyproject.toml",  # relative to the link's folder
        "ln {project}/pyproject.toml {scratch}/h.toml; echo x > {scratch}/h.toml",  # a hard link
        "ln -s {project} {scratch}/ && echo x > {scratch}/proj/pyproject.toml",  # named after its source
        "cd {scratch} && ln -s {project} p && echo x > {scratch}/p/pyproject.toml",
        "ln -s {project} {scratch}/a && ln -s {scratch}/a {scratch}/b && echo x > {scratch}/b/pyproject.toml",
        "ln -s {project} {scratch}/p1 && echo x > {scratch}/p1/../proj/pyproject.toml",
        "ln -s $D {scratch}/w; echo x > {scratch}/w/pyproject.toml",  # leads somewhere not known
        "ln -s {project} $D; echo x > {scratch}/w/pyproject.toml",  # made in a folder not known
    ],
)
def test_a_write_through_a_link_the_line_made_in_tmp_is_judged_where_it_leads(
    project: Path, scratch: Path, command: str
) -> None:
    got, why = judge(filled(command, project, scratch), context(project))
    assert (got, OVERWRITES in why) == ("confirm", True), why


@pytest.mark.parametrize(
    "command",
    [
        "echo x > {scratch}/realdir/new.txt",
        "echo x > {scratch}/realdir/pyproject.toml",
        "cp notes.txt {scratch}/realdir/pyproject.toml",
        "echo x > {scratch}/pyproject.toml",
        "echo x > {scratch}/realdir/../pyproject.toml",
        "ln -s {scratch}/realdir {scratch}/p2; echo x > {scratch}/p2/pyproject.toml",
        "ln -s realdir {scratch}/p3; echo x > {scratch}/p3/pyproject.toml",
        "mkdir {scratch}/d && echo x > {scratch}/d/pyproject.toml",
        "ln -s {project} {scratch}/p4; echo x > {scratch}/realdir/pyproject.toml",
        "echo x > {scratch}/projlink/notes.txt",  # a new file in the project: nothing is overwritten
    ],
)
def test_writes_that_stay_in_a_real_temporary_folder_stay_safe(project: Path, scratch: Path, command: str) -> None:
    got, why = judge(filled(command, project, scratch), context(project))
    assert got == "safe", why


# ------------------------------------------------------------------------------------------- $TMPDIR


@pytest.mark.parametrize(
    ("command", "tmpdir"),
    [
        ("echo x > $TMPDIR{project}/pyproject.toml", ""),  # not set: '$TMPDIR' is empty, this is the project
        ("echo x > $TMPDIR{project}/pyproject.toml", "tmp"),  # not an absolute path
        ("echo x > $TMPDIR{project}/pyproject.toml", "/"),
        ("echo x > $TMPDIRX{project}/pyproject.toml", "{scratch}"),  # another variable
        ("echo x > $TMPDIR_X{project}/pyproject.toml", "{scratch}"),
        ("unset TMPDIR; echo x > $TMPDIR{project}/pyproject.toml", "{scratch}"),
        ("t=TMP; unset ${t}DIR; echo x > $TMPDIR{project}/pyproject.toml", "{scratch}"),
        ("bash -c 'echo x > $TMPDIR{project}/pyproject.toml'", "{scratch}"),  # a shell with its own environment
        ("echo x > $TMPDIR/projlink/pyproject.toml", "{scratch}"),  # known, then judged as any other path
        ("ln -s {project} $TMPDIR/w; echo x > $TMPDIR/w/pyproject.toml", "{scratch}"),
    ],
)
def test_tmpdir_is_the_temporary_folder_only_when_the_server_says_where_it_is(
    project: Path, scratch: Path, command: str, tmpdir: str
) -> None:
    got, why = judge(filled(command, project, scratch), context(project, filled(tmpdir, project, scratch)))
    assert (got, OVERWRITES in why) == ("confirm", True), why


@pytest.mark.parametrize(
    "command",
    [
        "echo x > $TMPDIR/pyproject.toml",
        "echo x > ${TMPDIR}/realdir/pyproject.toml",
        "echo x > $TMPDIR/new/pyproject.toml",
        "ln -s realdir $TMPDIR/p; echo x > $TMPDIR/p/pyproject.toml",
    ],
)
def test_writes_into_the_servers_tmpdir_stay_safe(project: Path, scratch: Path, command: str) -> None:
    got, why = judge(filled(command, project, scratch), context(project, str(scratch)))
    assert got == "safe", why


def test_the_tool_gate_judges_commands_with_the_servers_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def lists() -> GateLists:
        return GateLists(
            restricted_paths=tuple(default_restricted_paths(str(tmp_path / "state"))),
            forbidden_commands=DEFAULT_FORBIDDEN_COMMANDS,
            destructive_patterns=DEFAULT_DESTRUCTIVE_PATTERNS,
        )

    ctx = ToolContext(session_id="s", state_dir=tmp_path / "state", home=str(tmp_path), cwd=str(tmp_path))
    toolset = GuardedToolset({}, lists=lists)
    monkeypatch.setenv("TMPDIR", "/var/tmp/agent")
    assert toolset.gate_context(ctx).tmpdir == "/var/tmp/agent"
    monkeypatch.delenv("TMPDIR")
    assert toolset.gate_context(ctx).tmpdir == ""


# ------------------------------------------------------------------------------------------- kubectl and friends


@pytest.mark.parametrize(
    "command",
    [
        "kubectl -n prod exec -i pod -- sh < notes.txt",
        "kubectl --namespace prod exec -i pod -- sh < notes.txt",
        "kubectl --context c exec -i pod -- sh < notes.txt",
        "kubectl --kubeconfig k.yaml exec -it pod -- sh < notes.txt",
        "kubectl -s https://h:6443 --token t exec --stdin pod -- sh < notes.txt",
        "kubectl -v 6 attach -i pod < notes.txt",
        "kubectl --request-timeout 5s run -i x --image=busybox -- sh < notes.txt",
        "kubectl --some-new-option v exec -i pod -- sh < notes.txt",  # its value may be the next word
        "cat notes.txt | kubectl -n prod exec -i pod -- sh",
        "oc -n p rsh pod < notes.txt",
        "oc --as admin exec -i pod -- sh < notes.txt",
        "az --subscription S ssh vm -n x < notes.txt",
        "fly -t token ssh console < notes.txt",
    ],
)
def test_global_options_before_the_subcommand_do_not_hide_one_that_sends_input_away(command: str) -> None:
    got, why = judge(command, posix_context())
    assert (got, SENDS in why) == ("confirm", True), why


@pytest.mark.parametrize(
    "command",
    [
        "kubectl -n prod get pods",
        "kubectl -n prod get pods < notes.txt",
        "kubectl -n exec get pods < notes.txt",  # a namespace named like a subcommand
        "kubectl -n prod exec pod -- ls < notes.txt",  # no -i: the pod's command gets no input
        "kubectl --namespace=prod logs pod",
        "kubectl --insecure-skip-tls-verify get pods < notes.txt",
        "oc -n p get pods < notes.txt",
        "az --subscription S vm list < notes.txt",
    ],
)
def test_look_alikes_that_send_nothing_stay_safe(command: str) -> None:
    got, why = judge(command, posix_context())
    assert got == "safe", why


# ------------------------------------------------------------------------------------------- the reports


@pytest.mark.parametrize(
    "command",
    [
        "echo x > {scratch}/projlink/pyproject.toml",
        "cp a {scratch}/projlink/pyproject.toml",
        "ln -s {project} {scratch}/p1 && echo x > {scratch}/p1/pyproject.toml",
        "kubectl -n prod exec -i pod -- sh < secrets.txt",
    ],
)
def test_the_qa_reports_ask_through_contop_classify(project: Path, scratch: Path, command: str) -> None:
    env = dict(os.environ, HOME=str(project.parent), CONTOP_HOME=str(project.parent / ".contop"))
    done = subprocess.run(
        [sys.executable, "-m", "contop.cli.classify", "--json", filled(command, project, scratch)],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=30,
        check=True,
    )
    assert json.loads(done.stdout)["decision"] == "confirm", done.stdout
