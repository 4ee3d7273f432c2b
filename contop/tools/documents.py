"""Document tools: text out of PDFs, images for a vision model, spreadsheets (xlsx and csv) in and out."""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import io
import math
import os
import re
import time
import zipfile
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from contop.core.errors import NotAvailableError, ToolError
from contop.tools.context import ToolContext
from contop.tools.files import (
    atomic_write,
    check_regular_file,
    check_writable,
    human_size,
    locked_file,
    open_regular,
    resolve,
    tool_result,
)
from contop.tools.textcodec import DECIDE_BYTES, UTF8, sniff

MAX_PDF_CHARS = 200_000
MAX_IMAGE_BYTES = 100 * 1024 * 1024
# Only JPEGs decode at a reduced scale; any other image is decoded whole (up to 4 bytes a pixel), so these bound the
# memory a read takes: 100 million pixels is 400 MB at most, and a row of at most 65,535 pixels keeps the decoder's
# own line buffers small (an image 100 million pixels wide and 1 high needs gigabytes to decode).
MAX_IMAGE_PIXELS = 100_000_000
MAX_IMAGE_SIDE = 65_535
IMAGE_MAX_WIDTH = 1280
IMAGE_MAX_HEIGHT = 8000  # the tallest image vision providers accept
IMAGE_BAND_PIXELS = 4_000_000  # a full-size image is flattened and shrunk this many pixels at a time
JPEG_QUALITY = 85
MAX_SHEET_ROWS = 500
MAX_SHEET_CHARS = 200_000
MAX_CELL_CHARS = 60
ROWS_KEPT_IN_VIEW = 20  # a table too wide to show this many rows within MAX_SHEET_CHARS shows fewer columns instead
XLSX_EXTENSIONS = (".xlsx", ".xlsm", ".xltx", ".xltm")
CSV_EXTENSIONS = (".csv", ".tsv")
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
MACRO_EXTENSIONS = (".xlsm", ".xltm")
VBA_PART = "xl/vbaProject.bin"
# The workbook part's content type Excel requires for each extension (it refuses a file whose type and name differ).
_WORKBOOK_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    ".xltx": "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    ".xltm": "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
CONTENT_TYPES_PART = "[Content_Types].xml"
# A workbook is a zip: its directory is checked before openpyxl unpacks anything, so a small file cannot unpack into
# gigabytes of memory. Worksheets are streamed when read; every other part (shared strings, styles) is read whole, and
# read_excel opens a workbook twice (cached values, then formulas).
MiB = 1024 * 1024
XLSX_MAX_TOTAL_BYTES = 1024 * MiB
XLSX_MAX_SHEET_PART_BYTES = 256 * MiB
XLSX_MAX_PART_BYTES = 64 * MiB
XLSX_MAX_RATIO = 100  # sheets compress 5 to 20 times; a zip bomb about 1000 times
XLSX_RATIO_FROM_BYTES = MiB  # a small part may compress far better and costs nothing
# write_excel loads the whole workbook to rewrite it: about 14 bytes of memory per byte of XML and 10 µs per cell, so
# 16 MB of XML (half a million cells) take some 250 MB and 5 s.
XLSX_MAX_EDIT_BYTES = 16 * MiB
# A sheet without a size record (<dimension>) is parsed whole by openpyxl when the workbook opens, twice for read_excel.
XLSX_MAX_UNSIZED_SHEET_BYTES = 16 * MiB
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b")
_XML_PARTS = (".xml", ".rels", ".vml")


def check_readable_file(path: str) -> os.stat_result:
    """stat() of an existing regular file this process may read, or a ToolError saying what is wrong."""
    st = check_regular_file(path)
    opened, _ = open_regular(path)  # an open that cannot wait, should a FIFO have taken the file's place
    opened.close()
    return st


# ----------------------------------------------------------------------------------------------------- read_pdf


async def read_pdf(ctx: ToolContext, path: str, pages: str | None = None) -> dict[str, Any]:
    """Extract the text of a PDF, all pages or a 1-based range such as ``"1-5"``, ``"3"`` or ``"1,4-6"``."""
    started = time.monotonic()
    resolved = resolve(ctx, path)
    text = await asyncio.to_thread(_read_pdf, resolved, pages)
    return tool_result(text, started)


def parse_page_range(spec: str, page_count: int) -> list[int]:
    """1-based page numbers of ``spec`` (``"2"``, ``"1-5"``, ``"3-"``, ``"1,4-6"``), checked against the PDF."""
    numbers: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d*))?", part)
        if match is None:
            raise ToolError(f"Invalid page range '{spec}'; use forms like '3', '1-5', '4-' or '1,3,5-7'.")
        first = int(match.group(1))
        if match.group(2) is None:
            last = first
        elif match.group(2) == "":
            last = page_count
        else:
            last = int(match.group(2))
        if first < 1 or last < first:
            raise ToolError(f"Invalid page range '{part}': pages start at 1 and a range must go upwards.")
        if last > page_count:
            raise ToolError(f"Page {last} is out of range: the PDF has {page_count} page(s).")
        numbers.extend(n for n in range(first, last + 1) if n not in numbers)
    if not numbers:
        raise ToolError(f"Invalid page range '{spec}'.")
    return numbers


