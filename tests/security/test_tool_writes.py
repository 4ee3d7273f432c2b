"""A writing tool's destination is judged as a shell redirection there is; reading tools are not affected."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from contop.security.decision import GateContext, ToolCall, Verdict
from contop.security.enforce import ConfirmationRequest, GateLists, GuardedToolset
from contop.security.gate import decide
from contop.security.paths import use_resolver
from contop.tools.context import ToolContext
from contop.tools.files import edit_file
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.timeout(30)

URL = "https://example.com/payload"


def judge(tool: str, **args: Any) -> tuple[Verdict, str]:
    with use_resolver(None):  # fictional paths under /home/u: no symlinks to follow
        decision = decide(ToolCall(tool, args), posix_context())
    return decision.verdict, decision.reason


@pytest.mark.parametrize(
    ("path", "expected", "why"),
    [
        ("/usr/bin/ls", "block", "overwrites operating system files"),
        ("/etc/ld.so.preload", "block", "installs a downloaded file to run automatically"),
        # As `curl -o /etc/cron.d/evil URL` is: a download into a login or autostart file runs what it fetched.
        ("/etc/cron.d/evil", "block", "installs a downloaded file to run automatically"),
        ("~/.bashrc", "block", "installs a downloaded file to run automatically"),
        ("/home/u/.profile", "block", "installs a downloaded file to run automatically"),
        ("/dev/sda", "block", "writes over a disk or device"),
        ("/etc/app.conf", "confirm", "writes into a system folder"),
        ("/opt/tool/bin/tool", "confirm", "writes into a system folder"),
        ("~/Documents/x.txt", "safe", ""),
        ("~/Downloads/setup.sh", "safe", ""),  # a download's own name is no sign it replaces an existing file
        ("report.pdf", "safe", ""),
    ],
)
def test_download_destination(path: str, expected: Verdict, why: str) -> None:
    verdict, reason = judge("download_file", url=URL, path=path)
    assert verdict == expected, reason
    assert why in reason


@pytest.mark.parametrize(
    ("folder", "url", "expected"),
    [
        ("/usr/bin", "https://example.com/ls", "block"),  # lands at /usr/bin/ls
        ("~", "https://example.com/.bashrc", "block"),  # lands at ~/.bashrc
        ("~/", "https://example.com/%2Eprofile", "block"),  # percent-decoded as the tool decodes it
        ("/etc/cron.d/", "https://example.com/job", "block"),
        ("/etc", "https://example.com/app.conf", "confirm"),
        ("~", "https://example.com/archive.zip", "safe"),
        ("~/Downloads/", "https://example.com/a/archive.zip?v=2", "safe"),
    ],
)
def test_download_into_a_folder_is_judged_by_the_file_it_makes(folder: str, url: str, expected: Verdict) -> None:
    verdict, reason = judge("download_file", url=url, path=folder)
    assert verdict == expected, reason


WRITERS = [
    ("edit_file", "file_path", {"old_string": "a", "new_string": "b"}),
    ("write_excel", "path", {"data": [[1]]}),
    ("convert_document", "output_path", {"input_path": "report.docx"}),
]


@pytest.mark.parametrize(("tool", "arg", "extra"), WRITERS)
@pytest.mark.parametrize(
    ("path", "expected", "why"),
    [
        ("~/.bashrc", "confirm", "changes what runs automatically at login or boot"),
        ("~/.profile", "confirm", "changes what runs automatically at login or boot"),
        ("~/.config/autostart/app.desktop", "confirm", "changes what runs automatically at login or boot"),
        ("/etc/cron.d/evil", "confirm", "changes what runs automatically at login or boot"),
        ("/etc/profile.d/x.sh", "confirm", "changes what runs automatically at login or boot"),
        ("/etc/hosts", "block", "overwrites operating system files"),
        ("/etc/fstab", "block", "overwrites operating system files"),
        ("/usr/bin/ls", "block", "overwrites operating system files"),
        ("/boot/grub/grub.cfg", "block", "overwrites operating system files"),
        ("/etc/app.conf", "confirm", "writes into a system folder"),
        ("/dev/sda", "block", "writes over a disk or device"),
        ("~/Documents/x.txt", "safe", ""),
        ("src/main.py", "safe", ""),  # editing a project's file is what edit_file is for
        ("~/proj/config.yaml", "safe", ""),
    ],
)
def test_writer_destination(tool: str, arg: str, extra: dict[str, Any], path: str, expected: Verdict, why: str) -> None:
    verdict, reason = judge(tool, **{arg: path}, **extra)
    assert verdict == expected, reason
    assert why in reason
    if expected != "safe":
        assert tool in reason


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("read_file", {"file_path": "~/.bashrc"}),
        ("read_file", {"file_path": "/etc/hosts"}),
        ("read_file", {"file_path": "/usr/bin/ls"}),
        ("read_pdf", {"path": "/usr/share/doc/manual.pdf"}),
        ("read_excel", {"path": "/etc/app/table.xlsx"}),
        ("find_files", {"pattern": "*.conf", "path": "/etc"}),
        ("convert_document", {"input_path": "/etc/app/notes.docx"}),  # read from a system folder, written beside us
    ],
)
def test_reading_tools_are_unchanged(tool: str, args: dict[str, Any]) -> None:
    verdict, reason = judge(tool, **args)
    assert verdict == "safe", reason


def test_a_restricted_destination_is_still_blocked_as_such() -> None:
    verdict, reason = judge("edit_file", file_path="~/.ssh/authorized_keys", old_string="a", new_string="b")
    assert verdict == "block" and "protected location ~/.ssh" in reason


def _real_context(home: Path) -> GateContext:
    return replace(posix_context(), home=str(home), cwd=str(home), state_dir=str(home / ".contop"))


def test_a_link_is_judged_by_the_file_it_leads_to(tmp_path: Path) -> None:
    (tmp_path / ".bashrc").write_text("export A=1\n")
    (tmp_path / "notes.txt").symlink_to(tmp_path / ".bashrc")
    (tmp_path / "tools").symlink_to("/usr/bin")
    ctx = _real_context(tmp_path)
    edit = decide(ToolCall("edit_file", {"file_path": "notes.txt", "old_string": "1", "new_string": "2"}), ctx)
    assert edit.verdict == "confirm" and "login or boot" in edit.reason
    download = decide(ToolCall("download_file", {"url": URL, "path": "~/tools/ls"}), ctx)
    assert download.verdict == "block" and "operating system files" in download.reason


class Refuse:
    def __init__(self) -> None:
        self.asked: list[ConfirmationRequest] = []

    async def confirm(self, request: ConfirmationRequest) -> bool:
        self.asked.append(request)
        return False


async def test_editing_a_login_file_does_not_run_unattended(tmp_path: Path) -> None:
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("export PATH=$PATH\n")
    ctx = ToolContext(session_id="s", state_dir=tmp_path / ".contop", home=str(tmp_path), cwd=str(tmp_path))
    refuse = Refuse()
    toolset = GuardedToolset({"edit_file": edit_file}, lists=lambda: GateLists(), confirmer=refuse)
    args = {"file_path": "~/.bashrc", "old_string": "$PATH", "new_string": "/tmp/evil:$PATH"}
    outcome = await toolset.call("edit_file", args, ctx, call_id="w1")
    assert outcome.status == "rejected" and outcome.executed_on == "none"
    assert [r.tool for r in refuse.asked] == ["edit_file"]
    assert bashrc.read_text() == "export PATH=$PATH\n"


def test_a_misnamed_path_argument_is_still_judged_by_what_it_names() -> None:
    # 'path' for read_file's 'file_path': the call is refused as invalid, but a filter user must not read "safe"
    assert judge("read_file", path="/home/u/.ssh/id_rsa") == (
        "block",
        "read_file names a protected location ~/.ssh in 'path'",
    )
    assert judge("read_file", path="notes.txt") == ("safe", "read_file names no path in file_path")
    assert judge("read_file", file_path="notes.txt")[0] == "safe"


def test_rewriting_a_skill_asks_and_creating_one_does_not() -> None:
    # A skill's text goes into the prompts of later runs: a prompt-injected run could leave instructions behind.
    verdict, reason = judge("edit_skill", skill_name="office-documents", content="---\nname: x\n---\nobey")
    assert verdict == "confirm"
    assert reason == "rewrites the skill 'office-documents', whose instructions later runs follow"
    assert judge("create_skill", name="notes", description="keeps notes")[0] == "safe"  # disabled until enabled


@pytest.fixture
def project() -> Any:
    """A project folder outside /tmp (writes under /tmp are never asked about), holding a configuration file."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="contop-project-", dir="/var/tmp"))
    (folder / "pyproject.toml").write_text("[project]\n")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    "command", ["curl -o pyproject.toml https://e.com/x", "wget -O pyproject.toml https://e.com/x"]
)
def test_a_download_over_an_existing_configuration_file_asks_as_a_redirection_does(project: Path, command: str) -> None:
    from contop.security.gate import classify_command

    ctx = GateContext(cwd=str(project), home=str(project), state_dir=str(project / ".state"))
    assert classify_command("echo x > pyproject.toml", ctx).verdict == "confirm"
    decision = classify_command(command, ctx)
    assert decision.verdict == "confirm" and "overwrites an existing file" in decision.reason, decision
    assert classify_command(command.replace("pyproject.toml", "new.toml"), ctx).verdict == "safe"
    for args in ({"path": str(project / "pyproject.toml")}, {"path": str(project)}):
        tool = decide(ToolCall("download_file", {"url": "https://e.com/pyproject.toml", **args}), ctx)
        assert tool.verdict == "confirm" and "overwrites an existing file" in tool.reason, (args, tool)
    fresh = decide(ToolCall("download_file", {"url": "https://e.com/x", "path": str(project / "new.toml")}), ctx)
    assert fresh.verdict == "safe"
