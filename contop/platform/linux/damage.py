"""Whether anything was drawn on an X screen since the last look, from the X DAMAGE extension.

The live video grabs and compares the whole screen on every tick to find out whether it changed: about 2.5 ms of
CPU for a 1080p screen, thirty times a second, even when nothing moves. The X server already knows: a damage
object on the root window reports drawing anywhere on the screen (child windows included), so on a still screen
the video waits for the connection's socket to become readable instead (``bench/bench_video.py`` compares both).
python-xlib takes a few hundred microseconds to read a report and to re-arm, so the video only asks while the
screen is still (``ScreenTrack``).
"""

from __future__ import annotations

import logging
from typing import Any

from contop.platform.linux.xconnect import close_display, open_display

logger = logging.getLogger(__name__)


class DamageWatch:
    """Reports whether something was drawn on the screen since the last ``rearm()``.

    It has its own X connection, used only by the thread that calls it (python-xlib connections are not thread
    safe). ``open()`` returns None when there is no X display or it lacks DAMAGE; callers then grab every tick.
    """

    def __init__(self, display: Any, damage: int, notify: int) -> None:
        self._display = display
        self._damage = damage
        self._notify = notify  # the event code of DamageNotify on this connection

    @classmethod
    def open(cls, name: str | None = None) -> DamageWatch | None:
        """A watch on X display ``name`` (None: ``$DISPLAY``), or None when it cannot be had."""
        try:
            from Xlib.ext import damage
        except ImportError:
            return None
        connection = open_display(name, "damage watch")
        if connection is None:
            return None
        try:
            if not connection.has_extension("DAMAGE"):
                logger.info("the X server has no DAMAGE extension: the screen is compared on every video tick")
                close_display(connection, "damage watch")
                return None
            connection.damage_query_version()
            # NonEmpty: one event when the damaged region stops being empty; rearm() empties it again.
            handle = connection.screen().root.damage_create(damage.DamageReportNonEmpty)
            connection.sync()
        except Exception as exc:
            logger.info("no damage watch (%s): the screen is compared on every video tick", exc)
            close_display(connection, "damage watch")
            return None
        return cls(connection, handle, connection.extension_event.DamageNotify)

    def drawn(self) -> bool:
        """True when something was drawn since the last ``rearm()`` (or since the watch opened) and not yet told.

        The server reports once per ``rearm()``: while the caller grabs anyway (the screen is changing) it need
        not talk to the server at all. Raises the connection's error when the X server went away.
        """
        seen = False
        while self._display.pending_events():
            if self._display.next_event().type == self._notify:
                seen = True
        return seen

    def rearm(self) -> None:
        """Forget what was drawn so far: the next drawing is reported again.

        A round trip, so that the server has done it before the caller grabs the screen: what is drawn after this
        point is reported, and nothing drawn after that grab is forgotten with what came before.
        """
        while self._display.pending_events():  # reports from before this point are no news
            self._display.next_event()
        self._display.damage_subtract(self._damage)
        self._display.sync()

    def fileno(self) -> int:
        """The connection's socket: readable when the server has sent something (a report, as a rule)."""
        return int(self._display.fileno())

    def close(self) -> None:
        close_display(self._display, "damage watch")
