"""read_pdf, read_image, read_excel and write_excel on real PDFs, images and workbooks made here."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import os
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.chart import BarChart, Reference
from PIL import Image
from pypdf import PdfReader, PdfWriter

from contop.core.errors import NotAvailableError, ToolError
from contop.tools import documents, files
from contop.tools.context import ToolContext
from contop.tools.documents import (
    TOOLS,
    parse_cell_range,
    parse_page_range,
    read_excel,
    read_image,
    read_pdf,
    write_excel,
)

RESULT_KEYS = {"status", "stdout", "stderr", "exit_code", "duration_ms"}


def _assert_success(result: dict[str, object]) -> None:
    assert RESULT_KEYS <= result.keys()
    assert result["status"] == "success"
    assert result["exit_code"] == 0
    assert isinstance(result["duration_ms"], int)


def make_pdf(path: Path, page_texts: list[str]) -> Path:
    """Write a small but valid PDF by hand: one Helvetica text line per page, with a correct xref table."""
    n = len(page_texts)
    font_id = 3 + 2 * n
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{3 + 2 * i} 0 R".encode() for i in range(n))
        + f"] /Count {n} >>".encode(),
    ]
    for i, text in enumerate(page_texts):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 14 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


@pytest.fixture
def pdf(ctx: ToolContext) -> Path:
    return make_pdf(Path(ctx.cwd, "report.pdf"), [f"Page number {i} says hello" for i in range(1, 6)])


def test_tools_table() -> None:
    assert TOOLS == {
        "read_pdf": read_pdf,
        "read_image": read_image,
        "read_excel": read_excel,
        "write_excel": write_excel,
    }


# ------------------------------------------------------------------------------------------------- read_pdf


async def test_read_pdf_all_pages(ctx: ToolContext, pdf: Path) -> None:
    result = await read_pdf(ctx, "report.pdf")
    _assert_success(result)
    out = str(result["stdout"])
    assert out.startswith(f"PDF {pdf}: 5 page(s)")
    for i in range(1, 6):
        assert f"--- Page {i} ---\nPage number {i} says hello" in out


@pytest.mark.parametrize(
    ("pages", "expected"),
    [("3", [3]), ("2-4", [2, 3, 4]), ("4-", [4, 5]), ("1, 3-4", [1, 3, 4]), ("", [1, 2, 3, 4, 5])],
)
async def test_read_pdf_page_ranges(ctx: ToolContext, pdf: Path, pages: str, expected: list[int]) -> None:
    out = str((await read_pdf(ctx, str(pdf), pages=pages))["stdout"])
    shown = [i for i in range(1, 6) if f"Page number {i} says" in out]
    assert shown == expected


async def test_read_pdf_home_path(ctx: ToolContext) -> None:
    make_pdf(Path(ctx.home, "h.pdf"), ["In the home folder"])
    assert "In the home folder" in str((await read_pdf(ctx, "~/h.pdf"))["stdout"])


@pytest.mark.parametrize(("pages", "message"), [("9", "out of range"), ("0", "start at 1"), ("x", "Invalid page")])
async def test_read_pdf_bad_ranges(ctx: ToolContext, pdf: Path, pages: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await read_pdf(ctx, str(pdf), pages=pages)


def test_parse_page_range() -> None:
    assert parse_page_range("1-3,2", 5) == [1, 2, 3]
    with pytest.raises(ToolError, match="upwards"):
        parse_page_range("4-2", 5)


async def test_read_pdf_errors(ctx: ToolContext, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="File not found"):
        await read_pdf(ctx, "nope.pdf")
    with pytest.raises(ToolError, match="is a directory"):
        await read_pdf(ctx, str(tmp_path))
    Path(ctx.cwd, "fake.pdf").write_text("just text")
    with pytest.raises(ToolError, match="not a PDF"):
        await read_pdf(ctx, "fake.pdf")
    Path(ctx.cwd, "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    with pytest.raises(ToolError, match="could not be read as a PDF"):
        await read_pdf(ctx, "broken.pdf")


async def test_read_pdf_encrypted(ctx: ToolContext, pdf: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(pdf))
    writer.encrypt(user_password="secret", algorithm="AES-128")
    with open(Path(ctx.cwd, "locked.pdf"), "wb") as f:
        writer.write(f)
    with pytest.raises(ToolError, match="password-protected"):
        await read_pdf(ctx, "locked.pdf")
    # An owner-password-only PDF opens with the empty user password.
    writer = PdfWriter(clone_from=PdfReader(pdf))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    with open(Path(ctx.cwd, "owner.pdf"), "wb") as f:
        writer.write(f)
    assert "Page number 2 says hello" in str((await read_pdf(ctx, "owner.pdf"))["stdout"])


async def test_read_pdf_text_cap(ctx: ToolContext, pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_PDF_CHARS", 60)
    out = str((await read_pdf(ctx, str(pdf)))["stdout"])
    assert "Page number 1 says" in out
    assert "Page number 5 says" not in out
    assert "text limit reached" in out and "pages='" in out


async def test_read_pdf_page_without_text(ctx: ToolContext) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with open(Path(ctx.cwd, "blank.pdf"), "wb") as f:
        writer.write(f)
    assert "no extractable text" in str((await read_pdf(ctx, "blank.pdf"))["stdout"])


# ----------------------------------------------------------------------------------------------- read_image


def _decode_payload(result: dict[str, object]) -> Image.Image:
    assert result["mime_type"] == "image/jpeg"
    img = Image.open(io.BytesIO(base64.b64decode(str(result["image_b64"]))))
    assert img.format == "JPEG"
    return img


async def test_read_image_large_png_is_scaled(ctx: ToolContext) -> None:
    Image.new("RGBA", (2000, 1000), (255, 0, 0, 128)).save(Path(ctx.cwd, "big.png"))
    result = await read_image(ctx, "big.png")
    _assert_success(result)
    out = str(result["stdout"])
    assert "format: PNG" in out and "dimensions: 2000x1000 pixels" in out and "mode: RGBA" in out
    assert "scaled to 1280x640" in out
    img = _decode_payload(result)
    assert img.size == (1280, 640)
    assert (result["image_width"], result["image_height"]) == (1280, 640)
    r, g, _b = img.getpixel((10, 10))  # type: ignore[misc]
    assert r > 240 and 100 < g < 160  # half-transparent red over white


async def test_read_image_small_jpeg_with_exif(ctx: ToolContext) -> None:
    img = Image.new("RGB", (300, 200), (0, 128, 255))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    img.save(Path(ctx.home, "photo.jpg"), exif=exif, dpi=(72, 72))
    result = await read_image(ctx, "~/photo.jpg")
    out = str(result["stdout"])
    assert "format: JPEG" in out and "dimensions: 300x200" in out
    assert "exif Make: TestCam" in out and "exif Model: Model X" in out
    assert "dpi: 72x72" in out
    assert _decode_payload(result).size == (300, 200)


async def test_read_image_animated_gif_and_other_formats(ctx: ToolContext) -> None:
    frames = [Image.new("RGB", (64, 32), color) for color in ("red", "green", "blue")]
    frames[0].save(Path(ctx.cwd, "anim.gif"), save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = str((await read_image(ctx, "anim.gif"))["stdout"])
    assert "format: GIF" in out and "frames: 3 (animated)" in out
    for ext, fmt in [("bmp", "BMP"), ("webp", "WEBP"), ("tiff", "TIFF")]:
        Image.new("L", (40, 30), 200).save(Path(ctx.cwd, f"x.{ext}"))
        result = await read_image(ctx, f"x.{ext}")
        assert f"format: {fmt}" in str(result["stdout"])
        assert _decode_payload(result).size == (40, 30)


async def test_read_image_errors(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolError, match="File not found"):
        await read_image(ctx, "none.png")
    Path(ctx.cwd, "notes.png").write_text("not an image")
    with pytest.raises(ToolError, match="not an image in a supported format"):
        await read_image(ctx, "notes.png")
    with pytest.raises(ToolError, match="is a directory"):
        await read_image(ctx, ".")
    Image.new("RGB", (100, 100)).save(Path(ctx.cwd, "ok.png"))
    monkeypatch.setattr(documents, "MAX_IMAGE_PIXELS", 5000)
    with pytest.raises(ToolError, match="too large"):
        await read_image(ctx, "ok.png")


# ----------------------------------------------------------------------------------------------- read_excel


@pytest.fixture
def workbook(ctx: ToolContext) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "People"
    ws.append(["Name", "Age", "Joined", "Score"])
    ws.append(["Ada", 36, dt.datetime(2020, 1, 2), 9.5])
    ws.append(["Linus", 54, dt.datetime(2021, 3, 4, 10, 30), 8.0])
    ws.append(["Grace", 85, None, 10])
    other = wb.create_sheet("Totals")
    other.append(["Total", 175])
    path = Path(ctx.cwd, "people.xlsx")
    wb.save(path)
    return path


async def test_read_excel_first_sheet(ctx: ToolContext, workbook: Path) -> None:
    result = await read_excel(ctx, "people.xlsx")
    _assert_success(result)
    lines = str(result["stdout"]).splitlines()
    assert lines[0] == f"Workbook {workbook}; sheets: People, Totals"
    assert lines[1] == "Sheet 'People': 4 row(s) x 4 column(s), range A1:D4"
    assert lines[2].split(" | ")[1:] == ["A    ", "B  ", "C                  ", "D"]
    assert [c.strip() for c in lines[3].split("|")] == ["1", "Name", "Age", "Joined", "Score"]
    assert [c.strip() for c in lines[4].split("|")] == ["2", "Ada", "36", "2020-01-02", "9.5"]
    assert [c.strip() for c in lines[5].split("|")] == ["3", "Linus", "54", "2021-03-04 10:30:00", "8"]
    assert [c.strip() for c in lines[6].split("|")] == ["4", "Grace", "85", "", "10"]


async def test_read_excel_sheet_and_range(ctx: ToolContext, workbook: Path) -> None:
    totals = str((await read_excel(ctx, str(workbook), sheet="Totals"))["stdout"])
    assert "Sheet 'Totals': 1 row(s) x 2 column(s), range A1:B1" in totals
    assert "Total | 175" in totals
    part = str((await read_excel(ctx, "people.xlsx", range="B2:C3"))["stdout"])
    assert "range B2:C3" in part
    rows = [[c.strip() for c in line.split("|")] for line in part.splitlines()[3:]]
    assert rows == [["2", "36", "2020-01-02"], ["3", "54", "2021-03-04 10:30:00"]]
    col = str((await read_excel(ctx, "people.xlsx", range="A:A"))["stdout"])
    assert "4 row(s) x 1 column(s), range A1:A4" in col
    qualified = str((await read_excel(ctx, "people.xlsx", range="Totals!b1"))["stdout"])
    assert "Sheet 'Totals': 1 row(s) x 1 column(s), range B1:B1" in qualified
    quoted = str((await read_excel(ctx, "people.xlsx", range="'People'!A4:B4"))["stdout"])
    assert "Grace | 85" in quoted
    with pytest.raises(ToolError, match="use one of them"):
        await read_excel(ctx, "people.xlsx", sheet="People", range="Totals!A1")
    empty = str((await read_excel(ctx, "people.xlsx", range="H10:J20"))["stdout"])
    assert "no data in the requested range" in empty


@pytest.mark.parametrize(
    ("cell_range", "message"),
    [
        ("ZZ", r"Invalid cell range 'ZZ': a single cell needs a column and a row.*'ZZ:ZZ'"),
        ("7", r"Invalid cell range '7'.*whole row write '7:7'"),
        ("A1:C", r"Invalid cell range 'A1:C': both ends must be"),
        ("XFE1", r"Invalid cell range 'XFE1': column XFE is past the last column"),
        ("A0", r"Invalid cell range 'A0': row 0 does not exist"),
        ("People!ZZ", r"Invalid cell range 'ZZ'"),
    ],
)
async def test_read_excel_names_a_bad_range(ctx: ToolContext, workbook: Path, cell_range: str, message: str) -> None:
    # "ZZ" was read as the whole column ZZ and answered "no data in the requested range".
    with pytest.raises(ToolError, match=message):
        await read_excel(ctx, "people.xlsx", range=cell_range)


def test_parse_cell_range() -> None:
    assert parse_cell_range(None) == (1, 1, None, None)
    assert parse_cell_range(" b2 ") == (2, 2, 2, 2)
    assert parse_cell_range("$A$1:$D$10") == (1, 1, 4, 10)
    assert parse_cell_range("C3:A1") == (1, 1, 3, 3)  # corners in either order, as Excel takes them
    assert parse_cell_range("A:C") == (1, 1, 3, None)
    assert parse_cell_range("2:5") == (1, 2, None, 5)
    assert parse_cell_range("XFD1048576") == (16384, 1048576, 16384, 1048576)
    for bad in ("A1:B2:C3", "1A", ":", "A1:", "A1:1048577"):
        with pytest.raises(ToolError, match=f"Invalid cell range '{bad}'"):
            parse_cell_range(bad)


async def test_read_excel_errors(ctx: ToolContext, workbook: Path) -> None:
    with pytest.raises(ToolError, match=r"Sheet 'Nope' not found.*People, Totals"):
        await read_excel(ctx, "people.xlsx", sheet="Nope")
    with pytest.raises(ToolError, match="Invalid cell range"):
        await read_excel(ctx, "people.xlsx", range="not a range")
    with pytest.raises(ToolError, match="File not found"):
        await read_excel(ctx, "missing.xlsx")
    Path(ctx.cwd, "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(NotAvailableError, match=r"legacy \.xls"):
        await read_excel(ctx, "old.xls")
    Path(ctx.cwd, "doc.txt").write_text("a,b")
    with pytest.raises(ToolError, match="not a spreadsheet"):
        await read_excel(ctx, "doc.txt")
    Path(ctx.cwd, "fake.xlsx").write_text("not a zip")
    with pytest.raises(ToolError, match="could not be opened as an Excel workbook"):
        await read_excel(ctx, "fake.xlsx")


async def test_read_excel_csv(ctx: ToolContext) -> None:
    Path(ctx.cwd, "data.csv").write_text("city;people\nParis;2100000\nLyon;520000\n", encoding="utf-8")
    out = str((await read_excel(ctx, "data.csv"))["stdout"])
    assert "Sheet 'data.csv': 3 row(s) x 2 column(s), range A1:B3" in out
    assert "Paris | 2100000" in out
    ranged = str((await read_excel(ctx, "data.csv", range="A2:A3", sheet="ignored"))["stdout"])
    assert "'sheet' was ignored" in ranged
    assert "range A2:A3" in ranged and "Lyon" in ranged and "people" not in ranged


async def test_read_excel_malformed_csv(ctx: ToolContext) -> None:
    Path(ctx.cwd, "huge.csv").write_text('a,"' + "x" * 200_000 + '"\n')
    with pytest.raises(ToolError, match="could not be read as CSV"):
        await read_excel(ctx, "huge.csv")


async def test_read_excel_row_cap(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_SHEET_ROWS", 5)
    Path(ctx.cwd, "long.csv").write_text("".join(f"{i},x\n" for i in range(1, 21)))
    out = str((await read_excel(ctx, "long.csv"))["stdout"])
    assert "5 row(s)" in out
    assert "pass range='A6:B10'" in out


# ---------------------------------------------------------------------------------------------- write_excel


async def test_write_excel_new_workbook(ctx: ToolContext) -> None:
    data: list[list[Any]] = [["Item", "Qty", "Price"], ["Pen", 3, 1.5], ["Ink", 1, None], ["Sum", "=B2+B3", True]]
    result = await write_excel(ctx, "out/shop.xlsx", data, sheet="Orders")
    _assert_success(result)
    path = Path(ctx.cwd, "out", "shop.xlsx")
    assert str(result["stdout"]) == (
        f"Excel file written successfully: 4 row(s) x 3 column(s) to sheet 'Orders' of {path}"
    )
    wb = load_workbook(path)
    assert wb.sheetnames == ["Orders"]
    values = [list(r) for r in wb["Orders"].iter_rows(values_only=True)]
    assert values == [["Item", "Qty", "Price"], ["Pen", 3, 1.5], ["Ink", 1, None], ["Sum", "=B2+B3", True]]
    wb.close()
    assert path.stat().st_mode & 0o777 == files.new_file_mode()
    # Round trip through read_excel: a formula never calculated shows as its text.
    back = str((await read_excel(ctx, "out/shop.xlsx"))["stdout"])
    assert "Pen  | 3" in back
    assert [c.strip() for c in back.splitlines()[-1].split("|")] == ["4", "Sum", "=B2+B3", "True"]


async def test_write_excel_default_sheet_name(ctx: ToolContext) -> None:
    await write_excel(ctx, "~/plain.xlsx", [[1, 2]])
    wb = load_workbook(Path(ctx.home, "plain.xlsx"))
    assert wb.sheetnames == ["Sheet1"]
    wb.close()


async def test_write_excel_keeps_other_sheets(ctx: ToolContext, workbook: Path) -> None:
    workbook.chmod(0o600)
    result = await write_excel(ctx, "people.xlsx", [["new", "data"]], sheet="People")
    assert "other sheets kept: Totals" in str(result["stdout"])
    wb = load_workbook(workbook)
    assert wb.sheetnames == ["People", "Totals"]
    assert [list(r) for r in wb["People"].iter_rows(values_only=True)] == [["new", "data"]]
    assert [list(r) for r in wb["Totals"].iter_rows(values_only=True)] == [["Total", 175]]
    wb.close()
    assert workbook.stat().st_mode & 0o777 == 0o600
    await write_excel(ctx, "people.xlsx", [["added"]], sheet="Extra")
    wb = load_workbook(workbook)
    assert wb.sheetnames == ["People", "Totals", "Extra"]
    wb.close()


async def test_write_excel_csv(ctx: ToolContext) -> None:
    result = await write_excel(ctx, "t.csv", [["a", "b, c"], [1, None], [dt.date(2024, 5, 6)]], sheet="x")
    assert "CSV file written successfully: 3 row(s) x 2 column(s)" in str(result["stdout"])
    assert "'sheet' does not apply" in str(result["stdout"])
    assert Path(ctx.cwd, "t.csv").read_bytes() == b'a,"b, c"\r\n1,\r\n2024-05-06\r\n'


@pytest.mark.parametrize(
    ("path", "data", "sheet", "message"),
    [
        ("x.xlsx", "not rows", None, "list of rows"),
        ("x.xlsx", [1, 2], None, "Row 1 of data is not a list"),
        ("x.xlsx", [["ok", {"a": 1}]], None, "row 1, column 2"),
        ("x.xlsx", [["a"]], "bad/name", "Invalid sheet name"),
        ("x.xlsx", [["a"]], "x" * 32, "Invalid sheet name"),
        ("x.xls", [["a"]], None, "Legacy .xls"),
        ("x.xlsx", [[0] * 16_385], None, "at most 16384 columns"),
        ("x.json", [["a"]], None, "must end in .xlsx or .csv"),
    ],
)
async def test_write_excel_errors(ctx: ToolContext, path: str, data: object, sheet: str | None, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await write_excel(ctx, path, data, sheet=sheet)  # type: ignore[arg-type]
    assert not Path(ctx.cwd, path).exists()


async def test_write_excel_refuses_corrupt_existing(ctx: ToolContext) -> None:
    target = Path(ctx.cwd, "bad.xlsx")
    target.write_text("not a workbook")
    with pytest.raises(ToolError, match="left unchanged"):
        await write_excel(ctx, "bad.xlsx", [["a"]])
    assert target.read_text() == "not a workbook"
    Path(ctx.cwd, "dir.xlsx").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        await write_excel(ctx, "dir.xlsx", [["a"]])


# ------------------------------------------------------------------------- write_excel: rewrites of one file


async def test_write_excel_parallel_sheets_of_one_workbook_all_land(ctx: ToolContext, workbook: Path) -> None:
    # The agent writes several sheets of one workbook with parallel calls; each rewrites the whole file.
    names = [f"Region{i}" for i in range(8)]
    results = await asyncio.gather(
        *(write_excel(ctx, "people.xlsx", [[name, i]], sheet=name) for i, name in enumerate(names))
    )
    assert all("written successfully" in str(r["stdout"]) for r in results)
    wb = load_workbook(workbook)
    assert sorted(wb.sheetnames) == sorted(["People", "Totals", *names])
    for i, name in enumerate(names):
        assert [list(r) for r in wb[name].iter_rows(values_only=True)] == [[name, i]]
    wb.close()
    # The same for a workbook that does not exist yet: only the first call creates it.
    await asyncio.gather(*(write_excel(ctx, "new.xlsx", [[name]], sheet=name) for name in names))
    wb = load_workbook(Path(ctx.cwd, "new.xlsx"))
    assert sorted(wb.sheetnames) == sorted(names)
    wb.close()


WORKBOOK_PART_TYPE = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "xltx": "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "xltm": "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
VBA_REL = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"


def _package(path: Path) -> tuple[dict[str, str], dict[str, bytes]]:
    """The content type of each part of an OOXML package (its Override, else its extension's Default), and the
    parts' bytes."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    root = ElementTree.fromstring(parts["[Content_Types].xml"])
    by_ext = {el.attrib["Extension"]: el.attrib["ContentType"] for el in root if el.tag.endswith("Default")}
    types = {f"/{name}": by_ext.get(name.rpartition(".")[2], "") for name in parts}
    types.update({el.attrib["PartName"]: el.attrib["ContentType"] for el in root if el.tag.endswith("Override")})
    return types, parts


def make_macro_workbook(path: Path, vba: bytes) -> Path:
    """A macro-enabled workbook as Excel saves one: a vbaProject.bin part, its content type and relationship."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Data"
    ws.append(["x", 1])
    wb.create_sheet("Notes").append(["keep me"])
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(WORKBOOK_PART_TYPE["xlsx"].encode(), WORKBOOK_PART_TYPE["xlsm"].encode())
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                    b"</Types>",
                )
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    f'<Relationship Id="rIdVba" Type="{VBA_REL}" Target="vbaProject.bin"/></Relationships>'.encode(),
                )
            dst.writestr(info, data)
        dst.writestr("xl/vbaProject.bin", vba)
    return path


async def test_write_excel_keeps_the_macros_of_an_xlsm(ctx: ToolContext) -> None:
    vba = b"\xd0\xcf\x11\xe0 pretend VBA project " * 40
    path = make_macro_workbook(Path(ctx.cwd, "tools.xlsm"), vba)
    result = await write_excel(ctx, "tools.xlsm", [["y", 2]], sheet="Data")
    assert "other sheets kept: Notes" in str(result["stdout"])
    types, parts = _package(path)
    assert parts["xl/vbaProject.bin"] == vba
    assert types["/xl/workbook.xml"] == WORKBOOK_PART_TYPE["xlsm"]
    assert types["/xl/vbaProject.bin"] == "application/vnd.ms-office.vbaProject"
    assert VBA_REL.encode() in parts["xl/_rels/workbook.xml.rels"]
    wb = load_workbook(path)
    assert [list(r) for r in wb["Data"].iter_rows(values_only=True)] == [["y", 2]]
    assert [list(r) for r in wb["Notes"].iter_rows(values_only=True)] == [["keep me"]]
    wb.close()


@pytest.mark.parametrize("ext", ["xlsx", "xlsm", "xltx", "xltm"])
async def test_write_excel_declares_the_type_its_name_says(ctx: ToolContext, ext: str) -> None:
    # Excel refuses a workbook whose content type and extension disagree.
    await write_excel(ctx, f"book.{ext}", [["a", 1]])
    types, parts = _package(Path(ctx.cwd, f"book.{ext}"))
    assert types["/xl/workbook.xml"] == WORKBOOK_PART_TYPE[ext]
    assert "xl/vbaProject.bin" not in parts
    assert b"vbaProject" not in parts["xl/_rels/workbook.xml.rels"]  # no link to a part that is not there
    await write_excel(ctx, f"book.{ext}", [["b", 2]], sheet="Second")  # and again once it exists
    types, parts = _package(Path(ctx.cwd, f"book.{ext}"))
    assert types["/xl/workbook.xml"] == WORKBOOK_PART_TYPE[ext]
    assert b"vbaProject" not in parts["xl/_rels/workbook.xml.rels"]
    assert "Second" in str((await read_excel(ctx, f"book.{ext}", sheet="Second"))["stdout"])


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root ignores permissions: the point")
@pytest.mark.parametrize("name", ["people.xlsx", "people.csv"])
async def test_write_excel_refuses_a_read_only_file_even_as_root(ctx: ToolContext, workbook: Path, name: str) -> None:
    target = Path(ctx.cwd, name)
    if name.endswith(".csv"):
        target.write_text("a,b\r\n")
    target.chmod(0o444)
    before = target.read_bytes()
    with pytest.raises(ToolError, match=rf"Permission denied: .*{name} is read-only \(mode 0444\)"):
        await write_excel(ctx, name, [["new"]], sheet="People" if name.endswith(".xlsx") else None)
    assert target.read_bytes() == before
    assert target.stat().st_mode & 0o7777 == 0o444


async def test_write_excel_sheet_names_ignore_case(ctx: ToolContext, workbook: Path) -> None:
    result = await write_excel(ctx, "people.xlsx", [["replaced"]], sheet="people")
    assert "to sheet 'People' of" in str(result["stdout"])
    wb = load_workbook(workbook)
    assert wb.sheetnames == ["People", "Totals"]
    assert [list(r) for r in wb["People"].iter_rows(values_only=True)] == [["replaced"]]
    wb.close()
    out = str((await read_excel(ctx, "people.xlsx", sheet="TOTALS"))["stdout"])
    assert "Sheet 'Totals'" in out and "175" in out


@pytest.fixture
def charted(ctx: ToolContext) -> Path:
    """A workbook whose first sheet is a chart sheet, drawing the data of the worksheet after it."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Data"
    for row in ([1, 2], [3, 4]):
        ws.append(row)
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=1, min_row=1, max_row=2))
    wb.create_chartsheet("Chart1", 0).add_chart(chart)
    path = Path(ctx.cwd, "charted.xlsx")
    wb.save(path)
    return path


