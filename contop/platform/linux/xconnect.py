"""Private X connections for the live video's watchers (drawing reports, the pointer), opened and closed quietly:
a watcher that cannot be had only costs the video an optimisation or the pointer, never the video itself."""

from __future__ import annotations

import logging
import warnings
from typing import Any

logger = logging.getLogger(__name__)


def open_display(name: str | None, what: str) -> Any | None:
    """A python-xlib connection to X display ``name`` (None: ``$DISPLAY``), or None (logged for ``what``)."""
    try:
        from Xlib import display as xdisplay
    except ImportError:
        return None
    with warnings.catch_warnings():
        # python-xlib leaves its half-open sockets to the garbage collector when it cannot connect
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return xdisplay.Display(name)
        except Exception as exc:  # no X server, refused, a Wayland session without XWayland...
            logger.debug("no %s: cannot open the display (%s)", what, exc)
            del exc  # frees those sockets now, inside this block, not at some later collection
            return None


def close_display(connection: Any, what: str) -> None:
    """Close an X connection; one whose server is already gone has nothing left to release."""
    try:
        connection.close()
    except Exception:
        logger.debug("closing the %s's X connection failed", what, exc_info=True)