def _read_pdf(path: str, pages: str | None) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    check_readable_file(path)
    with open(path, "rb") as f:
        if b"%PDF-" not in f.read(1024):
            raise ToolError(f"{path} is not a PDF file.")
        try:
            reader = PdfReader(f)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ToolError(f"{path} is password-protected; it cannot be read without the password.")
            count = len(reader.pages)
            wanted = parse_page_range(pages, count) if pages and pages.strip() else list(range(1, count + 1))
            out = [f"PDF {path}: {count} page(s)"]
            size = len(out[0])
            for index, number in enumerate(wanted):
                if index and size >= MAX_PDF_CHARS:  # the first page requested is always shown
                    out.append(
                        f"[text limit reached; {len(wanted) - index} more page(s) not shown, "
                        f"continue with pages='{number}-{wanted[-1]}']"
                    )
                    break
                page_text = (reader.pages[number - 1].extract_text() or "").strip()
                if not page_text:
                    page_text = "(no extractable text on this page; it may be a scanned image)"
                chunk = f"--- Page {number} ---\n{page_text}"
                out.append(chunk)
                size += len(chunk)
        except ToolError:
            raise
        except (PdfReadError, ValueError, KeyError, TypeError) as exc:
            raise ToolError(f"{path} could not be read as a PDF: {exc}") from exc
        except Exception as exc:  # pypdf raises many internal errors on damaged files
            if type(exc).__module__.startswith("pypdf"):
                raise ToolError(f"{path} could not be read as a PDF: {exc}") from exc
            raise
    return "\n\n".join(out)


# --------------------------------------------------------------------------------------------------- read_image


async def read_image(ctx: ToolContext, path: str) -> dict[str, Any]:
    """Describe an image (format, size, metadata) and return it as a JPEG at most 1280 pixels wide and 8000 high.

    ``image_b64`` is the base64 of that JPEG, ready to pass to a vision model.
    """
    started = time.monotonic()
    resolved = resolve(ctx, path)
    summary, payload, width, height = await asyncio.to_thread(_read_image, resolved)
    return tool_result(
        summary,
        started,
        image_b64=payload,
        mime_type="image/jpeg",
        image_width=width,
        image_height=height,
    )


