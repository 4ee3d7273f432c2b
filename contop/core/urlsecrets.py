"""Passwords written into URLs (``http://user:password@host/v1``).

That is how a remote OpenAI-compatible server is given credentials (``local_model_base_url``): httpx sends them as
Basic authentication. Such a URL ends up in messages ("nothing answered at …"), logs and the stored conversation,
so every place that shows one shows it with the password replaced.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]*):([^@\s/]+)@")
# A STUN/TURN URL has no "//" (turn:host:3478), so a password pasted into one (turn:alice:secret@host) needs its own.
_ICE_URL_PASSWORD = re.compile(r"(?<![\w+.-])((?:stun|turn)s?:[^\s/:@]*):([^\s@/]+)@", re.IGNORECASE)


def hide_url_passwords(text: str) -> str:
    """``text`` with the password of every URL in it, http(s) or STUN/TURN, replaced by ``***`` (the user name is
    kept)."""
    if "@" not in text:
        return text
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    return _ICE_URL_PASSWORD.sub(rf"\1:{MASK}@", text)


def url_password(url: str) -> str:
    """The password in ``url``, or "" (for the redactors that hide known secret values anywhere in a text)."""
    try:
        return urlsplit(url.strip()).password or ""
    except ValueError:
        return ""
