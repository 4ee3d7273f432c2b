"""Top-level windows on X11 through EWMH: listing, focus, move/resize, maximize (python-xlib, no subprocess).

Geometry is the client area in absolute root coordinates (``translate_coords`` to the root, so window-manager
frames and reparenting do not matter). Pids come from the X-Resource extension, which asks the server which
process owns the connection, so they are right even for clients that never set ``_NET_WM_PID``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from Xlib import X, Xatom
from Xlib import error as xerror
from Xlib.protocol import event as xevent

from contop.core.errors import ToolError
from contop.platform.base import WindowInfo, match_title

logger = logging.getLogger(__name__)

SOURCE_PAGER = 2  # EWMH source indication: requests on behalf of the user, honoured without focus stealing rules
_STATE_ADD = 1
_SKIPPED_TYPES = ("_NET_WM_WINDOW_TYPE_DOCK", "_NET_WM_WINDOW_TYPE_DESKTOP")
_WAIT_S = 1.0
_ALL_DESKTOPS = 0xFFFFFFFF  # _NET_WM_DESKTOP of a sticky window


def process_name(pid: int | None) -> str:
    if not pid:
        return ""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class EwmhWindows:
    """Window queries and requests on one python-xlib display. Callers serialise calls."""

    def __init__(self, display: Any) -> None:
        self._d = display
        self._root = display.screen().root
        self._atoms: dict[str, int] = {}
        self._has_res = bool(display.has_extension("X-Resource"))

    def atom(self, name: str) -> int:
        a = self._atoms.get(name)
        if a is None:
            a = self._atoms[name] = self._d.intern_atom(name)
        return a

    def _prop(self, win: Any, name: str, type_: int = X.AnyPropertyType) -> Any:
        prop = win.get_full_property(self.atom(name), type_)
        return None if prop is None else prop.value

    def _window(self, wid: int) -> Any:
        return self._d.create_resource_object("window", wid)

    # -- reading --------------------------------------------------------------------------------------------
    def client_ids(self) -> list[int]:
        """Managed client windows, bottom to top when the WM publishes the stacking order."""
        for name in ("_NET_CLIENT_LIST_STACKING", "_NET_CLIENT_LIST"):
            value = self._prop(self._root, name, Xatom.WINDOW)
            if value is not None:
                return [int(w) for w in value]
        return []

    def active_id(self) -> int | None:
        value = self._prop(self._root, "_NET_ACTIVE_WINDOW", Xatom.WINDOW)
        if value is None or not len(value) or not value[0]:
            return None
        return int(value[0])

    def title(self, win: Any) -> str:
        value = self._prop(win, "_NET_WM_NAME", self.atom("UTF8_STRING"))
        if value:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        value = self._prop(win, "WM_NAME")
        if isinstance(value, bytes):
            return value.decode("latin-1", "replace")
        return str(value or "")

    def pid(self, win: Any) -> int | None:
        if self._has_res:
            try:
                from Xlib.ext import res

                reply = self._d.res_query_client_ids([{"client": win.id, "mask": res.LocalClientPIDMask}])
                for item in reply.ids:
                    if item.spec.mask & res.LocalClientPIDMask and item.value:
                        return int(item.value[0])
            except xerror.XError:
                pass
        value = self._prop(win, "_NET_WM_PID", Xatom.CARDINAL)
        return int(value[0]) if value is not None and len(value) else None

    def geometry(self, win: Any) -> tuple[int, int, int, int]:
        g = win.get_geometry()
        # python-xlib's ``a.translate_coords(b, x, y)`` maps (x, y) of ``b`` into ``a``'s coordinates.
        origin = self._root.translate_coords(win, 0, 0)
        return int(origin.x), int(origin.y), int(g.width), int(g.height)

    def _skipped(self, win: Any) -> bool:
        types = self._prop(win, "_NET_WM_WINDOW_TYPE", Xatom.ATOM)
        if types is None:
            return False
        skipped = {self.atom(n) for n in _SKIPPED_TYPES}
        return any(int(t) in skipped for t in types)

    def _states(self, win: Any) -> set[int]:
        states = self._prop(win, "_NET_WM_STATE", Xatom.ATOM)
        return set() if states is None else {int(s) for s in states}

    def current_desktop(self) -> int | None:
        value = self._prop(self._root, "_NET_CURRENT_DESKTOP", Xatom.CARDINAL)
        return int(value[0]) if value is not None and len(value) else None

    def on_other_desktop(self, win: Any, current: int | None) -> bool:
        """True when the window sits on a virtual desktop that is not shown (a sticky window is on all of them)."""
        value = self._prop(win, "_NET_WM_DESKTOP", Xatom.CARDINAL)
        if current is None or value is None or not len(value):
            return False
        desk = int(value[0])
        return desk != _ALL_DESKTOPS and desk != current

    def info(self, wid: int, active: int | None = None, current_desktop: int | None = None) -> WindowInfo:
        """The window's description; ``active`` and ``current_desktop`` are read when not given (list_all reads
        them once for every window)."""
        win = self._window(wid)
        wm_class = win.get_wm_class()
        pid = self.pid(win)
        x, y, w, h = self.geometry(win)
        if current_desktop is None:
            current_desktop = self.current_desktop()
        return WindowInfo(
            id=wid,
            title=self.title(win),
            pid=pid,
            wm_class=wm_class[1] if wm_class else "",
            x=x,
            y=y,
            width=w,
            height=h,
            focused=wid == (self.active_id() if active is None else active),
            process_name=process_name(pid),
            minimized=self.atom("_NET_WM_STATE_HIDDEN") in self._states(win),
            on_other_desktop=self.on_other_desktop(win, current_desktop),
        )

    def active_info(self) -> WindowInfo | None:
        """The active window, or None (also when it was destroyed a moment ago and the WM has not caught up)."""
        wid = self.active_id()
        if wid is None:
            return None
        try:
            return self.info(wid, wid)
        except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
            return None

    def list_all(self) -> list[WindowInfo]:
        """Managed windows, topmost first, minimized ones and those on other desktops included (and marked so):
        they can still be focused by title, which brings them back."""
        active = self.active_id()
        current = self.current_desktop()
        out = []
        for wid in reversed(self.client_ids()):
            try:
                if self._skipped(self._window(wid)):
                    continue
                out.append(self.info(wid, active, current))
            except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
                continue  # closed while we were looking
        return out

    def find(self, title: str) -> WindowInfo:
        windows = self.list_all()
        wid = match_title([(w.id, w.title) for w in windows], title)
        if wid is None:
            names = ", ".join(repr(w.title) for w in windows[:15]) or "none"
            raise ToolError(f"no window title contains {title!r}; open windows: {names}")
        return next(w for w in windows if w.id == wid)

    def is_maximized(self, wid: int) -> bool:
        states = self._prop(self._window(wid), "_NET_WM_STATE", Xatom.ATOM)
        if states is None:
            return False
        have = {int(s) for s in states}
        return self.atom("_NET_WM_STATE_MAXIMIZED_VERT") in have and self.atom("_NET_WM_STATE_MAXIMIZED_HORZ") in have

    # -- requests -------------------------------------------------------------------------------------------
    def _client_message(self, wid: int, name: str, data: list[int]) -> None:
        ev = xevent.ClientMessage(
            window=self._window(wid), client_type=self.atom(name), data=(32, [*data, 0, 0, 0, 0, 0][:5])
        )
        self._root.send_event(ev, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
        self._d.sync()

    def _wait(self, done: Any) -> bool:
        deadline = time.monotonic() + _WAIT_S
        while True:
            with contextlib.suppress(xerror.XError):
                if done():
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def activate(self, wid: int) -> None:
        win = self._window(wid)
        if self.active_id() is None and not self.client_ids():
            # No EWMH window manager: do what it would have done.
            win.configure(stack_mode=X.Above)
            win.set_input_focus(X.RevertToParent, X.CurrentTime)
            self._d.sync()
            return
        self._show_desktop_of(win)
        self._client_message(wid, "_NET_ACTIVE_WINDOW", [SOURCE_PAGER, X.CurrentTime, 0])
        if not self._wait(lambda: self.active_id() == wid):
            where = " (it is on another desktop)" if self.on_other_desktop(win, self.current_desktop()) else ""
            raise ToolError(f"the window manager did not activate the window{where}")

    def _show_desktop_of(self, win: Any) -> None:
        """Switch to the virtual desktop the window is on, as a taskbar does: window managers (openbox) do not
        activate a window on another desktop when asked to."""
        current = self.current_desktop()
        if not self.on_other_desktop(win, current):
            return
        desk = int(self._prop(win, "_NET_WM_DESKTOP", Xatom.CARDINAL)[0])
        self._client_message(self._root.id, "_NET_CURRENT_DESKTOP", [desk, X.CurrentTime])
        self._wait(lambda: self.current_desktop() == desk)

    def move_resize(self, wid: int, x: int | None, y: int | None, width: int | None, height: int | None) -> None:
        if all(v is None for v in (x, y, width, height)):
            raise ToolError("give at least one of width, height, x, y")
        for v, what in ((width, "width"), (height, "height")):
            if v is not None and v <= 0:
                raise ToolError(f"{what} must be positive")
        if self.is_maximized(wid):
            # A maximised window ignores size requests in most window managers.
            self._client_message(
                wid,
                "_NET_WM_STATE",
                [0, self.atom("_NET_WM_STATE_MAXIMIZED_VERT"), self.atom("_NET_WM_STATE_MAXIMIZED_HORZ"), SOURCE_PAGER],
            )
        flags = 0
        values = []
        for bit, v in enumerate((x, y, width, height)):
            if v is not None:
                flags |= 1 << (8 + bit)
            values.append(int(v or 0))
        static_gravity = 10  # x/y name the client area's position, as list() reports it
        self._client_message(wid, "_NET_MOVERESIZE_WINDOW", [static_gravity | flags | SOURCE_PAGER << 12, *values])

        def done() -> bool:
            gx, gy, gw, gh = self.geometry(self._window(wid))
            return all(want is None or want == got for want, got in ((x, gx), (y, gy), (width, gw), (height, gh)))

        if not self._wait(done):
            # No EWMH support for the request (or the WM adjusted it): configure the client directly.
            kwargs = {k: int(v) for k, v in (("x", x), ("y", y), ("width", width), ("height", height)) if v is not None}
            self._window(wid).configure(**kwargs)
            self._d.sync()
            self._wait(done)

    def maximize(self, wid: int) -> bool:
        self._client_message(
            wid,
            "_NET_WM_STATE",
            [
                _STATE_ADD,
                self.atom("_NET_WM_STATE_MAXIMIZED_VERT"),
                self.atom("_NET_WM_STATE_MAXIMIZED_HORZ"),
                SOURCE_PAGER,
            ],
        )
        return self._wait(lambda: self.is_maximized(wid))