def _read_image(path: str) -> tuple[str, str, int, int]:
    from PIL import Image, UnidentifiedImageError

    st = check_readable_file(path)
    if st.st_size > MAX_IMAGE_BYTES:
        raise ToolError(f"{path} is too large ({human_size(st.st_size)}; the limit is {human_size(MAX_IMAGE_BYTES)}).")
    try:
        with Image.open(path) as img:  # reads the header only: the size is known before any pixel is decoded
            width, height = img.size
            check_image_size(path, width, height)
            lines = [
                f"Image {path}",
                f"format: {img.format or 'unknown'}",
                f"dimensions: {width}x{height} pixels",
                f"mode: {img.mode}",
                f"file size: {human_size(st.st_size)}",
            ]
            lines.extend(_image_metadata(img))
            img.seek(0)
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            payload, out_w, out_h = _jpeg_payload(img, orientation if isinstance(orientation, int) else 1)
    except ToolError:
        raise
    except UnidentifiedImageError:
        raise ToolError(f"{path} is not an image in a supported format (PNG, JPEG, BMP, GIF, TIFF, WebP).") from None
    except Image.DecompressionBombError:
        raise ToolError(f"{path} is too large to decode safely.") from None
    except MemoryError:
        raise ToolError(f"{path} is too large to decode with the memory available.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ToolError(f"{path} could not be decoded as an image: {exc}") from exc
    if (out_w, out_h) != (width, height):
        lines.append(f"payload: JPEG scaled to {out_w}x{out_h}")
    else:
        lines.append(f"payload: JPEG {out_w}x{out_h}")
    return "\n".join(lines), payload, out_w, out_h


def check_image_size(path: str, width: int, height: int) -> None:
    """Refuse, from the header's size alone, an image whose decoding would take too much memory (pure)."""
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise ToolError(
            f"{path} is {width}x{height} pixels; images wider or taller than {MAX_IMAGE_SIDE} pixels are not read."
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise ToolError(
            f"{path} is too large to decode ({width}x{height} pixels; the limit is "
            f"{MAX_IMAGE_PIXELS // 1_000_000} million pixels)."
        )


def payload_size(width: int, height: int, orientation: int = 1) -> tuple[int, int]:
    """The payload's size in the image's stored orientation: as shown (EXIF ``orientation`` 5 to 8 turn it a
    quarter), it fits IMAGE_MAX_WIDTH x IMAGE_MAX_HEIGHT, keeping its aspect, and is never enlarged (pure)."""
    turned = orientation in _QUARTER_TURNS
    shown_w, shown_h = (height, width) if turned else (width, height)
    if shown_w > IMAGE_MAX_WIDTH and shown_w * IMAGE_MAX_HEIGHT >= shown_h * IMAGE_MAX_WIDTH:
        shown_w, shown_h = IMAGE_MAX_WIDTH, max(1, round(shown_h * IMAGE_MAX_WIDTH / shown_w))
    elif shown_h > IMAGE_MAX_HEIGHT:
        shown_w, shown_h = max(1, round(shown_w * IMAGE_MAX_HEIGHT / shown_h)), IMAGE_MAX_HEIGHT
    return (shown_h, shown_w) if turned else (shown_w, shown_h)


_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = (5, 6, 7, 8)


def _image_metadata(img: Any) -> list[str]:
    from PIL import ExifTags

    lines: list[str] = []
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        lines.append(f"frames: {frames}" + (" (animated)" if getattr(img, "is_animated", False) else ""))
    dpi = img.info.get("dpi")
    if dpi:
        lines.append(f"dpi: {round(float(dpi[0]))}x{round(float(dpi[1]))}")
    if img.info.get("icc_profile"):
        lines.append("colour profile: embedded ICC")
    exif = img.getexif()
    wanted = {"Make", "Model", "DateTime", "Software", "Artist", "Orientation", "ImageDescription"}
    for tag, value in exif.items():
        name = ExifTags.TAGS.get(tag)
        if name in wanted:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            lines.append(f"exif {name}: {text.strip()[:200]}")
    if ExifTags.IFD.GPSInfo in exif:
        lines.append("exif: contains GPS location")
    return lines


def _jpeg_payload(img: Any, orientation: int) -> tuple[str, int, int]:
    """The frame as a JPEG of payload_size(), upright, transparency flattened onto white.

    Only the decoded image is ever full size: a JPEG is decoded at a reduced scale when that is enough, and any other
    image is flattened, box-reduced and resized across in bands of rows, so no full-size copy is made.
    """
    from PIL import Image

    target = payload_size(img.width, img.height, orientation)
    img.draft(None, (target[0] * 2, target[1] * 2))  # JPEG only: decode at 1/2, 1/4 or 1/8 scale when big enough
    img.load()
    rgb = _scaled_rgb(img, target)
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    if method is not None:
        rgb = rgb.transpose(method)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return base64.b64encode(buffer.getvalue()).decode("ascii"), rgb.width, rgb.height


def _scaled_rgb(img: Any, size: tuple[int, int]) -> Any:
    """``img`` (decoded) as RGB of ``size``. Each band of rows is flattened, box-reduced and resampled across (rows
    do not depend on each other there); the narrow result is then resampled down."""
    from PIL import Image

    width, height = img.size
    out_w, out_h = size
    if (out_w, out_h) == (width, height):
        return _flat_rgb(img)
    # Box-reduce first, to between two and four times the target as Pillow's thumbnail() does: a Lanczos kernel
    # spanning thousands of source pixels needs gigabytes of coefficients.
    fx, fy = max(1, width // (2 * out_w)), max(1, height // (2 * out_h))
    reduced_h = -(-height // fy)
    across = Image.new("RGB", (out_w, reduced_h))
    band = fy * max(1, IMAGE_BAND_PIXELS // (width * fy))
    for top in range(0, height, band):
        part = _flat_rgb(img.crop((0, top, width, min(height, top + band))))
        if fx > 1 or fy > 1:
            part = part.reduce((fx, fy))
        if part.width != out_w:
            part = part.resize((out_w, part.height), Image.Resampling.LANCZOS)
        across.paste(part, (0, top // fy))
    if reduced_h == out_h:
        return across
    return across.resize((out_w, out_h), Image.Resampling.LANCZOS)


def _flat_rgb(img: Any) -> Any:
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img if img.mode == "RGB" else img.convert("RGB")


# -------------------------------------------------------------------------------------------------- read_excel


async def read_excel(
    ctx: ToolContext,
    path: str,
    sheet: str | None = None,
    range: str | None = None,  # the parameter name the model knows
) -> dict[str, Any]:
    """Show a sheet of an .xlsx (or a .csv) as a text table; ``range`` limits it: cells ``"A1:D10"`` or ``"B2"``,
    whole columns ``"A:C"`` or whole rows ``"2:5"``."""
    started = time.monotonic()
    resolved = resolve(ctx, path)
    text = await asyncio.to_thread(_read_table, resolved, sheet, range)
    return tool_result(text, started)


_RANGE_END = re.compile(r"([A-Z]*)([0-9]*)")
Bounds = tuple[int, int, int | None, int | None]


def _range_end(text: str, spec: str) -> tuple[int | None, int | None]:
    """One end of a range: ``B2``, ``B`` or ``2`` -> (column, row), 1-based, None where not given (pure)."""
    match = _RANGE_END.fullmatch(text.upper())
    if match is None or not text:
        raise ToolError(f"Invalid cell range '{spec}': {text!r} is not a cell (B2), a column (B) or a row (2).")
    letters, digits = match.groups()
    col = row = None
    if letters:
        col = 0
        for ch in letters:
            col = col * 26 + ord(ch) - ord("A") + 1
        if col > EXCEL_MAX_COLUMNS:
            raise ToolError(f"Invalid cell range '{spec}': column {letters} is past the last column, XFD.")
    if digits:
        row = int(digits)
        if not 1 <= row <= EXCEL_MAX_ROWS:
            raise ToolError(f"Invalid cell range '{spec}': row {row} does not exist (rows are 1 to {EXCEL_MAX_ROWS}).")
    return col, row


def parse_cell_range(cell_range: str | None) -> Bounds:
    """(min_col, min_row, max_col, max_row), 1-based, None meaning open-ended, from ``A1:D10``, ``B2``, ``A:C`` or
    ``2:5`` (``$`` and case ignored; reversed corners are put in order). Anything else, a bare column such as
    ``ZZ`` included, is a ToolError naming the range (pure)."""
    if not cell_range or not cell_range.strip():
        return 1, 1, None, None
    spec = cell_range.strip()
    parts = spec.replace("$", "").split(":")
    if len(parts) > 2:
        raise ToolError(f"Invalid cell range '{spec}'; use a form like 'A1:D10', 'B2', 'A:C' or '2:5'.")
    (c0, r0), (c1, r1) = _range_end(parts[0], spec), _range_end(parts[-1], spec)
    kinds = {(c is not None, r is not None) for c, r in ((c0, r0), (c1, r1))}
    if len(parts) == 1 and (c0 is None or r0 is None):
        whole = f"{parts[0].upper()}:{parts[0].upper()}"
        raise ToolError(
            f"Invalid cell range '{spec}': a single cell needs a column and a row, e.g. 'B2'; for a whole "
            f"{'column' if r0 is None else 'row'} write '{whole}'."
        )
    if len(kinds) != 1:
        raise ToolError(f"Invalid cell range '{spec}': both ends must be cells (A1:D10), columns (A:C) or rows (2:5).")
    cols = sorted(c for c in (c0, c1) if c is not None)
    rows = sorted(r for r in (r0, r1) if r is not None)
    if not cols:
        return 1, rows[0], None, rows[-1]
    if not rows:
        return cols[0], 1, cols[-1], None
    return cols[0], rows[0], cols[-1], rows[-1]


def _read_table(path: str, sheet: str | None, cell_range: str | None) -> str:
    check_readable_file(path)
    ext = os.path.splitext(path)[1].lower()
    if cell_range and "!" in cell_range:  # Excel's own notation: 'Sheet 1'!A1:B5
        named, _, cell_range = cell_range.rpartition("!")
        named = named.strip()
        if len(named) >= 2 and named[0] == named[-1] == "'":
            named = named[1:-1].replace("''", "'")
        if sheet and sheet.casefold() != named.casefold():
            raise ToolError(f"The range names sheet '{named}' but sheet='{sheet}' was given; use one of them.")
        sheet = named
    bounds = parse_cell_range(cell_range)
    if ext in CSV_EXTENSIONS:
        (rows, widest), title, note = _read_csv_rows(path, bounds), os.path.basename(path), ""
        if sheet:
            note = " (a CSV file has a single sheet; 'sheet' was ignored)"
        if widest > EXCEL_MAX_COLUMNS and bounds[2] is None:
            note += (
                f" (a row has {widest} columns; only the first {EXCEL_MAX_COLUMNS}, A to XFD, the most a sheet has, "
                "are shown)"
            )
        return _format_table(f"CSV {path}{note}", title, rows, bounds)
    if ext == ".xls":
        raise NotAvailableError(
            f"{path} is a legacy .xls workbook, which cannot be read here; save it as .xlsx or .csv first."
        )
    if ext not in XLSX_EXTENSIONS:
        raise ToolError(f"{path} is not a spreadsheet this tool reads (.xlsx, .xlsm or .csv).")
    return _read_xlsx(path, sheet, bounds)


def _read_xlsx(path: str, sheet: str | None, bounds: Bounds) -> str:
    from openpyxl import load_workbook

    try:
        check_xlsx_size(path, editing=False)
        values_wb = load_workbook(path, read_only=True, data_only=True)
        formulas_wb = load_workbook(path, read_only=True, data_only=False)
    except ToolError:
        raise
    except PermissionError:
        raise ToolError(f"Permission denied: {path}") from None
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError on damaged files
        raise ToolError(f"{path} could not be opened as an Excel workbook: {exc}") from exc
    try:
        names = list(values_wb.sheetnames)
        title = _pick_sheet(path, names, [ws.title for ws in values_wb.worksheets], sheet)
        min_col, min_row, max_col, max_row = bounds
        window = {"min_row": min_row, "max_row": max_row, "min_col": min_col, "max_col": max_col}
        rows = _with_formulas(
            values_wb[title].iter_rows(**window, values_only=True),
            formulas_wb[title].iter_rows(**window, values_only=True),
        )
        return _format_table(f"Workbook {path}; sheets: {', '.join(names)}", title, rows, bounds)
    finally:
        values_wb.close()
        formulas_wb.close()


def check_xlsx_size(path: str, *, editing: bool) -> list[str]:
    """The names of the workbook's parts, or a ToolError when unpacking it would cost too much (see below)."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        # Editing loads every sheet anyway, under a tighter limit than an unsized sheet's.
        unsized = (
            [] if editing else [i.filename for i in infos if _is_sheet(i.filename) and not _has_dimension(archive, i)]
        )
        problem = xlsx_size_problem(
            [(i.filename, i.file_size, i.compress_size) for i in infos], editing=editing, unsized=unsized
        )
    if problem is not None:
        raise ToolError(f"{path} was not opened: {problem}.")
    return [i.filename for i in infos]


def _is_sheet(name: str) -> bool:
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


def _has_dimension(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether a worksheet part records its size; the record comes before the cells, in the first few hundred bytes."""
    if info.file_size <= XLSX_MAX_UNSIZED_SHEET_BYTES:
        return True  # small enough either way: not worth unpacking
    with archive.open(info) as part:
        head = part.read(64 * 1024)
    cells = head.find(b"sheetData")
    return _DIMENSION.search(head, 0, cells if cells >= 0 else len(head)) is not None


def xlsx_size_problem(
    parts: Iterable[tuple[str, int, int]], *, editing: bool, unsized: Collection[str] = ()
) -> str | None:
    """Why a workbook whose zip holds ``parts`` (name, unpacked size, packed size) is too costly to open, or None:
    a part too big, a part packed like a zip bomb, too much in all, a big sheet in ``unsized`` (it has no size
    record, so opening parses all of it) or, to edit it, too much XML to load (pure)."""
    total = xml = 0
    for name, size, packed in parts:
        total += size
        if name.lower().endswith(_XML_PARTS):
            xml += size
        limit = XLSX_MAX_SHEET_PART_BYTES if _is_sheet(name) else XLSX_MAX_PART_BYTES
        if size > limit:
            return f"its part {name} unpacks to {human_size(size)}, over the limit of {human_size(limit)} for one part"
        if name in unsized and size > XLSX_MAX_UNSIZED_SHEET_BYTES:
            return (
                f"its sheet {name} ({human_size(size)} unpacked) does not record its size, so opening it would read "
                f"all of it; that is done for sheets of up to {human_size(XLSX_MAX_UNSIZED_SHEET_BYTES)}. Saving the "
                "workbook again in Excel or LibreOffice adds the record"
            )
        if size > XLSX_RATIO_FROM_BYTES and size > packed * XLSX_MAX_RATIO:
            return (
                f"its part {name} unpacks from {human_size(packed)} to {human_size(size)}, more than "
                f"{XLSX_MAX_RATIO} times smaller packed than unpacked, which only a zip bomb is"
            )
    if total > XLSX_MAX_TOTAL_BYTES:
        return f"it unpacks to {human_size(total)}, over the limit of {human_size(XLSX_MAX_TOTAL_BYTES)}"
    if editing and xml > XLSX_MAX_EDIT_BYTES:
        return (
            f"it holds {human_size(xml)} of XML, and writing a sheet into a workbook loads all of it into memory, "
            f"which is done for workbooks of up to {human_size(XLSX_MAX_EDIT_BYTES)} of XML; write the rows to a new "
            "workbook instead"
        )
    return None


def find_sheet(names: Sequence[str], wanted: str) -> str | None:
    """The sheet ``wanted`` names: Excel compares sheet names without regard to case (pure)."""
    if wanted in names:
        return wanted
    folded = wanted.casefold()
    return next((name for name in names if name.casefold() == folded), None)


def _pick_sheet(path: str, names: list[str], worksheets: list[str], sheet: str | None) -> str:
    """The worksheet to read: ``sheet`` (any case), or the first worksheet; chart sheets hold no cells (pure)."""
    if not sheet:
        if not worksheets:
            raise ToolError(f"{path} has no worksheets with cells, only chart sheets: {', '.join(names)}.")
        return worksheets[0]
    title = find_sheet(names, sheet)
    if title is None:
        raise ToolError(f"Sheet '{sheet}' not found in {path}; its sheets are: {', '.join(names)}.")
    if title not in worksheets:
        others = f"; its worksheets are: {', '.join(worksheets)}" if worksheets else ""
        raise ToolError(f"Sheet '{title}' of {path} is a chart sheet: it holds a chart, not cells{others}.")
    return title


def _with_formulas(values: Iterable[Sequence[Any]], formulas: Iterable[Sequence[Any]]) -> Iterable[Sequence[Any]]:
    """Cached values, and the formula text where a formula was never calculated (e.g. written by write_excel)."""
    for value_row, formula_row in zip(values, formulas, strict=False):
        yield [
            f if v is None and isinstance(f, str) and f.startswith("=") else v
            for v, f in zip(value_row, formula_row, strict=False)
        ]


def _read_csv_rows(path: str, bounds: Bounds) -> tuple[list[Sequence[Any]], int]:
    try:
        return _csv_rows(path, bounds)
    except PermissionError:
        raise ToolError(f"Permission denied: {path}") from None


def _csv_rows(path: str, bounds: Bounds) -> tuple[list[Sequence[Any]], int]:
    """The rows in ``bounds``, cut to the columns a sheet can have, and the most columns a row read had."""
    min_col, min_row, max_col, max_row = bounds
    last_col = EXCEL_MAX_COLUMNS if max_col is None else min(max_col, EXCEL_MAX_COLUMNS)
    with open(path, "rb") as raw:
        head = raw.read(DECIDE_BYTES)
    # Excel writes CSV in Windows-1252, or in UTF-16 ("Unicode text"), as often as in UTF-8. The encoding is decided
    # on as much of the file as read_file decides it on, so both show its text alike.
    encoding = sniff(head, whole=len(head) < DECIDE_BYTES) or UTF8
    with open(path, encoding="utf-8-sig" if encoding.codec == "utf-8" else encoding.codec, errors="replace",
              newline="") as f:  # fmt: skip
        if encoding.bom and encoding.codec != "utf-8":
            f.read(1)  # the byte-order mark, read as U+FEFF
        start = f.tell()
        sample = f.read(16384)
        f.seek(start)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel_tab if path.lower().endswith(".tsv") else csv.excel
        rows: list[Sequence[Any]] = []
        widest = 0
        try:
            for number, row in enumerate(csv.reader(f, dialect), start=1):
                if number < min_row:
                    continue
                if max_row is not None and number > max_row:
                    break
                widest = max(widest, len(row))
                rows.append(row[min_col - 1 : last_col])
                if len(rows) > MAX_SHEET_ROWS:
                    break
        except csv.Error as exc:
            raise ToolError(f"{path} could not be read as CSV: {exc}") from exc
    return rows, widest


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _format_table(header: str, title: str, rows: Iterable[Sequence[Any]], bounds: Bounds) -> str:
    from openpyxl.utils.cell import get_column_letter

    min_col, min_row, _, _ = bounds
    table: list[list[str]] = []
    truncated = False
    # At least the characters the rows read so far will take: reading stops once they cannot all be shown, as a
    # sheet 16,384 columns wide fills the output within a few rows, and each row read costs all its cells.
    least = 0
    for row in rows:
        if len(table) >= MAX_SHEET_ROWS or least > MAX_SHEET_CHARS:
            truncated = True
            break
        end = len(row)
        while end and row[end - 1] is None:  # trailing empty cells carry no information
            end -= 1
        texts = [_cell_text(v) for v in row[:end]]
        while texts and not texts[-1]:
            texts.pop()
        table.append(texts)
        least += sum(map(len, texts)) + 3 * len(texts)
    while table and not table[-1]:  # trailing empty rows carry no information
        table.pop()
    width = max((len(r) for r in table), default=0)
    if not table or width == 0:
        return f"{header}\nSheet '{title}': no data in the requested range."
    last_col = get_column_letter(min_col + width - 1)
    last_row = min_row + len(table) - 1
    span = f"{get_column_letter(min_col)}{min_row}:{last_col}{last_row}"
    columns = [get_column_letter(min_col + i) for i in range(width)]
    cells = [[*r[:width], *([""] * (width - len(r)))] for r in table]
    widths = [max(len(columns[i]), *(len(r[i]) for r in cells)) for i in range(width)]
    label_w = len(str(last_row))
    # Columns so many that not even a few rows would fit are cut, rather than showing their letters and no row.
    shown = fit_columns(widths, label_w, min(len(cells), ROWS_KEPT_IN_VIEW), MAX_SHEET_CHARS - len(header) - 200)
    hidden_note = ""
    if shown < width:
        first_hidden = get_column_letter(min_col + shown)
        hidden_note = (
            f"[columns {first_hidden} to {last_col} not shown, the table being too wide for the output; pass "
            f"range='{first_hidden}{min_row}:{last_col}{last_row}' to see them]"
        )
        columns, widths, cells = columns[:shown], widths[:shown], [r[:shown] for r in cells]
    shown_last_col = get_column_letter(min_col + shown - 1)
    lines = [
        header,
        f"Sheet '{title}': {len(cells)} row(s) x {width} column(s), range {span}",
        " " * label_w + " | " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
    ]
    size = sum(len(line) for line in lines)
    for offset, row in enumerate(cells):
        line = str(min_row + offset).rjust(label_w) + " | "
        line += " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        size += len(line) + 1
        if size > MAX_SHEET_CHARS:
            truncated = True
            last_row = min_row + offset - 1
            break
        lines.append(line)
    if hidden_note:
        lines.append(hidden_note)
    if truncated:
        lines.append(
            f"[output limited; shown up to row {last_row}, pass range='{get_column_letter(min_col)}{last_row + 1}:"
            f"{shown_last_col}{last_row + MAX_SHEET_ROWS}' to see more]"
        )
    return "\n".join(lines)


def fit_columns(widths: Sequence[int], label_width: int, rows: int, budget: int) -> int:
    """How many of the columns, ``widths`` characters wide, fit in ``budget`` characters on ``rows`` rows and the
    header row; at least one (pure)."""
    per_line = budget // (rows + 1)
    used = label_width + 3
    for count, width in enumerate(widths):
        used += width + 3
        if used > per_line:
            return max(1, count)
    return len(widths)


# ------------------------------------------------------------------------------------------------- write_excel


async def write_excel(ctx: ToolContext, path: str, data: list[list[Any]], sheet: str | None = None) -> dict[str, Any]:
    """Write rows to an .xlsx (or .csv) file; an existing workbook keeps its other sheets.

    ``sheet`` names the sheet to (re)write; without it the first sheet is rewritten (or 'Sheet1' is created).
    Text starting with '=' is stored as a formula in .xlsx files.
    """
    started = time.monotonic()
    resolved = resolve(ctx, path)
    rows = _validate_rows(data)
    if sheet is not None:
        sheet = sheet.strip()
        if not sheet or len(sheet) > 31 or _SHEET_NAME_FORBIDDEN.search(sheet):
            raise ToolError(f"Invalid sheet name '{sheet}': use 1-31 characters without [ ] : * ? / \\.")
    text = await asyncio.to_thread(_write_table, resolved, rows, sheet)
    return tool_result(text, started)


def _validate_rows(data: Any) -> list[list[Any]]:
    if not isinstance(data, list):
        raise ToolError("data must be a list of rows, each row a list of cell values.")
    if len(data) > EXCEL_MAX_ROWS:
        raise ToolError(f"data has {len(data)} rows; a sheet holds at most {EXCEL_MAX_ROWS}.")
    rows: list[list[Any]] = []
    for r, row in enumerate(data, start=1):
        if not isinstance(row, list | tuple):
            raise ToolError(f"Row {r} of data is not a list of cell values.")
        if len(row) > EXCEL_MAX_COLUMNS:
            raise ToolError(f"Row {r} has {len(row)} cells; a sheet holds at most {EXCEL_MAX_COLUMNS} columns.")
        for c, value in enumerate(row, start=1):
            if value is not None and not isinstance(value, str | int | float | bool | dt.date | dt.time):
                raise ToolError(
                    f"Cell in row {r}, column {c} has an unsupported value of type {type(value).__name__}; "
                    "cells hold text, numbers, booleans or nothing."
                )
            if isinstance(value, float) and not math.isfinite(value):
                # openpyxl writes such a number as an empty cell, and a spreadsheet has no infinity or NaN to show.
                raise ToolError(
                    f"Cell {column_letter(c)}{r} (row {r}, column {c}) is {value!r}, which is not a finite number: "
                    'a spreadsheet cell cannot hold it. Write it as text (for example "inf") or leave the cell '
                    "empty; nothing was written."
                )
        rows.append(list(row))
    return rows


def column_letter(number: int) -> str:
    """The letters of the 1-based column ``number``: 1 -> A, 27 -> AA (pure)."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _write_table(path: str, rows: list[list[Any]], sheet: str | None) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".xls":
        raise ToolError("Legacy .xls files cannot be written; use a .xlsx (or .csv) path.")
    if ext not in XLSX_EXTENSIONS + CSV_EXTENSIONS:
        raise ToolError(f"Cannot tell the format from '{os.path.basename(path)}'; the path must end in .xlsx or .csv.")
    if os.path.isdir(path):
        raise ToolError(f"{path} is a directory; give a file path ending in .xlsx or .csv.")
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise ToolError(f"Cannot create the folder {parent}: {exc.strerror or exc}") from exc
    width = max((len(r) for r in rows), default=0)
    # Read, change and write back under the file's lock: parallel writes of two sheets must both land. A symlink
    # is written through to its target, as edit_file does.
    with locked_file(path) as target:
        existing = _existing_stat(target)
        if existing is not None:
            check_regular_file(target)
            check_writable(path, existing)
        if ext in CSV_EXTENSIONS:
            buffer = io.StringIO()
            writer = csv.writer(buffer, dialect=csv.excel_tab if ext == ".tsv" else csv.excel)
            writer.writerows([_cell_text_full(v) for v in row] for row in rows)
            atomic_write(target, buffer.getvalue().encode("utf-8"), like=existing)
            note = " ('sheet' does not apply to CSV and was ignored)" if sheet else ""
            return f"CSV file written successfully: {len(rows)} row(s) x {width} column(s) to {path}{note}"
        title, kept = _write_xlsx(target, ext, rows, sheet, existing)
    text = f"Excel file written successfully: {len(rows)} row(s) x {width} column(s) to sheet '{title}' of {path}"
    if kept:
        text += f" (other sheets kept: {', '.join(kept)})"
    return text


def _cell_text_full(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return "" if value is None else value


def _existing_stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _write_xlsx(
    path: str, ext: str, rows: list[list[Any]], sheet: str | None, existing: os.stat_result | None
) -> tuple[str, list[str]]:
    from openpyxl import Workbook
    from openpyxl.utils.exceptions import IllegalCharacterError

    if existing is not None:
        wb = _load_for_update(path, ext)
        index, title = _sheet_to_write(path, wb, sheet)
        if title in wb.sheetnames:
            wb.remove(wb[title])
        ws = wb.create_sheet(title, index)
    else:
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = title = sheet or "Sheet1"
    try:
        for row in rows:
            ws.append(row)
    except IllegalCharacterError as exc:
        raise ToolError(f"data contains characters Excel cannot store: {exc}") from exc
    wb.template = ext in (".xltx", ".xltm")
    buffer = io.BytesIO()
    wb.save(buffer)
    data = buffer.getvalue()
    if wb.mime_type != _WORKBOOK_TYPES[ext]:
        data = with_workbook_type(data, _WORKBOOK_TYPES[ext])
    atomic_write(path, data, like=existing)
    return title, [name for name in wb.sheetnames if name != title]


def _load_for_update(path: str, ext: str) -> Any:
    """The workbook at ``path``, its macros kept when its extension allows them."""
    from openpyxl import load_workbook

    try:
        has_macros = VBA_PART in check_xlsx_size(path, editing=True)
        # openpyxl links a vbaProject.bin whenever it keeps VBA: only ask for that when there is one to keep.
        return load_workbook(path, keep_vba=has_macros and ext in MACRO_EXTENSIONS)
    except ToolError as exc:
        raise ToolError(f"{exc} The file was left unchanged.") from None
    except PermissionError:
        raise ToolError(f"Permission denied: {path}") from None
    except Exception as exc:
        raise ToolError(f"{path} exists but is not a readable Excel workbook ({exc}); it was left unchanged.") from exc


def _sheet_to_write(path: str, wb: Any, sheet: str | None) -> tuple[int, str]:
    """Where the new rows go: the named sheet (any case, keeping its real name) or the first worksheet, and its
    position; a new sheet goes last. A chart sheet is never replaced by data."""
    names: list[str] = list(wb.sheetnames)
    if sheet is None:
        if not wb.worksheets:  # only chart sheets: add a worksheet beside them
            number = 1
            while find_sheet(names, f"Sheet{number}") is not None:
                number += 1
            return len(names), f"Sheet{number}"
        title = wb.worksheets[0].title
        return names.index(title), title
    title = find_sheet(names, sheet)
    if title is None:
        return len(names), sheet
    if title in [cs.title for cs in wb.chartsheets]:
        raise ToolError(
            f"Sheet '{title}' of {path} is a chart sheet; it cannot hold data. Use another sheet name; the file was "
            "left unchanged."
        )
    return names.index(title), title


def with_workbook_type(data: bytes, content_type: str) -> bytes:
    """The .xlsx package ``data`` with its workbook part declared as ``content_type`` (pure).

    openpyxl names the type from the workbook's macros, not the file name: a new .xlsm would otherwise be
    declared a plain workbook, which Excel refuses to open.
    """
    known = "|".join(re.escape(t) for t in _WORKBOOK_TYPES.values())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == CONTENT_TYPES_PART:
                text = re.sub(f'ContentType="(?:{known})"', f'ContentType="{content_type}"', content.decode("utf-8"))
                content = text.encode("utf-8")
            dst.writestr(info, content)
    return out.getvalue()


TOOLS: dict[str, Callable[..., Any]] = {
    "read_pdf": read_pdf,
    "read_image": read_image,
    "read_excel": read_excel,
    "write_excel": write_excel,
}
