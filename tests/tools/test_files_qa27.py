"""File and spreadsheet tools that lost edits or reported wrongly: hard-linked files edited in parallel, edits that
change nothing, files UTF-8 at the start and not later, searches that skip files silently, very wide CSV files,
non-finite numbers written to a sheet, and kernel files that would block or drain when read."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.core.errors import ToolError
from contop.tools import documents, files
from contop.tools.context import ToolContext
from contop.tools.documents import read_excel, write_excel
from contop.tools.files import check_regular_file, edit_file, find_files, read_file
from contop.tools.textcodec import UTF8, WINDOWS_1252, TextEncoding, sniff

# ------------------------------------------------------------------------------------------- parallel edits


async def test_parallel_edits_through_two_hard_links_all_land(ctx: ToolContext) -> None:
    # Two names of one file with no link between them: each edit rewrites the file in place, so both names must
    # share one lock or an edit read before another's write is lost.
    first = Path(ctx.cwd, "first.ini")
    padding = "# comment\n" * 50_000  # half a megabyte: each edit takes long enough for the others to overlap it
    first.write_text(padding + "".join(f"key{i}=old\n" for i in range(60)))
    os.link(first, Path(ctx.cwd, "second.ini"))
    results = await asyncio.gather(
        *(edit_file(ctx, "second.ini" if i % 2 else "first.ini", f"key{i}=old", f"key{i}=new") for i in range(60))
    )
    assert all(str(r["stdout"]).startswith("Edit applied successfully") for r in results)
    assert first.read_text() == padding + "".join(f"key{i}=new\n" for i in range(60))
    assert first.stat().st_nlink == 2
    assert files._file_locks._locks == {}


async def test_parallel_edits_of_a_file_replaced_by_each_edit_all_land(ctx: ToolContext) -> None:
    # A file with one name is replaced by a rename, which gives it a new inode (or an old one again): an edit that
    # waited on the old one must still wait for one that came later and found the new one.
    target = Path(ctx.cwd, "app.ini")
    target.write_text("".join(f"key{i}=old\n" for i in range(60)))
    await asyncio.gather(*(edit_file(ctx, "app.ini", f"key{i}=old", f"key{i}=new") for i in range(60)))
    assert target.read_text() == "".join(f"key{i}=new\n" for i in range(60))
    assert files._file_locks._locks == {}


def test_a_file_made_while_others_wait_is_still_locked_until_its_maker_is_done(tmp_path: Path) -> None:
    # A file not made yet has no inode to lock: a writer that comes once it exists, finding an inode, must still wait
    # for the one that is making it.
    target = tmp_path / "new.txt"
    holding, made = threading.Event(), threading.Event()
    order: list[str] = []

    def maker() -> None:
        with files.locked_file(str(target)):
            holding.set()
            made.wait(5)
            target.write_text("made\n")
            time.sleep(0.2)  # a later writer now finds an inode; it must not get in before this one is done
            order.append("maker done")

    def writer(name: str) -> None:
        with files.locked_file(str(target)):
            order.append(name)

    threads = [threading.Thread(target=maker)]
    threads[0].start()
    assert holding.wait(5)
    threads.append(threading.Thread(target=writer, args=("waiter in",)))  # waits while the file does not exist
    threads[-1].start()
    time.sleep(0.1)
    made.set()
    time.sleep(0.1)
    threads.append(threading.Thread(target=writer, args=("later in",)))  # comes once it exists
    threads[-1].start()
    for thread in threads:
        thread.join(10)
    assert order[0] == "maker done"
    assert sorted(order[1:]) == ["later in", "waiter in"]
    assert files._file_locks._locks == {}


# ----------------------------------------------------------------------------------------- edits that do nothing


async def test_an_edit_that_only_changes_line_endings_of_a_crlf_file_is_refused(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "win.txt")
    target.write_bytes(b"a\r\nb\r\nc\r\n")
    with pytest.raises(ToolError, match=r"differ only in their line endings.*left unchanged"):
        await edit_file(ctx, "win.txt", "a\nb", "a\r\nb")
    assert target.read_bytes() == b"a\r\nb\r\nc\r\n"
    # A real change written with '\n' still gets the file's endings.
    await edit_file(ctx, "win.txt", "a\nb", "a\r\nB")
    assert target.read_bytes() == b"a\r\nB\r\nc\r\n"


# ------------------------------------------------------------------------------- UTF-8 at the start, not later

MIXED = b"#" * 9000 + b"\n" + 'msg = "naïve café"\n'.encode() + b"x = '\xe9'\n"


async def test_a_utf8_file_with_a_stray_byte_late_is_read_edited_and_searched_as_utf8(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "mixed.py")
    target.write_bytes(MIXED)
    shown = str((await read_file(ctx, "mixed.py"))["stdout"]).splitlines()
    assert shown[0] == "(UTF-8, but 1 byte(s) not valid UTF-8, shown as \ufffd; edit_file writes them back unchanged)"
    assert shown[2:] == ['     2\tmsg = "naïve café"', "     3\tx = '\ufffd'"]
    found = str((await find_files(ctx, "*.py", search_text="naïve"))["stdout"])
    assert 'mixed.py:2: msg = "naïve café"' in found
    result = await edit_file(ctx, "mixed.py", 'msg = "naïve café"', 'msg = "naïve crème"')
    assert "1 byte(s) that are not valid UTF-8 were written back unchanged" in str(result["stdout"])
    assert target.read_bytes() == MIXED.replace("café".encode(), "crème".encode())
    # What read_file shows for the stray byte is not in the file: the refusal says so.
    with pytest.raises(ToolError, match="leave them out of old_string"):
        await edit_file(ctx, "mixed.py", "x = '\ufffd'", "x = 'e'")


async def test_a_file_ascii_at_the_start_and_windows_1252_later_says_so_everywhere(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "late.txt")
    original = b"x" * 9000 + b"\nlate caf\xe9 cr\xe8me\n"
    target.write_bytes(original)
    shown = str((await read_file(ctx, "late.txt"))["stdout"]).splitlines()
    assert shown[0] == "(not UTF-8: read as Windows-1252, which may be a guess)"
    assert shown[-1] == "     2\tlate café crème"
    assert "late.txt:2: late café crème" in str((await find_files(ctx, "*.txt", search_text="café"))["stdout"])
    await edit_file(ctx, "late.txt", "café crème", "thé")
    assert target.read_bytes() == original.replace(b"caf\xe9 cr\xe8me", b"th\xe9")


async def test_unpaired_surrogates_are_refused_before_the_file_is_touched(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "plain.txt")
    target.write_text("value = 1\n")
    with pytest.raises(ToolError, match="unpaired surrogate"):
        await edit_file(ctx, "plain.txt", "1", "\udce9")
    assert target.read_bytes() == b"value = 1\n"


def test_more_valid_utf8_than_stray_bytes_is_utf8() -> None:
    assert sniff("naïve café".encode() + b"\xe9", whole=True) == TextEncoding("utf-8", stray=1)
    assert sniff(b"caf\xe9 cr\xe8me", whole=True) is WINDOWS_1252  # no valid UTF-8 at all: legacy text
    assert sniff("é".encode() + b" \xe9", whole=True) is WINDOWS_1252  # a tie is not evidence enough
    assert sniff("naïve".encode() + b"\xe9\xe8", whole=True) is WINDOWS_1252
    assert sniff("naïve ✓".encode()) is UTF8


# -------------------------------------------------------------------------------------------- searches skipped


async def test_find_files_says_which_files_it_did_not_search(ctx: ToolContext, tmp_path: Path) -> None:
    Path(ctx.cwd, "big.log").write_bytes(b"needle\n" + b"x" * (6 * 1024 * 1024))
    outside = tmp_path / "outside.log"
    outside.write_text("needle\n")
    Path(ctx.cwd, "link.log").symlink_to(outside)
    Path(ctx.cwd, "small.log").write_text("no match here\n")
    report = str((await find_files(ctx, "*.log", search_text="needle"))["stdout"])
    assert report.startswith("No files matching '*.log' containing 'needle'")
    assert (
        "[file(s) with matching names whose text was not searched: 1 larger than 5.0 MB, 1 symlinked (their targets "
        "may lie outside the folder searched)]"
    ) in report
    # Without search_text every name is listed and nothing is said about contents.
    listed = str((await find_files(ctx, "*.log"))["stdout"])
    assert "Found 3 files" in listed and "not searched" not in listed


# ------------------------------------------------------------------------------------------------ spreadsheets


async def test_read_excel_of_a_csv_wider_than_a_sheet_cuts_the_columns_and_says_so(ctx: ToolContext) -> None:
    Path(ctx.cwd, "wide.csv").write_text("".join(",".join(str(i) for i in range(20_000)) + "\n" for _ in range(3)))
    out = str((await read_excel(ctx, "wide.csv"))["stdout"])
    lines = out.splitlines()
    assert "(a row has 20000 columns; only the first 16384, A to XFD, the most a sheet has, are shown)" in lines[0]
    assert "x 16384 column(s), range A1:XFD" in lines[1]
    assert lines[3].startswith("1 | 0 | 1 | 2 | 3")  # rows are shown, not only column letters
    assert any(line.startswith("[columns ") and "to XFD not shown" in line for line in lines)


def test_fit_columns() -> None:
    assert documents.fit_columns([1, 1, 1], 1, rows=1, budget=1000) == 3
    assert documents.fit_columns([10] * 100, 2, rows=9, budget=1000) == 7  # 100 characters a line: 5 + 13 x 7 = 96
    assert documents.fit_columns([500], 2, rows=9, budget=1000) == 1  # one column is always shown


@pytest.mark.parametrize("name", ["numbers.xlsx", "numbers.csv"])
@pytest.mark.parametrize(("value", "shown"), [(float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan")])
async def test_write_excel_refuses_numbers_that_are_not_finite(
    ctx: ToolContext, name: str, value: float, shown: str
) -> None:
    with pytest.raises(ToolError, match=rf"Cell B2 \(row 2, column 2\) is {shown}, which is not a finite number"):
        await write_excel(ctx, name, [[1, 2], [3, value]])
    assert not Path(ctx.cwd, name).exists()


# ------------------------------------------------------------------------------------------------ kernel files


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "stream.txt"
    os.mkfifo(path)
    yield path


async def test_a_fifo_is_refused_without_waiting_for_a_writer(ctx: ToolContext, fifo: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError, match="not a regular file"):
        await read_file(ctx, str(fifo))
    with pytest.raises(ToolError, match="not a regular file"):
        files.open_regular(str(fifo))  # even past the stat check (a FIFO put in a file's place), the open does not wait
    assert time.monotonic() - started < 5


def test_a_source_with_nothing_to_read_ends_the_read_instead_of_waiting(fifo: Path) -> None:
    # A FIFO whose writer writes nothing stands for a kernel stream with nothing to give: opened as open_regular
    # opens files, the read returns at once.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    try:
        with os.fdopen(reader, "rb") as f, pytest.raises(ToolError, match="nothing to read now"):
            files.read_at_most(f, 1024, str(fifo))
    finally:
        os.close(writer)


def test_kernel_streams_that_drain_when_read_are_refused_before_opening(tmp_path: Path) -> None:
    # Only stat() is used on /proc/kmsg: reading it would take the kernel's messages from the system log.
    if not os.path.exists("/proc/kmsg"):
        pytest.skip("no /proc/kmsg here")
    with pytest.raises(ToolError, match="kernel stream"):
        check_regular_file("/proc/kmsg")
    assert files.drains_when_read("/proc/kmsg", os.stat("/proc/kmsg"))
    link = tmp_path / "messages.log"
    link.symlink_to("/proc/kmsg")
    with pytest.raises(ToolError, match="kernel stream"):
        check_regular_file(str(link))
    same_name = tmp_path / "kmsg"
    same_name.write_bytes(b"")
    assert not files.drains_when_read(str(same_name), same_name.stat())
    assert not files.drains_when_read("/proc/self/status", os.stat("/proc/self/status"))


async def test_a_kernel_file_that_reports_no_size_is_read(ctx: ToolContext) -> None:
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc here")
    assert os.stat("/proc/self/status").st_size == 0
    out = str((await read_file(ctx, "/proc/self/status", limit=3))["stdout"])
    assert out.splitlines()[0].startswith("     1\tName:")
