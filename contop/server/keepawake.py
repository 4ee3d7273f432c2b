"""Applies the ``keep_host_awake`` setting through the platform adapter: at startup and whenever it changes.

What keep-awake changes lives in the adapter that turned it on (the saved screen saver settings, the D-Bus
inhibitor connections, the Windows thread, ``caffeinate``), so that adapter is kept until it is turned off again, and
turned off at shutdown: an adapter of its own would find nothing to restore, and leave the desktop sleepless.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from contop.core.errors import NotAvailableError
from contop.core.settings import Settings

if TYPE_CHECKING:
    from contop.platform.base import PlatformAdapter

log = logging.getLogger(__name__)


def _open_adapter() -> PlatformAdapter:
    from contop.platform.base import get_adapter

    return get_adapter()


class HostKeepAwake:
    """Holds the adapter that keeps the host awake while the setting is on. Blocking (X/D-Bus I/O); thread-safe."""

    def __init__(self, open_adapter: Callable[[], PlatformAdapter] = _open_adapter) -> None:
        self._open_adapter = open_adapter
        self._lock = threading.Lock()
        self._adapter: PlatformAdapter | None = None

    @property
    def on(self) -> bool:
        return self._adapter is not None

    def apply(self, on: bool) -> str:
        """Turn keep-awake on or off; returns what happened, for logs and ``contop doctor``."""
        try:
            with self._lock:
                if on:
                    self._acquire()
                else:
                    self._release()
        except NotAvailableError as exc:
            return f"keep-awake not applied: {exc}"
        except Exception as exc:  # the desktop may refuse (no X server access, D-Bus errors): never stop the server
            log.debug("keep-awake failed", exc_info=True)
            return f"keep-awake not applied: {type(exc).__name__}: {exc}"
        return "keep-awake on" if on else "keep-awake off"

    def _acquire(self) -> None:
        if self._adapter is not None:
            return
        adapter = self._open_adapter()
        try:
            adapter.set_keep_awake(True)
        except BaseException:
            adapter.close()
            raise
        self._adapter = adapter

    def _release(self) -> None:
        adapter, self._adapter = self._adapter, None
        if adapter is None:
            return
        try:
            adapter.set_keep_awake(False)
        finally:
            adapter.close()

    def listener(self, old: Settings, new: Settings) -> None:
        """A settings-store listener: applies ``keep_host_awake`` when it changes."""
        if old.keep_host_awake != new.keep_host_awake:
            log.info("%s", self.apply(new.keep_host_awake))

    async def aclose(self) -> None:
        """Shutdown: the desktop may sleep again once the server is gone (idempotent)."""
        if self.on:
            log.info("%s", await asyncio.to_thread(self.apply, False))
