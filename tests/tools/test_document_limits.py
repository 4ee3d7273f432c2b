"""read_image, read_excel and write_excel on files built to cost gigabytes: refused from their headers, or read in
bounded memory. Peak memory is measured in a child process, whose whole life is the one tool call."""

from __future__ import annotations

import base64
import io
import json
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from PIL import Image

from contop.core.errors import ToolError
from contop.tools import documents
from contop.tools.context import ToolContext
from contop.tools.documents import (
    IMAGE_MAX_HEIGHT,
    IMAGE_MAX_WIDTH,
    MAX_IMAGE_SIDE,
    MiB,
    check_image_size,
    payload_size,
    read_excel,
    read_image,
    write_excel,
    xlsx_size_problem,
)

unix_only = pytest.mark.skipif(sys.platform == "win32", reason="measures peak memory with the resource module")

# One read_image call in a fresh interpreter, reporting its result and the process's peak resident memory.
_MEASURE = """
import asyncio, json, resource, sys
from contop.core.errors import ToolError
from contop.tools.context import ToolContext
from contop.tools.documents import read_image

folder, name = sys.argv[1], sys.argv[2]
ctx = ToolContext(session_id="limits", state_dir=folder, home=folder, cwd=folder)
try:
    result = asyncio.run(read_image(ctx, name))
    out = {"stdout": result["stdout"], "size": [result["image_width"], result["image_height"]]}
except ToolError as exc:
    out = {"error": str(exc)}
except BaseException as exc:
    out = {"crash": f"{type(exc).__name__}: {exc}"}
try:  # this process's own high-water mark (ru_maxrss also counts the parent it was forked from)
    with open("/proc/self/status") as status:
        out["peak_mb"] = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_mb"] = peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
print(json.dumps(out))
"""


def _read_image_in_child(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path.parent), path.name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def zero_png(path: Path, width: int, height: int, *, channels: int = 4) -> Path:
    """A PNG (8-bit grey, RGB or RGBA by ``channels``) of all-zero pixels, written without ever holding them: the
    deflate stream is one compressed block of zeros repeated (each ends in a full flush, so they join up)."""
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    raw_size = height * (1 + width * channels)  # each row: filter byte 0, then the pixels
    block = 1 << 20
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = packer.compress(bytes(block)) + packer.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(raw_size, block)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = last.compress(bytes(rest)) + last.flush()
    adler = ((raw_size % 65521) << 16) | 1  # Adler-32 of n zero bytes
    idat = b"\x78\xda" + segment * count + tail + struct.pack(">I", adler)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------------------------ images


def test_check_image_size() -> None:
    check_image_size("a.png", MAX_IMAGE_SIDE, 1000)
    check_image_size("a.png", 10_000, 10_000)
    with pytest.raises(ToolError, match=r"^a\.png is 100000000x1 pixels; images wider or taller than 65535"):
        check_image_size("a.png", 100_000_000, 1)
    with pytest.raises(ToolError, match="wider or taller"):
        check_image_size("a.png", 3, MAX_IMAGE_SIDE + 1)
    with pytest.raises(ToolError, match=r"too large to decode \(20000x20000 pixels; the limit is 100 million pixels\)"):
        check_image_size("a.png", 20_000, 20_000)


def test_payload_size() -> None:
    assert payload_size(300, 200) == (300, 200)
    assert payload_size(2000, 1000) == (IMAGE_MAX_WIDTH, 640)
    assert payload_size(65_535, 1) == (IMAGE_MAX_WIDTH, 1)
    assert payload_size(1, 65_535) == (1, IMAGE_MAX_HEIGHT)
    assert payload_size(500, 20_000) == (200, IMAGE_MAX_HEIGHT)
    # EXIF orientations 5 to 8 show the image turned a quarter: the limits apply to it as shown.
    assert payload_size(6000, 4000, orientation=6) == (1920, 1280)
    assert payload_size(6000, 4000, orientation=3) == (1280, 853)
    assert payload_size(20_000, 500, orientation=8) == (IMAGE_MAX_HEIGHT, 200)


