"""The file and document tools run by a server user who may not read or write a file: the tests run as root, so
each tool call runs in a forked child that has become 'nobody', on files in a folder nobody owns."""

from __future__ import annotations

import asyncio
import concurrent.futures.thread  # noqa: F401  # the child cannot import it from root's interpreter folder
import os
import pickle
import pwd
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from PIL import Image

from contop.core.errors import ToolError
from contop.tools.context import ToolContext
from contop.tools.documents import read_excel, read_image, read_pdf, write_excel
from contop.tools.files import edit_file, read_file
from tests.tools.test_documents import make_pdf

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="becoming another user needs root"
)

Call = Callable[[ToolContext], Coroutine[Any, Any, dict[str, Any]]]


def as_nobody(ctx: ToolContext, call: Call) -> str:
    """Run ``call(ctx)`` in a forked child whose user is nobody; its stdout, or 'ToolError: <message>'."""
    user = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            try:
                outcome = str(asyncio.run(call(ctx))["stdout"])
            except ToolError as exc:
                outcome = f"ToolError: {exc}"
            except BaseException as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            with os.fdopen(write_end, "wb") as out:
                out.write(pickle.dumps(outcome))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and data, "the child running as nobody failed"
    result = pickle.loads(data)
    assert isinstance(result, str)
    return result


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[ToolContext]:
    """A working directory nobody owns (so may create and rename files in), outside root's private tmp_path."""
    user = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="contop-foreign-"))
    try:
        folder.chmod(0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
        yield ToolContext(session_id="test", state_dir=tmp_path / "state", home=str(folder), cwd=str(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _warm(ctx: ToolContext, call: Call) -> None:
    """Run ``call`` once as root first: the libraries' lazy imports happen here, where root can read them."""
    asyncio.run(call(ctx))


def test_edit_file_refuses_a_file_the_user_may_not_write(shared: ToolContext) -> None:
    # A root-owned 0644 file in a folder the user may write: a rename would replace it and take it over.
    target = Path(shared.cwd, "hosts.txt")
    target.write_text("127.0.0.1 localhost\n")
    target.chmod(0o644)
    out = as_nobody(shared, lambda c: edit_file(c, "hosts.txt", "localhost", "evil"))
    assert out == (
        f"ToolError: Permission denied: {target} is read-only for this user (mode 0644, owned by root); "
        "it was left unchanged."
    )
    assert target.read_text() == "127.0.0.1 localhost\n"
    st = target.stat()
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o644)
    # The user's own file in the same folder is edited as before, and stays theirs.
    mine = Path(shared.cwd, "mine.txt")
    mine.write_text("a\n")
    os.chown(mine, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    assert as_nobody(shared, lambda c: edit_file(c, "mine.txt", "a", "b")).startswith("Edit applied successfully")
    assert mine.read_text() == "b\n" and mine.stat().st_uid == pwd.getpwnam("nobody").pw_uid


@pytest.mark.parametrize("name", ["book.xlsx", "table.csv"])
def test_write_excel_refuses_a_file_the_user_may_not_write(shared: ToolContext, name: str) -> None:
    target = Path(shared.cwd, name)
    if name.endswith(".xlsx"):
        Workbook().save(target)
    else:
        target.write_text("a,b\r\n")
    target.chmod(0o644)
    before = target.read_bytes()
    _warm(shared, lambda c: write_excel(c, "warm.xlsx", [["a"]]))
    out = as_nobody(shared, lambda c: write_excel(c, name, [["new"]]))
    assert out.startswith(f"ToolError: Permission denied: {target} is read-only for this user")
    assert target.read_bytes() == before and target.stat().st_uid == 0


def _unreadable_documents(folder: Path) -> None:
    make_pdf(folder / "secret.pdf", ["private"])
    Image.new("RGB", (20, 10), "red").save(folder / "secret.png")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["private", 1])
    wb.save(folder / "secret.xlsx")
    (folder / "secret.csv").write_text("private,1\n")
    (folder / "secret.txt").write_text("private\n")


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("secret.pdf", lambda c: read_pdf(c, "secret.pdf")),
        ("secret.png", lambda c: read_image(c, "secret.png")),
        ("secret.xlsx", lambda c: read_excel(c, "secret.xlsx")),
        ("secret.csv", lambda c: read_excel(c, "secret.csv")),
        ("secret.txt", lambda c: read_file(c, "secret.txt")),
    ],
)
def test_reading_a_file_the_user_may_not_read_says_permission_denied(
    shared: ToolContext, name: str, call: Call
) -> None:
    folder = Path(shared.cwd)
    _unreadable_documents(folder)
    _warm(shared, call)  # readable by root: the same call works
    (folder / name).chmod(0o600)
    assert as_nobody(shared, call) == f"ToolError: Permission denied: {folder / name}"
    load_workbook(folder / "secret.xlsx").close()
