"""Text every store and wire format can hold.

Python strings may hold lone surrogates: a file name that is not UTF-8 comes out of ``os.listdir`` with one per
bad byte, and a model or a YAML file can write ``"\\ud800"``. UTF-8 cannot encode them, so a JSON message, a
SQLite history row or an audit line holding one fails to be written. What is shown or kept gets U+FFFD instead,
as a terminal shows such a name.
"""

from __future__ import annotations

import re
from typing import Any

SURROGATE = re.compile("[\ud800-\udfff]")  # UTF-8 can store none of these, even in pairs


def storable_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD."""
    if text.isascii():  # the usual case, and a screenshot's base64: no scan
        return text
    return SURROGATE.sub("\ufffd", text) if SURROGATE.search(text) else text


def storable(value: Any) -> Any:
    """``value`` (JSON-like: str, list, tuple, dict) with every string, dictionary keys included, made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, (list, tuple)):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    return value
