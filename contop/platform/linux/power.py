"""Idle time (MIT-SCREEN-SAVER) and keep-awake (X screen saver + DPMS off, plus D-Bus inhibitors) on Linux.

Keep-awake does what ``xset s off -dpms`` does, through the X protocol (no subprocess), remembers the previous
settings to restore them, and additionally takes the desktop's inhibitors when they exist: the freedesktop
ScreenSaver ``Inhibit`` on the session bus (held by keeping that connection open) and logind's ``Inhibit`` on the
system bus (held by keeping the returned file descriptor open).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from contop.core.errors import NotAvailableError

logger = logging.getLogger(__name__)

APP_NAME = "Contop"


def idle_seconds(display: Any) -> float:
    if not display.has_extension("MIT-SCREEN-SAVER"):
        raise NotAvailableError("the X server has no MIT-SCREEN-SAVER extension, so idle time is unknown")
    info = display.screen().root.screensaver_query_info()
    return float(info.idle) / 1000.0


def restore_left_awake(display: Any, saver: Any, dpms_was_enabled: Any) -> str:
    """Undo the X settings keep-awake changed (when it is turned off, or after its process died holding it),
    unless someone changed them since.

    ``saver`` is the (timeout, interval, prefer_blanking, allow_exposures) saved when it was turned on.
    """
    done = []
    ss = display.get_screen_saver()
    if isinstance(saver, (list, tuple)) and len(saver) == 4 and all(isinstance(v, int) for v in saver):
        if ss.timeout == 0 and saver[0] != 0:  # still off, as keep-awake left it
            display.set_screen_saver(*saver)
            done.append(f"screen saver after {saver[0]} s")
    if dpms_was_enabled is True and display.has_extension("DPMS") and not display.dpms_info().state:
        display.dpms_enable()
        done.append("display power saving")
    display.sync()
    return "restored " + " and ".join(done) if done else "nothing left to restore"


@dataclass
class KeepAwake:
    """What keep-awake changed, so ``release`` can put it back."""

    display: Any
    session_bus: str | None
    saved_saver: tuple[int, int, int, int] | None = None
    dpms_was_enabled: bool | None = None
    mechanisms: list[str] = field(default_factory=list)
    _screensaver_conn: Any = None
    _screensaver_cookie: int | None = None
    _logind_conn: Any = None
    _logind_fd: Any = None

    def acquire(self, reason: str) -> None:
        d = self.display
        ss = d.get_screen_saver()
        self.saved_saver = (ss.timeout, ss.interval, ss.prefer_blanking, ss.allow_exposures)
        d.set_screen_saver(0, ss.interval, ss.prefer_blanking, ss.allow_exposures)
        self.mechanisms.append("x-screensaver-off")
        if d.has_extension("DPMS"):
            self.dpms_was_enabled = bool(d.dpms_info().state)
            d.dpms_disable()
            self.mechanisms.append("dpms-off")
        d.sync()
        self._inhibit_screensaver(reason)
        self._inhibit_logind(reason)

    def release(self) -> None:
        try:
            # As after a crash: only what is still as keep-awake left it (the user may have run ``xset s 300``
            # meanwhile, and the settings saved when it was turned on must not overwrite that).
            restore_left_awake(self.display, self.saved_saver, self.dpms_was_enabled)
        except Exception:  # the X server may be gone at shutdown
            logger.debug("restoring the screen saver settings failed", exc_info=True)
        if self._screensaver_conn is not None:
            with contextlib.suppress(Exception):
                from jeepney import DBusAddress, new_method_call

                addr = DBusAddress(
                    "/org/freedesktop/ScreenSaver",
                    bus_name="org.freedesktop.ScreenSaver",
                    interface="org.freedesktop.ScreenSaver",
                )
                self._screensaver_conn.send_and_get_reply(
                    new_method_call(addr, "UnInhibit", "u", (self._screensaver_cookie,)), timeout=2
                )
            with contextlib.suppress(Exception):
                self._screensaver_conn.close()
            self._screensaver_conn = None
        if self._logind_fd is not None:
            with contextlib.suppress(Exception):
                self._logind_fd.close()
            self._logind_fd = None
        if self._logind_conn is not None:
            with contextlib.suppress(Exception):
                self._logind_conn.close()
            self._logind_conn = None
        self.mechanisms.clear()

    def _inhibit_screensaver(self, reason: str) -> None:
        if not self.session_bus:
            return
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection

            conn = open_dbus_connection(bus=self.session_bus)
            addr = DBusAddress(
                "/org/freedesktop/ScreenSaver",
                bus_name="org.freedesktop.ScreenSaver",
                interface="org.freedesktop.ScreenSaver",
            )
            reply = conn.send_and_get_reply(new_method_call(addr, "Inhibit", "ss", (APP_NAME, reason)), timeout=2)
            if reply.header.message_type.name == "error":
                conn.close()
                return
            self._screensaver_conn, self._screensaver_cookie = conn, int(reply.body[0])
            self.mechanisms.append("org.freedesktop.ScreenSaver")
        except Exception as exc:  # no such service on this desktop: the X settings still apply
            logger.debug("ScreenSaver inhibit unavailable: %s", exc)

    def _inhibit_logind(self, reason: str) -> None:
        if not os.path.exists("/run/dbus/system_bus_socket") and not os.environ.get("DBUS_SYSTEM_BUS_ADDRESS"):
            return
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection

            conn = open_dbus_connection(bus="SYSTEM", enable_fds=True)
            addr = DBusAddress(
                "/org/freedesktop/login1", bus_name="org.freedesktop.login1", interface="org.freedesktop.login1.Manager"
            )
            msg = new_method_call(addr, "Inhibit", "ssss", ("idle:sleep", APP_NAME, reason, "block"))
            reply = conn.send_and_get_reply(msg, timeout=2)
            if reply.header.message_type.name == "error":
                conn.close()
                return
            self._logind_conn, self._logind_fd = conn, reply.body[0]
            self.mechanisms.append("logind")
        except Exception as exc:  # no logind (containers, non-systemd systems)
            logger.debug("logind inhibit unavailable: %s", exc)
