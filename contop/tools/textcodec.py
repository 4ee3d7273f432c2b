"""Which text encoding a file is in, for the text tools (read_file, edit_file, find_files).

Most text is UTF-8. What is not is either marked by a byte-order mark (Windows tools write UTF-16 with one, and
UTF-8 with one too), or written in a legacy single-byte encoding, which on the machines Contop runs on is almost
always Windows-1252 (Latin-1 with curly quotes and the euro sign). Such a file is text: read_file shows it as what
it says, and edit_file writes it back in the encoding it came in, its other bytes unchanged. Only a file with NUL
bytes and no byte-order mark, or mostly control bytes, is binary.

Guessing Windows-1252 can be wrong (a Shift-JIS or GBK file shows as accented Latin letters); the tools say which
encoding they read a file in whenever it is not UTF-8, so nobody mistakes the guess for the text.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

SNIFF_BYTES = 8192


@dataclass(frozen=True)
class TextEncoding:
    codec: str  # Python's name, without the byte-order mark
    bom: bytes = b""
    label: str = "UTF-8"

    @property
    def is_utf8(self) -> bool:
        return self.codec == "utf-8" and not self.bom

    @property
    def unit(self) -> int:
        """Bytes per code unit: lines are split on the encoded newline, which is this wide."""
        return 4 if self.codec.startswith("utf-32") else 2 if self.codec.startswith("utf-16") else 1

    def decode(self, data: bytes, errors: str = "strict") -> str:
        return (
            data[len(self.bom) :].decode(self.codec, errors)
            if data.startswith(self.bom)
            else data.decode(self.codec, errors)
        )

    def encode(self, text: str) -> bytes:
        """``text`` in this encoding, byte-order mark included; UnicodeEncodeError when it has no such character."""
        return self.bom + text.encode(self.codec)

    def note(self) -> str:
        """What a tool tells the model about a file not in plain UTF-8 ("" for UTF-8)."""
        if self.is_utf8:
            return ""
        if self.bom:
            return f"(text encoding: {self.label})"
        return f"(not UTF-8: read as {self.label}, which may be a guess)"


UTF8 = TextEncoding("utf-8")
_BOMS = (  # longest first: UTF-32 LE starts with UTF-16 LE's mark
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 little-endian"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 big-endian"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8 with a byte-order mark"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 little-endian"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 big-endian"),
)
WINDOWS_1252 = TextEncoding("cp1252", label="Windows-1252")
LATIN_1 = TextEncoding("latin-1", label="Latin-1")


def looks_binary(sample: bytes) -> bool:
    """A NUL byte, or more than 10% control bytes, means binary (for text without a byte-order mark)."""
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(sample) > 0.1


def sniff(sample: bytes, *, whole: bool = False) -> TextEncoding | None:
    """The encoding of a file starting with ``sample``; None when it looks binary. ``whole``: the sample is the
    entire file (otherwise a character cut at its end is not held against UTF-8)."""
    for bom, codec, label in _BOMS:
        if sample.startswith(bom):
            encoding = TextEncoding(codec, bom, label)
            if encoding.unit > 1:
                try:
                    text = codecs.getincrementaldecoder(codec)().decode(sample[len(bom) :], final=whole)
                except UnicodeDecodeError:
                    return None
                if looks_binary(text.encode("utf-8", "replace")):
                    return None
            return encoding
    if looks_binary(sample):
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=whole)
        return UTF8
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return WINDOWS_1252
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        return LATIN_1


def settle(encoding: TextEncoding, data: bytes) -> TextEncoding:
    """The encoding for the whole of ``data``, given the one its first bytes suggested: UTF-8 that turns out not to
    be falls back as ``sniff`` does (editing must decode every byte and write each one back as it was)."""
    if encoding.is_utf8:
        try:
            data.decode("utf-8")
            return encoding
        except UnicodeDecodeError:
            pass
    if encoding.unit == 1 and not encoding.bom and encoding.codec != "latin-1":
        try:
            data.decode("cp1252")
            return WINDOWS_1252
        except UnicodeDecodeError:
            return LATIN_1
    return encoding


def iter_lines(f: BinaryIO, encoding: TextEncoding, cap: int) -> Iterator[str]:
    """The lines of the file ``f`` (positioned at its start) as text, each with its line ending; a line longer than
    ``cap`` characters comes out cut to ``cap`` and the rest of it is skipped (bounded memory)."""
    if encoding.unit == 1:
        byte_cap = cap * 4 + 4 if encoding.codec == "utf-8" else cap
        if encoding.bom:
            f.read(len(encoding.bom))
        while True:
            raw: bytes = f.readline(byte_cap)
            if not raw:
                return
            if len(raw) == byte_cap and not raw.endswith(b"\n"):
                while True:
                    rest: bytes = f.readline(1024 * 1024)
                    if not rest or rest.endswith(b"\n"):
                        break
            yield raw.decode(encoding.codec, errors="replace")
        return
    f.read(len(encoding.bom))
    text = io.TextIOWrapper(f, encoding=encoding.codec, errors="replace", newline="\n")
    try:
        while True:
            line = text.readline(cap)
            if not line:
                return
            if len(line) == cap and not line.endswith("\n"):
                while True:
                    rest_text = text.readline(1024 * 1024)
                    if not rest_text or rest_text.endswith("\n"):
                        break
            yield line
    finally:
        text.detach()  # the caller owns f
