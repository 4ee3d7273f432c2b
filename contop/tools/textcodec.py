"""Which text encoding a file is in, for the text tools (read_file, edit_file, find_files, read_excel on CSV).

Most text is UTF-8. What is not is either marked by a byte-order mark (Windows tools write UTF-16 with one, and
UTF-8 with one too), or written in a legacy single-byte encoding, which on the machines Contop runs on is almost
always Windows-1252 (Latin-1 with curly quotes and the euro sign). Such a file is text: read_file shows it as what
it says, and edit_file writes it back in the encoding it came in, its other bytes unchanged. Only a file with NUL
bytes and no byte-order mark, or mostly control bytes, is binary.

Guessing Windows-1252 can be wrong (a Shift-JIS or GBK file shows as accented Latin letters); the tools say which
encoding they read a file in whenever it is not UTF-8, so nobody mistakes the guess for the text.

A file that is UTF-8 but for a few stray bytes (a Latin-1 character pasted into it, a cut-off write) stays UTF-8:
more valid UTF-8 characters than invalid bytes is what tells it from legacy text. Its stray bytes are carried as
Python's surrogate escapes, so an edit writes them back as they were, and they are shown as U+FFFD with a note.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

SNIFF_BYTES = 8192  # the start of a file, which decides whether it is binary
# How much of a file decides its encoding: all of any file edit_file may change, so that read_file, edit_file and
# find_files read a file the same way. A character late in a file often is the only sign it is not UTF-8.
DECIDE_BYTES = 10 * 1024 * 1024

# What surrogateescape makes of a byte that is not UTF-8.
_STRAY = re.compile("[\udc80-\udcff]")
# What no text sent by the model should hold: it would write raw bytes through surrogateescape.
SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class TextEncoding:
    codec: str  # Python's name, without the byte-order mark
    bom: bytes = b""
    label: str = "UTF-8"
    # What of the decided part is not valid in this encoding: bytes (UTF-8), invalid sequences (UTF-16/32).
    stray: int = 0

    @property
    def is_utf8(self) -> bool:
        return self.codec == "utf-8" and not self.bom

    @property
    def unit(self) -> int:
        """Bytes per code unit: lines are split on the encoded newline, which is this wide."""
        return 4 if self.codec.startswith("utf-32") else 2 if self.codec.startswith("utf-16") else 1

    @property
    def _errors(self) -> str:
        # A stray byte in UTF-8 survives a decode and encode unchanged; other encodings refuse what they cannot hold.
        return "surrogateescape" if self.codec == "utf-8" else "strict"

    def decode(self, data: bytes, errors: str | None = None) -> str:
        """All of ``data`` as text, without the byte-order mark. By default a UnicodeDecodeError when it is not valid
        in this encoding, UTF-8's stray bytes excepted: they come out as surrogate escapes, to be written back."""
        body = data[len(self.bom) :] if data.startswith(self.bom) else data
        return body.decode(self.codec, errors or self._errors)

    def encode(self, text: str) -> bytes:
        """``text`` in this encoding, byte-order mark included; UnicodeEncodeError when it has no such character."""
        return self.bom + text.encode(self.codec, self._errors)

    def note(self) -> str:
        """What a tool tells the model about a file not in plain UTF-8 ("" for UTF-8 without stray bytes)."""
        damage = ""
        if self.stray:
            if self.codec == "utf-8":
                damage = f"{self.stray} byte(s) not valid UTF-8, shown as \ufffd; edit_file writes them back unchanged"
            else:
                damage = f"{self.stray} invalid byte sequence(s), shown as \ufffd; edit_file cannot change it"
        if self.is_utf8:
            return f"(UTF-8, but {damage})" if damage else ""
        if self.bom:
            return f"(text encoding: {self.label}; {damage})" if damage else f"(text encoding: {self.label})"
        return f"(not UTF-8: read as {self.label}, which may be a guess)"

    def shown(self, raw: bytes) -> str:
        """``raw`` (part of the file) as text to show: what cannot be decoded becomes U+FFFD, one per stray byte."""
        if self.codec == "utf-8":
            return _STRAY.sub("\ufffd", raw.decode("utf-8", "surrogateescape"))
        return raw.decode(self.codec, "replace")


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
_CP1252_UNDEFINED = re.compile(b"[\x81\x8d\x8f\x90\x9d]")


def looks_binary(sample: bytes) -> bool:
    """A NUL byte, or more than 10% control bytes, means binary (for text without a byte-order mark)."""
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(sample) > 0.1


def sniff(sample: bytes, *, whole: bool = False) -> TextEncoding | None:
    """The encoding of a file starting with ``sample``; None when it looks binary (judged on its first SNIFF_BYTES).
    ``whole``: the sample is the entire file (otherwise a character cut at its end is not held against it).

    Every byte of ``sample`` counts: pass all of the file (up to DECIDE_BYTES) so every tool decides alike.
    """
    for bom, codec, label in _BOMS:
        if sample.startswith(bom):
            return _with_bom(sample, TextEncoding(codec, bom, label), whole)
    if looks_binary(sample[:SNIFF_BYTES]):
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=whole)
        return UTF8
    except UnicodeDecodeError:
        pass
    valid, stray = _utf8_evidence(sample, whole)
    if valid > stray:
        return TextEncoding("utf-8", stray=stray)
    return LATIN_1 if _CP1252_UNDEFINED.search(sample) else WINDOWS_1252


def _with_bom(sample: bytes, encoding: TextEncoding, whole: bool) -> TextEncoding | None:
    body = sample[len(encoding.bom) :]
    if encoding.codec == "utf-8":
        stray = _utf8_evidence(body, whole)[1]
        return TextEncoding(encoding.codec, encoding.bom, encoding.label, stray) if stray else encoding
    head = body[:SNIFF_BYTES]
    try:  # random bytes after a UTF-16 mark soon make an invalid character: in the first bytes, that means binary
        text = codecs.getincrementaldecoder(encoding.codec)().decode(head, final=whole and len(head) == len(body))
    except UnicodeDecodeError:
        return None
    if looks_binary(text.encode("utf-8", "replace")):
        return None
    # Further on it is damage: replacing puts one U+FFFD where ignoring puts nothing, so the lengths count it.
    replaced = codecs.getincrementaldecoder(encoding.codec)("replace").decode(body, final=whole)
    ignored = codecs.getincrementaldecoder(encoding.codec)("ignore").decode(body, final=whole)
    stray = len(replaced) - len(ignored)
    return TextEncoding(encoding.codec, encoding.bom, encoding.label, stray) if stray else encoding


def _utf8_evidence(data: bytes, whole: bool) -> tuple[int, int]:
    """(characters of two bytes or more, bytes that are not UTF-8) in ``data``."""
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(data, final=whole)
    stray = len(_STRAY.findall(text))
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return non_ascii - stray, stray


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
            yield encoding.shown(raw)
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
