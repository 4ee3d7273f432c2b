"""Make an outgoing envelope fit the phone's largest data-channel message.

A data channel refuses a message bigger than the size the other side announced in its SDP (``max-message-size``,
256 KiB for Chromium and aiortc). A tool's result can be bigger than that (a screenshot, a long command output),
and refusing it would lose the reply or break the run that sent it. ``fit_envelope`` keeps the envelope and cuts
its largest strings instead: base64 data is replaced by a note of its size, text keeps its beginning and its end
around a note of what was cut, and ``payload.truncated`` lists what was cut. An envelope that cannot be made to
fit (thousands of small strings, say) becomes an ``error`` that says so, with the same ``ref_id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from contop.core.messages import Error

# Below this a string is not worth cutting: the note that replaces it would be about as long.
MIN_CUT = 256
# Bytes kept free for the notes, ``truncated`` and JSON escaping, so one pass usually suffices.
MARGIN = 512
BINARY_KEYS = frozenset({"image_b64", "frame_b64", "screenshot", "screenshot_b64", "image", "thumbnail", "data_b64"})
_BASE64 = re.compile(r"(?:data:[^,]{0,100};base64,)?[A-Za-z0-9+/=\r\n]+")

Leaf = tuple[str, Any, Any, str]  # path, container, key, value


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _leaves(value: Any, path: str) -> Iterator[Leaf]:
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(item, str):
            yield where, value, key, item
        elif isinstance(item, (dict, list)):
            yield from _leaves(item, where)


def _is_binary(key: Any, value: str) -> bool:
    if key in BINARY_KEYS:
        return True
    if len(value) < 1000 or _BASE64.fullmatch(value) is None:
        return False
    sample = value[:1000]  # base64 of binary data mixes all three classes; a run of one letter is text
    return any(c.isdigit() for c in sample) and any(c.isupper() for c in sample) and any(c.islower() for c in sample)


def _cut(key: Any, value: str, excess: int) -> str:
    """``value`` made about ``excess`` bytes of JSON shorter."""
    if _is_binary(key, value):
        size = len(value.rstrip("=\r\n")) * 3 // 4
        return f"[{size} bytes of base64 data not sent: too large for the data channel]"
    raw = value.encode("utf-8", "surrogatepass")
    escaped = len(_dumps(value).encode("utf-8", "surrogatepass")) - 2  # quotes, newlines… count double in JSON
    keep = max(0, len(raw) - -(-excess * len(raw) // escaped) - 100)
    head = raw[: keep // 2].decode("utf-8", "ignore")  # "ignore" drops a character split by the cut
    tail = raw[len(raw) - (keep - keep // 2) :].decode("utf-8", "ignore")
    cut = len(value) - len(head) - len(tail)
    return f"{head}… [{cut} characters cut: the message was too large for the data channel] …{tail}"


def _json_size(value: str) -> int:
    return _size(_dumps(value)) - 2


def _level(sizes: list[int], budget: int) -> int:
    """The largest cap such that the sizes, each cut to it, add up to at most ``budget``."""
    remaining, left = budget, len(sizes)
    for size in sorted(sizes):
        if size * left > remaining:
            return max(0, remaining // left)
        remaining -= size
        left -= 1
    return max(sizes, default=0)


def fit_envelope(text: str, limit: int) -> tuple[str, int]:
    """``(text, 0)`` when the JSON envelope ``text`` fits in ``limit`` bytes; otherwise what to send instead and the
    original size: the envelope with its largest strings cut, or an ``error`` when cutting cannot make it fit.

    Base64 data goes first (a cut picture is of no use), largest first. Then every text longer than a common
    length is cut to it, so that a reply with its output in two places keeps some of both.
    """
    if len(text) <= limit // 4:  # at most four bytes per character: certainly fits, no encoding needed
        return text, 0
    size = _size(text)
    if size <= limit:
        return text, 0
    original = size
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(payload, dict):
        return _too_large(data, original, limit), original
    cut: list[str] = []

    def replace(path: str, container: Any, key: Any, value: str) -> None:
        container[key] = value
        if path not in cut:
            cut.append(path)
        payload["truncated"] = cut

    for path, container, key, value in sorted(_leaves(payload, ""), key=lambda leaf: -len(leaf[3])):
        if size <= limit:
            break
        if len(value) >= MIN_CUT and _is_binary(key, value):
            replace(path, container, key, _cut(key, value, len(value)))
            size = _size(_dumps(data))
    for _ in range(3):  # one pass nearly always suffices; escaping and notes can leave a few bytes over
        if size <= limit:
            break
        leaves = [leaf for leaf in _leaves(payload, "") if len(leaf[3]) >= MIN_CUT]
        sizes = [_json_size(leaf[3]) for leaf in leaves]
        cap = _level(sizes, limit - MARGIN - (size - sum(sizes)) - 150 * len(leaves))
        for (path, container, key, value), length in zip(leaves, sizes, strict=True):
            if length > cap:
                replace(path, container, key, _cut(key, value, length - cap))
        size = _size(_dumps(data))
    if size > limit:
        return _too_large(data, original, limit), original
    return _dumps(data), original


def _too_large(data: Any, size: int, limit: int) -> str:
    kind = data.get("type") if isinstance(data, dict) else None
    payload = data.get("payload") if isinstance(data, dict) else None
    ref = payload.get("ref_id") if isinstance(payload, dict) else None
    if not isinstance(ref, str):
        ref = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
    what = f"a {kind} message" if isinstance(kind, str) else "a message"
    error = Error.reply(
        "internal", f"{what} of {size} bytes was not sent: the phone accepts at most {limit} bytes per message", ref
    )
    return error.to_json()
