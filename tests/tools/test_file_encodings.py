"""The text tools on files that are not plain UTF-8 (UTF-16/32 and UTF-8 with a byte-order mark, Windows-1252,
Latin-1), and edit_file on files a rename would break (other hard links, a folder we may not write in)."""

from __future__ import annotations

import codecs
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.core.errors import ToolError
from contop.tools import files
from contop.tools.context import ToolContext
from contop.tools.files import edit_file, find_files, read_file
from contop.tools.textcodec import LATIN_1, UTF8, WINDOWS_1252, sniff
from tests.tools.test_foreign_files import as_nobody

TEXT = "Prix: 12 €\r\nCafé crème\r\nfin\r\n"


@pytest.mark.parametrize(
    ("codec", "bom", "label"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 little-endian"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 big-endian"),
        ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32 little-endian"),
        ("utf-8", codecs.BOM_UTF8, "UTF-8 with a byte-order mark"),
    ],
)
async def test_files_with_a_byte_order_mark_are_read_and_edited_in_their_encoding(
    ctx: ToolContext, codec: str, bom: bytes, label: str
) -> None:
    target = Path(ctx.cwd, "notes.txt")
    target.write_bytes(bom + TEXT.encode(codec))
    shown = (await read_file(ctx, "notes.txt"))["stdout"]
    assert shown == f"(text encoding: {label})\n     1\tPrix: 12 €\n     2\tCafé crème\n     3\tfin"
    result = await edit_file(ctx, "notes.txt", "Café crème\nfin", "Thé vert ✓\nfin")  # '\n' matches CRLF
    assert f"written back in its encoding, {label}" in result["stdout"]
    assert target.read_bytes() == bom + "Prix: 12 €\r\nThé vert ✓\r\nfin\r\n".encode(codec)
    found = (await find_files(ctx, "*.txt", search_text="Thé vert"))["stdout"]
    assert "notes.txt:2: Thé vert ✓" in found


async def test_a_windows_1252_file_is_shown_as_such_and_edited_byte_for_byte(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "legacy.ini")
    original = "name=Ren\xe9e \u201cquoted\u201d\nprice=5 \u20ac\nkeep=\xff\xfe?\n".encode("cp1252")
    target.write_bytes(original)
    shown = (await read_file(ctx, "legacy.ini"))["stdout"]
    assert shown.splitlines()[0] == "(not UTF-8: read as Windows-1252, which may be a guess)"
    assert "     1\tname=Renée “quoted”" in shown and "\ufffd" not in shown
    await edit_file(ctx, "legacy.ini", "price=5 €", "price=7 €")
    assert target.read_bytes() == original.replace(b"price=5", b"price=7")
    # A character the file's encoding cannot hold is refused, and nothing is written.
    with pytest.raises(ToolError, match=r"Windows-1252 text, which cannot hold '✓'.*left unchanged"):
        await edit_file(ctx, "legacy.ini", "keep=", "keep=✓")
    assert target.read_bytes() == original.replace(b"price=5", b"price=7")
    assert "legacy.ini:1: name=Renée" in (await find_files(ctx, "*.ini", search_text="Renée"))["stdout"]


async def test_bytes_windows_1252_leaves_undefined_are_kept_as_latin_1(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "odd.txt")
    original = b"a\x81b caf\xe9\n"  # 0x81 has no Windows-1252 character
    target.write_bytes(original)
    assert "read as Latin-1" in (await read_file(ctx, "odd.txt"))["stdout"]
    await edit_file(ctx, "odd.txt", "caf", "CAF")
    assert target.read_bytes() == b"a\x81b CAF\xe9\n"


async def test_utf8_that_turns_invalid_past_the_first_bytes_is_still_edited_exactly(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "mixed.txt")
    original = b"x" * 20000 + b"\nlate caf\xe9\n"
    target.write_bytes(original)
    await edit_file(ctx, "mixed.txt", "late", "LATE")
    assert target.read_bytes() == original.replace(b"late", b"LATE")