@unix_only
def test_a_png_100_million_pixels_wide_is_refused_from_its_header(tmp_path: Path) -> None:
    # 100 KB on disk; decoding it used to raise a bare MemoryError after asking for gigabytes.
    png = zero_png(tmp_path / "strip.png", 100_000_000, 1, channels=1)
    assert png.stat().st_size < 200_000
    result = _read_image_in_child(png)
    assert str(result.get("error")).startswith(
        f"{png} is 100000000x1 pixels; images wider or taller than 65535 pixels are not read"
    ), result
    assert float(result["peak_mb"]) < 150, result


@unix_only
def test_a_huge_rgba_png_is_scaled_in_bounded_memory(tmp_path: Path) -> None:
    # 81 million transparent pixels: 324 MB once decoded, and that decode is the only full-size copy made (the
    # flattening and scaling used to make four more: 1.4 GB).
    png = zero_png(tmp_path / "huge.png", 9000, 9000)
    result = _read_image_in_child(png)
    assert "crash" not in result and "error" not in result, result
    assert result["size"] == [1280, 1280]
    assert "dimensions: 9000x9000 pixels" in str(result["stdout"])
    assert "payload: JPEG scaled to 1280x1280" in str(result["stdout"])
    assert float(result["peak_mb"]) < 600, result


@unix_only
def test_a_big_jpeg_is_decoded_at_a_reduced_scale(tmp_path: Path) -> None:
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from PIL import Image; Image.new('L', (12000, 8000), 90).save(sys.argv[1], quality=80)",
            str(tmp_path / "photo.jpg"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    result = _read_image_in_child(tmp_path / "photo.jpg")
    assert result["size"] == [1280, 853], result
    assert "dimensions: 12000x8000 pixels" in str(result["stdout"])
    assert float(result["peak_mb"]) < 200, result


async def test_a_very_tall_image_fits_what_vision_models_accept(ctx: ToolContext) -> None:
    Image.new("L", (500, 20_000), 40).save(Path(ctx.cwd, "tall.png"))
    result = await read_image(ctx, "tall.png")
    assert (result["image_width"], result["image_height"]) == (200, IMAGE_MAX_HEIGHT)
    assert f"payload: JPEG scaled to 200x{IMAGE_MAX_HEIGHT}" in str(result["stdout"])


async def test_an_image_wider_than_the_side_limit_is_refused(ctx: ToolContext) -> None:
    Image.new("RGB", (MAX_IMAGE_SIDE + 1, 4)).save(Path(ctx.cwd, "wide.png"))
    with pytest.raises(ToolError, match=r"is 65536x4 pixels; images wider or taller than 65535 pixels are not read"):
        await read_image(ctx, "wide.png")


async def test_exif_orientation_and_scaling_together(ctx: ToolContext) -> None:
    img = Image.new("RGB", (4000, 3000), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 2000, 3000))  # the left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: the left half on top
    img.save(Path(ctx.cwd, "turned.jpg"), exif=exif, quality=90)
    result = await read_image(ctx, "turned.jpg")
    assert (result["image_width"], result["image_height"]) == (1280, 1707)
    shown = Image.open(io.BytesIO(base64.b64decode(str(result["image_b64"])))).convert("RGB")
    assert shown.size == (1280, 1707)
    top, bottom = shown.getpixel((640, 200)), shown.getpixel((640, 1500))
    assert top[0] > 200 and top[2] < 60, top  # type: ignore[index]
    assert bottom[2] > 200 and bottom[0] < 60, bottom  # type: ignore[index]


