"""QR codes of pairing URLs: PNG for the admin API and the desktop app, text for the terminal."""

from __future__ import annotations

import io

import segno


def qr_png(url: str, *, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def qr_terminal(url: str) -> str:
    """The QR drawn with half-block characters (two modules per character row), dark on a light border."""
    code = segno.make(url, error="l")
    rows = [[bool(m) for m in row] for row in code.matrix_iter(scale=1, border=2)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        chars = []
        for t, b in zip(top, bottom, strict=True):
            # Light background, dark modules: print the *light* parts as blocks so it scans on dark terminals.
            chars.append({(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}[(t, b)])
        lines.append("".join(chars))
    return "\n".join(lines)


def qr_for(stream: object, url: str) -> str:
    """The QR of ``url`` as ``stream`` can show it: the half blocks need a Unicode encoding (a Windows console
    redirected to a file, or a non-UTF-8 locale, has none); then a line saying to use the URL instead."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "█▄▀".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return f"(no QR code: this output's encoding, {encoding}, cannot draw one; open the URL below on the phone)"
    return qr_terminal(url)
