"""Logging for the server process: one stderr handler whose filter removes secrets from every record."""

from __future__ import annotations

import logging
import re
import sys
import threading

from contop.core.urlsecrets import hide_url_passwords

# Patterns that carry secrets in text we might log: signaling URLs (?token=), auth headers, pairing fragments.
_PATTERNS = (
    (re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(#p=)[A-Za-z0-9_\-]+"), r"\1***"),
)


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class QuietReadsFilter(logging.Filter):
    """Drops uvicorn's access lines for successful reads from this computer.

    The desktop app asks for the server's status, devices and settings every few seconds; a line for each would fill
    ``server.log`` with about 36 lines a minute and bury what matters. Changes (POST, PUT, DELETE), failures, and
    every request from another address are still logged, and with ``--log-level DEBUG`` everything is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        args = record.args
        # uvicorn.access: (client "host:port", method, path with query, HTTP version, status code)
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        client, method, _path, _version, status = args
        if method not in ("GET", "HEAD") or not isinstance(status, int) or not (200 <= status < 400):
            return True
        host = str(client).rsplit(":", 1)[0].strip("[]")
        # A server listening on "::" sees an IPv4 client as an IPv4-mapped address.
        return host.removeprefix("::ffff:") not in _LOOPBACK


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with known secret values and secret-bearing patterns masked."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add_secret(self, value: str) -> None:
        if value and len(value) >= 8:
            with self._lock:
                self._secrets.add(value)

    def redact(self, text: str) -> str:
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
        text = hide_url_passwords(text)
        with self._lock:
            secrets = list(self._secrets)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        redacted = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.msg, record.args = redacted, None
        return True


def configure_logging(level: str = "INFO") -> RedactingFilter:
    """Install the process's only log handler (stderr) with redaction; uvicorn's loggers propagate to it."""
    redactor = RedactingFilter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QuietReadsFilter) for f in access.filters):
        access.addFilter(QuietReadsFilter())
    # aiortc/aioice are chatty at INFO with candidate details.
    for name in ("aioice", "aiortc"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