async def test_read_excel_chart_sheets(ctx: ToolContext, charted: Path) -> None:
    with pytest.raises(ToolError) as caught:
        await read_excel(ctx, "charted.xlsx", sheet="Chart1")
    assert str(caught.value) == (
        f"Sheet 'Chart1' of {charted} is a chart sheet: it holds a chart, not cells; its worksheets are: Data."
    )
    out = str((await read_excel(ctx, "charted.xlsx"))["stdout"])  # no sheet: the first one with cells
    assert "Sheet 'Data': 2 row(s) x 2 column(s)" in out


async def test_write_excel_never_replaces_a_chart_sheet(ctx: ToolContext, charted: Path) -> None:
    result = await write_excel(ctx, "charted.xlsx", [["new", 9]])
    assert "to sheet 'Data' of" in str(result["stdout"])
    wb = load_workbook(charted)
    assert wb.sheetnames == ["Chart1", "Data"]
    assert [cs.title for cs in wb.chartsheets] == ["Chart1"]
    assert [list(r) for r in wb["Data"].iter_rows(values_only=True)] == [["new", 9]]
    wb.close()
    with pytest.raises(ToolError, match=r"'Chart1' of .* is a chart sheet; it cannot hold data"):
        await write_excel(ctx, "charted.xlsx", [["x"]], sheet="chart1")


async def test_document_paths_with_a_nul_byte_are_refused_clearly(ctx: ToolContext) -> None:
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: read_pdf(ctx, "a\x00.pdf"),
        lambda: read_image(ctx, "a\x00.png"),
        lambda: read_excel(ctx, "a\x00.xlsx"),
        lambda: write_excel(ctx, "a\x00.xlsx", [["a"]]),
    ]
    for call in calls:
        with pytest.raises(ToolError, match="contains a NUL character"):
            await call()
