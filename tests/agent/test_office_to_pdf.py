"""The office-documents skill's to-pdf workflow in a real agent run: the user hears why a conversion did not
happen (LibreOffice missing, or LibreOffice writing nothing), not only "exit code 1"."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from contop.agent.events import RecordingEvents
from contop.server.skills_install import install_builtin_skills
from tests.agent.conftest import Env, run_intent

pytestmark = pytest.mark.timeout(120)


def fake_office(folder: Path, body: str) -> None:
    """A ``libreoffice`` executable on PATH that does what ``body`` says (a shell script)."""
    folder.mkdir(exist_ok=True)
    exe = folder / "libreoffice"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


async def convert(env: Env, events: RecordingEvents, document: Path) -> dict:
    install_builtin_skills(env.state / "skills")
    env.settings = env.settings.model_copy(update={"enabled_skills": ["office-documents"]})
    params = {"skill_name": "office-documents", "workflow": "to-pdf", "params": {"path": str(document)}}
    env.script([{"tool": "execute_skill", "args": params}, {"text": "done"}])
    result = await run_intent(env.service(), "convert it to pdf", events)
    assert result.status == "completed", result.answer
    (answer,) = events.of("tool_result")
    return answer


@pytest.fixture
def document(env: Env) -> Path:
    path = env.work / "my notes" / "report v2.docx"
    path.parent.mkdir()
    path.write_bytes(b"PK fake docx")
    return path


async def test_without_libreoffice_the_user_is_told_to_install_it(
    env: Env, events: RecordingEvents, document: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = env.root / "bin"
    empty.mkdir()
    for tool in ("sh", "dirname", "basename", "test"):  # what the steps need, and no LibreOffice
        real = Path("/usr/bin", tool) if Path("/usr/bin", tool).exists() else Path("/bin", tool)
        (empty / tool).symlink_to(real)
    monkeypatch.setenv("PATH", str(empty))
    answer = await convert(env, events, document)
    assert answer["status"] == "error", answer
    said = answer["result"]["voice_message"]
    assert "failed at step 1 of 3" in said and "LibreOffice is not installed" in said, said
    assert "apt install libreoffice" in said, said
    assert not list(document.parent.glob("*.pdf"))


async def test_a_conversion_writes_the_pdf_next_to_the_document(
    env: Env, events: RecordingEvents, document: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # like LibreOffice: the PDF goes in the current folder, named after the document
    fake_office(env.root / "bin", 'for a; do f="$a"; done\nn=$(basename "$f"); echo PDF > "${n%.*}.pdf"\n')
    monkeypatch.setenv("PATH", f"{env.root / 'bin'}:{Path('/usr/bin')}:{Path('/bin')}")
    answer = await convert(env, events, document)
    assert answer["status"] == "success", answer
    pdf = document.parent / "report v2.pdf"
    assert pdf.read_text() == "PDF\n"
    assert str(pdf) in answer["stdout"], answer


async def test_libreoffice_writing_nothing_is_a_failure_saying_why(
    env: Env, events: RecordingEvents, document: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a copy already open for the same user: LibreOffice exits 0 and converts nothing
    fake_office(env.root / "bin", "exit 0\n")
    monkeypatch.setenv("PATH", f"{env.root / 'bin'}:{Path('/usr/bin')}:{Path('/bin')}")
    answer = await convert(env, events, document)
    assert answer["status"] == "error", answer
    said = answer["result"]["voice_message"]
    assert "failed at step 3 of 3" in said and "Close LibreOffice if it is open" in said, said
