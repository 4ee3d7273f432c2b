"""The live video while Away Mode's lock screen is up (X11): the desktop under it, and reports of drawing there.

The lock overlay covers the glass, so a root grab shows the lock screen, and the root's drawing reports (DAMAGE)
go silent: windows under the overlay draw into their offscreen pixmaps, never onto the glass. While the overlay is
up, the track grabs with ``away_capture.capture_without_overlay`` and watches each top-level window for drawing, as
a compositing manager does, so a still desktop still costs no grab between the track's forced looks.
"""

from __future__ import annotations

import logging
from typing import Any

from Xlib import X
from Xlib import error as xerror

from contop.desktop.away_capture import BGRA, capture_without_overlay, overlay_windows
from contop.platform.linux.xconnect import close_display, open_display

logger = logging.getLogger(__name__)

# Top-level windows appearing, going, moving or changing places change the picture as surely as drawing does.
_LAYOUT_EVENTS = frozenset(
    {X.MapNotify, X.UnmapNotify, X.ConfigureNotify, X.DestroyNotify, X.CirculateNotify, X.ReparentNotify}
)


class UnderOverlay:
    """The desktop under the lock overlay, on an X connection of its own that only the track's worker thread uses
    (the event loop only waits on its socket, through a duplicate).

    ``active()`` says whether the overlay is up, and starts or stops the drawing reports to match; ``grab()``
    reads the desktop under it; ``drawn()`` says whether anything was drawn under it since the last call.
    """

    def __init__(self, display: Any, damage_notify: int | None) -> None:
        self._d = display
        self._root = display.screen().root
        self._notify = damage_notify  # the event code of DamageNotify; None without DAMAGE (grab every tick)
        self._damages: dict[int, int] = {}  # top-level window id -> its damage object
        self.watching = False

    @classmethod
    def open(cls, name: str | None) -> UnderOverlay | None:
        """A view on X display ``name`` (None: ``$DISPLAY``), or None without one or without Composite (the
        overlay cannot be left out of a grab there)."""
        connection = open_display(name, "Away Mode capture")
        if connection is None:
            return None
        try:
            if not connection.has_extension("Composite"):
                logger.info("the X server has no Composite extension: the video shows the Away Mode lock screen")
                close_display(connection, "Away Mode capture")
                return None
            notify = None
            if connection.has_extension("DAMAGE"):
                connection.damage_query_version()
                notify = connection.extension_event.DamageNotify
            # A window that vanishes between the listing and a request about it is no error worth a word.
            connection.set_error_handler(lambda _err, _request: None)
        except Exception as exc:
            logger.info("no Away Mode capture (%s): the video shows the lock screen", exc)
            close_display(connection, "Away Mode capture")
            return None
        return cls(connection, notify)

    def active(self) -> bool:
        """Whether the overlay is up (a round trip when it is not: one property read)."""
        up = bool(overlay_windows(self._d))
        if up and not self.watching:
            self._watch()
        elif not up and self.watching:
            self._unwatch()
        return up

    def grab(self, rect: Any) -> BGRA:
        """The desktop in ``rect`` (a monitor: left, top, width, height) without the overlay, in mss's layout."""
        return capture_without_overlay(self._d, (rect.left, rect.top, rect.width, rect.height))

    def drawn(self) -> bool:
        """True when something under the overlay was drawn, or a window came, went or moved, since the last call.

        Each report is acknowledged at once, on this connection: the grab that follows (same connection, so after
        it in the server's order) sees everything the report covered, and later drawing is reported again.
        """
        seen = False
        while self._d.pending_events():
            event = self._d.next_event()
            if event.type == self._notify:
                self._d.damage_subtract(event.damage)
                seen = True
            elif event.type == X.CreateNotify:
                self._watch_window(event.window)
                seen = True
            elif event.type in _LAYOUT_EVENTS:
                if event.type == X.DestroyNotify:
                    self._damages.pop(event.window.id, None)  # the server freed its damage object with it
                seen = True
        if seen:
            self._d.flush()
        return seen

    def fileno(self) -> int:
        """The connection's socket: readable when the server has sent something (a report, as a rule)."""
        return int(self._d.fileno())

    def _watch(self) -> None:
        self.watching = True
        if self._notify is None:
            return
        self._root.change_attributes(event_mask=X.SubstructureNotifyMask)
        skip = overlay_windows(self._d)
        for window in self._root.query_tree().children:
            if window.id not in skip:
                self._watch_window(window)
        self._d.flush()

    def _watch_window(self, window: Any) -> None:
        from Xlib.ext import damage

        if window.id in self._damages:
            return
        try:
            self._damages[window.id] = window.damage_create(damage.DamageReportNonEmpty)
        except xerror.XError:
            pass

    def _unwatch(self) -> None:
        self.watching = False
        if self._notify is None:
            return
        self._root.change_attributes(event_mask=X.NoEventMask)
        for handle in self._damages.values():
            self._d.damage_destroy(handle)
        self._damages.clear()
        self._d.sync()
        while self._d.pending_events():  # reports from before are no news
            self._d.next_event()

    def close(self) -> None:
        close_display(self._d, "Away Mode capture")


def open_under_overlay(name: str | None) -> UnderOverlay | None:
    """An ``UnderOverlay`` on X display ``name``; None where that cannot be (not X, no Composite)."""
    try:
        return UnderOverlay.open(name)
    except xerror.XError as exc:
        logger.info("no Away Mode capture (%s): the video shows the lock screen", exc)
        return None
