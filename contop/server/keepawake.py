"""Applies the ``keep_host_awake`` setting through the platform adapter: at startup and whenever it changes."""

from __future__ import annotations

import logging

from contop.core.errors import NotAvailableError
from contop.core.settings import Settings

log = logging.getLogger(__name__)


def apply_keep_awake(on: bool) -> str:
    """Turn keep-awake on or off; returns what happened, for logs and ``contop doctor``. Blocking (X/D-Bus I/O)."""
    try:
        from contop.platform.base import get_adapter

        adapter = get_adapter()
        adapter.set_keep_awake(on)
    except NotAvailableError as exc:
        return f"keep-awake not applied: {exc}"
    except Exception as exc:  # the desktop may refuse (no X server access, D-Bus errors): never stop the server
        log.debug("keep-awake failed", exc_info=True)
        return f"keep-awake not applied: {type(exc).__name__}: {exc}"
    return "keep-awake on" if on else "keep-awake off"


def keep_awake_listener(old: Settings, new: Settings) -> None:
    if old.keep_host_awake != new.keep_host_awake:
        log.info("%s", apply_keep_awake(new.keep_host_awake))