def test_sniff() -> None:
    assert sniff(b"") is UTF8
    assert sniff("cut ✓".encode()[:-1]) is UTF8  # a character split at the sample's end
    assert sniff("cut ✓".encode()[:-1], whole=True) is WINDOWS_1252
    assert sniff(b"caf\x81") is LATIN_1
    assert sniff(b"abc\x00def") is None
    assert sniff(codecs.BOM_UTF16_LE + ("\x01\x02\x03" * 100).encode("utf-16-le")) is None  # control characters
    assert sniff(codecs.BOM_UTF16_LE + "a\x00b".encode("utf-16-le")) is None
    assert sniff(codecs.BOM_UTF16_LE + "é".encode("utf-16-le")) is not None


async def test_binary_files_are_still_refused(ctx: ToolContext) -> None:
    Path(ctx.cwd, "blob.bin").write_bytes(b"\x00\x01hello\x00")
    with pytest.raises(ToolError, match="binary"):
        await read_file(ctx, "blob.bin")
    with pytest.raises(ToolError, match="binary"):
        await edit_file(ctx, "blob.bin", "hello", "bye")


# -- files a rename would break ------------------------------------------------------------------------------------


async def test_a_hard_linked_file_is_edited_under_every_name(ctx: ToolContext) -> None:
    first = Path(ctx.cwd, "first.txt")
    first.write_text("version = 1\n")
    second = Path(ctx.home, "second.txt")
    os.link(first, second)
    inode = first.stat().st_ino
    await edit_file(ctx, "first.txt", "version = 1", "version = 2")
    assert second.read_text() == "version = 2\n"
    assert first.stat().st_ino == inode and first.stat().st_nlink == 2


async def test_an_in_place_rewrite_that_fails_puts_the_old_content_back(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Path(ctx.cwd, "first.txt")
    first.write_text("short\n")
    os.link(first, Path(ctx.home, "second.txt"))

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(ToolError, match="old content was put back"):
        await edit_file(ctx, "first.txt", "short", "much longer text")
    monkeypatch.undo()
    assert first.read_text() == "short\n"


@pytest.fixture
def locked_folder() -> Iterator[tuple[ToolContext, Path]]:
    """A file nobody may write, in a folder nobody may create files in (both owned by root)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("becoming another user needs root")
    folder = Path(tempfile.mkdtemp(prefix="contop-locked-"))
    try:
        folder.chmod(0o755)
        target = folder / "shared.conf"
        target.write_text("level = low\n")
        nobody = pwd.getpwnam("nobody")
        os.chown(target, nobody.pw_uid, nobody.pw_gid)
        yield ToolContext(session_id="test", state_dir=folder / "state", home=str(folder), cwd=str(folder)), target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_writable_file_in_a_folder_the_user_may_not_write_is_edited(locked_folder: tuple[ToolContext, Path]) -> None:
    ctx, target = locked_folder
    out = as_nobody(ctx, lambda c: edit_file(c, "shared.conf", "low", "high"))
    assert out.startswith("Edit applied successfully"), out
    assert target.read_text() == "level = high\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["shared.conf"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("excel.csv", "ville;prix\r\nMontréal;5 €\r\n".encode("cp1252")),
        ("unicode.csv", codecs.BOM_UTF16_LE + "ville\tprix\r\nMontréal\t5 €\r\n".encode("utf-16-le")),
        ("bom.csv", codecs.BOM_UTF8 + "ville,prix\nMontréal,5 €\n".encode()),
    ],
)
async def test_read_excel_reads_csv_in_the_encodings_excel_writes(ctx: ToolContext, name: str, data: bytes) -> None:
    from contop.tools.documents import read_excel

    Path(ctx.cwd, name).write_bytes(data)
    out = str((await read_excel(ctx, name))["stdout"])
    assert "2 row(s) x 2 column(s)" in out and "1 | ville    | prix" in out and "2 | Montréal | 5 €" in out, out
