"""Where a download to a folder lands: the file name its URL gives. Shared by the tool and the gate, so the gate
judges the very file the tool writes."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

DEFAULT_NAME = "download"


def download_name(url: str) -> str:
    """The last segment of the URL's path, percent-decoded (``https://x.io/a/b.zip?v=1`` → ``b.zip``), or
    ``download`` when there is none. Never a path: a decoded or backslash separator starts a new segment."""
    try:
        path = unquote(urlsplit(url.strip()).path)
    except ValueError:
        return DEFAULT_NAME
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return DEFAULT_NAME if name in ("", ".", "..") else name