async def test_palette_image_with_transparency_is_flattened_while_scaling(ctx: ToolContext) -> None:
    img = Image.new("P", (3000, 600), 1)
    img.putpalette([0, 0, 0, 0, 200, 0] + [0, 0, 0] * 254)
    img.paste(0, (0, 0, 1500, 600))  # the left half is index 0, transparent
    img.save(Path(ctx.cwd, "pal.png"), transparency=0)
    result = await read_image(ctx, "pal.png")
    shown = Image.open(io.BytesIO(base64.b64decode(str(result["image_b64"])))).convert("RGB")
    assert shown.size == (1280, 256)
    left, right = shown.getpixel((100, 128)), shown.getpixel((1200, 128))
    assert min(left) > 240, left  # type: ignore[arg-type]  # transparent shows white
    assert right[1] > 170 and right[0] < 40, right  # type: ignore[index]


# ----------------------------------------------------------------------------------------------------- workbooks

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _column(n: int) -> str:
    name = ""
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(65 + rest) + name
    return name


def craft_xlsx(path: Path, sheet: Iterable[bytes]) -> Path:
    """A workbook openpyxl made, its one sheet then replaced by the given XML, streamed into the zip so that no test
    holds hundreds of megabytes."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws["A1"] = "first"
    skeleton = io.BytesIO()
    wb.save(skeleton)
    with zipfile.ZipFile(skeleton) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info, src.read(info))
                continue
            with dst.open(info.filename, "w", force_zip64=True) as part:
                for piece in sheet:
                    part.write(piece)
    return path


def huge_cell(megabytes: int) -> Iterable[bytes]:
    """A sheet whose one cell holds ``megabytes`` of one letter, as inline text."""
    yield f'<worksheet xmlns="{_NS}"><dimension ref="A1"/><sheetData>'.encode()
    yield b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
    block = b"a" * MiB
    for _ in range(megabytes):
        yield block
    yield b"</t></is></c></row></sheetData></worksheet>"


def number_rows(rows: int, columns: int, *, dimension: bool) -> Iterable[bytes]:
    """A sheet of ``rows`` x ``columns`` numbers, with or without the <dimension> record of its size."""
    yield f'<worksheet xmlns="{_NS}">'.encode()
    if dimension:
        yield f'<dimension ref="A1:{_column(columns)}{rows}"/>'.encode()
    yield b"<sheetData>"
    names = [_column(c) for c in range(1, columns + 1)]
    for r in range(1, rows + 1):
        cells = "".join(f'<c r="{names[c]}{r}"><v>{(r * 31 + c) % 997}</v></c>' for c in range(columns))
        yield f'<row r="{r}">{cells}</row>'.encode()
    yield b"</sheetData></worksheet>"


def test_xlsx_size_problem() -> None:
    normal = [("[Content_Types].xml", 1_200, 400), ("xl/worksheets/sheet1.xml", 40 * MiB, 6 * MiB)]
    assert xlsx_size_problem(normal, editing=False) is None
    bomb = [("xl/sharedStrings.xml", 40 * MiB, 40 * 1024)]
    assert "more than 100 times smaller packed than unpacked" in str(xlsx_size_problem(bomb, editing=False))
    tiny_but_packed_well = [("xl/styles.xml", 500_000, 1_000)]
    assert xlsx_size_problem(tiny_but_packed_well, editing=False) is None
    big_strings = [("xl/sharedStrings.xml", 65 * MiB, 20 * MiB)]
    assert "over the limit of 64.0 MB for one part" in str(xlsx_size_problem(big_strings, editing=False))
    big_sheet = [("xl/worksheets/sheet1.xml", 257 * MiB, 30 * MiB)]
    assert "over the limit of 256.0 MB for one part" in str(xlsx_size_problem(big_sheet, editing=False))
    many = [(f"xl/worksheets/sheet{i}.xml", 200 * MiB, 20 * MiB) for i in range(6)]
    assert "unpacks to 1.2 GB, over the limit of 1.0 GB" in str(xlsx_size_problem(many, editing=False))
    unsized = xlsx_size_problem(normal, editing=False, unsized=["xl/worksheets/sheet1.xml"])
    assert "does not record its size" in str(unsized)
    assert xlsx_size_problem(normal, editing=False, unsized=["xl/worksheets/other.xml"]) is None
    editing = xlsx_size_problem(normal, editing=True)
    assert "write the rows to a new workbook instead" in str(editing)
    assert xlsx_size_problem([("xl/media/image1.png", 40 * MiB, 39 * MiB)], editing=True) is None


async def test_a_zip_bomb_workbook_is_refused_unread(ctx: ToolContext) -> None:
    # 40 MB of one letter pack into 40 KB; the worst of these (500 MB in 500 KB) took the server 1.4 GB to read.
    path = craft_xlsx(Path(ctx.cwd, "bomb.xlsx"), huge_cell(40))
    assert path.stat().st_size < 200_000
    before = path.read_bytes()
    with pytest.raises(
        ToolError,
        match=r"bomb\.xlsx was not opened: its part xl/worksheets/sheet1\.xml unpacks from 4\d\.\d KB to 40\.0 MB",
    ):
        await read_excel(ctx, "bomb.xlsx")
    with pytest.raises(ToolError, match=r"which only a zip bomb is\. The file was left unchanged\.$"):
        await write_excel(ctx, "bomb.xlsx", [["new"]], sheet="Other")
    assert path.read_bytes() == before


async def test_write_excel_refuses_a_workbook_too_big_to_load(ctx: ToolContext) -> None:
    # Rewriting a sheet loads the whole workbook: 2 million rows took 61 s and 1.2 GB. This one has 20 MB of XML.
    path = craft_xlsx(Path(ctx.cwd, "big.xlsx"), number_rows(40_000, 20, dimension=True))
    before = path.read_bytes()
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"write the rows to a new workbook instead\. The file was left unchanged\.$"):
        await write_excel(ctx, "big.xlsx", [["new"]], sheet="Summary")
    assert time.monotonic() - started < 5
    assert path.read_bytes() == before
    # Reading it is streamed, and stays as it was.
    shown = str((await read_excel(ctx, "big.xlsx", range="A1:C2"))["stdout"])
    assert "Sheet 'Sheet': 2 row(s) x 3 column(s), range A1:C2" in shown
    assert [c.strip() for c in shown.splitlines()[3].split("|")] == ["1", "31", "32", "33"]


async def test_read_excel_refuses_a_big_sheet_without_a_size_record(ctx: ToolContext) -> None:
    # openpyxl parses such a sheet whole as the workbook opens (twice for read_excel), before a row is shown.
    craft_xlsx(Path(ctx.cwd, "unsized.xlsx"), number_rows(40_000, 20, dimension=False))
    with pytest.raises(ToolError, match=r"sheet1\.xml \(.* unpacked\) does not record its size"):
        await read_excel(ctx, "unsized.xlsx")
    # A small sheet without one is read as before.
    craft_xlsx(Path(ctx.cwd, "small.xlsx"), number_rows(3, 2, dimension=False))
    shown = str((await read_excel(ctx, "small.xlsx"))["stdout"])
    assert "Sheet 'Sheet': 3 row(s) x 2 column(s), range A1:B3" in shown


async def test_read_excel_of_a_sheet_16384_columns_wide_reads_only_what_it_can_show(ctx: ToolContext) -> None:
    # Each row fills half the output: reading stops after a few rows instead of parsing all 1.6 million cells.
    craft_xlsx(Path(ctx.cwd, "wide.xlsx"), number_rows(100, 16_384, dimension=True))
    started = time.monotonic()
    out = str((await read_excel(ctx, "wide.xlsx"))["stdout"])
    assert time.monotonic() - started < 8
    lines = out.splitlines()
    assert lines[3].startswith("1 | 31 | 32 | 33")
    assert lines[-1].startswith("[output limited; shown up to row ")
    assert len(out) <= documents.MAX_SHEET_CHARS + 200
