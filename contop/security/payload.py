"""Decoding of the obfuscations used to hide a command: base64 (UTF-8 or UTF-16LE), hex, reversed text."""

from __future__ import annotations

import base64
import binascii
import re

_B64 = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
_HEX = re.compile(r"^(?:\\x|0x)?[0-9a-fA-F\s:\\x]+$")
MAX_PAYLOAD = 100_000


def b64decode(text: str, *, utf16: bool | None = None) -> str | None:
    """Decode base64 to text; ``utf16`` None tries UTF-8 and then UTF-16LE (PowerShell's -EncodedCommand)."""
    data = "".join(text.split())
    if not data or len(data) > MAX_PAYLOAD or not _B64.match(data):
        return None
    data = data.replace("-", "+").replace("_", "/")
    data += "=" * (-len(data) % 4)
    try:
        raw = base64.b64decode(data)
    except (binascii.Error, ValueError):
        return None
    encodings = ("utf-16-le",) if utf16 else ("utf-8",) if utf16 is False else ("utf-8", "utf-16-le")
    for encoding in encodings:
        try:
            decoded = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if decoded and _printable(decoded):
            return decoded
    return None


def hexdecode(text: str) -> str | None:
    data = re.sub(r"\\x|0x|[\s:]", "", text)
    if not data or len(data) % 2 or len(data) > MAX_PAYLOAD or not _HEX.match(text):
        return None
    try:
        decoded = bytes.fromhex(data).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if _printable(decoded) else None


def reverse_lines(text: str) -> str:
    return "\n".join(line[::-1] for line in text.split("\n"))


def _printable(text: str) -> bool:
    bad = sum(1 for c in text if not (c.isprintable() or c in "\r\n\t"))
    return bad <= len(text) // 20
