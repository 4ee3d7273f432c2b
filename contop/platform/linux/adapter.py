"""The Linux/X11 platform adapter: XTest input, EWMH windows, xclip clipboard, idle/keep-awake, AT-SPI.

One python-xlib connection per adapter, used under one lock: methods may be called from any thread (tools run
them with ``asyncio.to_thread``), one at a time. A connection whose X server went away (it restarted) stays dead:
``connected`` says so, and the owner opens a new adapter.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from Xlib import display as xdisplay
from Xlib import error as xerror

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.base import (
    MAX_ELEMENTS,
    ElementAction,
    InteractResult,
    MouseButton,
    PlatformAdapter,
    ScrollDirection,
    UIElement,
    WindowInfo,
)
from contop.platform.linux.clipboard import XClipboard
from contop.platform.linux.power import KeepAwake, idle_seconds, restore_left_awake
from contop.platform.linux.windows import EwmhWindows
from contop.platform.linux.xinput import XdotoolInput, XTestInput, lock_on, pointer_mask

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _x_call(fn: Callable[P, R]) -> Callable[P, R]:
    """Run under the adapter lock and turn X protocol failures into Contop errors."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, LinuxAdapter)
        with self._guard():
            return fn(*args, **kwargs)

    return wrapper


class LinuxAdapter(PlatformAdapter):
    name = "linux-x11"

    def __init__(self, display: str, *, session_bus: str | None = None, use_xdotool: bool = False) -> None:
        self.display_name = display
        try:
            self._d = xdisplay.Display(display)
        except (xerror.DisplayError, xerror.ConnectionClosedError, OSError) as exc:
            raise NotAvailableError(
                f"cannot open the X display {display!r} ({exc}). Is the desktop session running and DISPLAY right? "
                "On a headless machine install xvfb and openbox."
            ) from exc
        self._lock = threading.RLock()
        self._session_bus = session_bus if session_bus is not None else os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        self._input: XTestInput | XdotoolInput
        if not use_xdotool and self._d.has_extension("XTEST"):
            self._input = XTestInput(self._d, self._lock)
        else:
            self._input = XdotoolInput(
                display, lock_on=lambda: lock_on(self._d), pointer_mask=lambda: pointer_mask(self._d)
            )
        self._windows = EwmhWindows(self._d)
        self._clipboard = XClipboard(display)
        self._keep_awake: KeepAwake | None = None
        self._atspi: Any = None
        self._closed = False
        self._lost: str | None = None  # why the connection is known dead (a call found it closed)

    @property
    def input_backend(self) -> str:
        return "xtest" if isinstance(self._input, XTestInput) else "xdotool"

    @contextmanager
    def _guard(self) -> Iterator[None]:
        with self._lock:
            if self._closed:  # dropped as its X server went away, say, while a caller still held it
                raise NotAvailableError("the platform adapter is closed")
            try:
                yield
            except xerror.ConnectionClosedError as exc:
                self._lost = str(exc)
                raise NotAvailableError(f"the X display {self.display_name} went away: {exc}") from exc
            except xerror.XError as exc:
                raise ToolError(f"the X server refused the request: {exc}") from exc

    def connected(self) -> bool:
        """Whether this adapter's own X connection still works. A restarted X server is another server: every
        connection to the old one is dead for good, whatever a connection opened since says.

        One round trip, unless a call holds the connection now (typing may for seconds): then it is taken as alive,
        and that call, if the connection is dead, fails and marks it lost for the next check.
        """
        if self._closed or self._lost is not None:
            return False
        if not self._lock.acquire(blocking=False):
            return True
        try:
            self._d.get_input_focus()  # a dead connection shows here, a closed socket at once
        except (xerror.ConnectionClosedError, OSError) as exc:
            self._lost = str(exc)
            logger.info("the X connection to %s is lost: %s", self.display_name, exc)
            return False
        except xerror.XError:  # refused, so answered: the server is there
            return True
        finally:
            self._lock.release()
        return True

    # -- input ----------------------------------------------------------------------------------------------
    @_x_call
    def move_mouse(self, x: int, y: int) -> None:
        self._input.move(x, y)

    @_x_call
    def click(self, x: int | None, y: int | None, button: MouseButton = "left", count: int = 1) -> None:
        self._input.click(x, y, button, count)

    @_x_call
    def mouse_down(self, button: MouseButton = "left") -> None:
        self._input.button(button, True)

    @_x_call
    def mouse_up(self, button: MouseButton = "left") -> None:
        self._input.button(button, False)

    @_x_call
    def scroll(self, direction: ScrollDirection, clicks: int = 5, x: int | None = None, y: int | None = None) -> None:
        self._input.scroll(direction, clicks, x, y)

    @_x_call
    def press_key(self, key: str) -> None:
        self._input.press_key(key)

    @_x_call
    def type_text(self, text: str) -> None:
        self._input.type_text(text)

    @_x_call
    def cursor_position(self) -> tuple[int, int]:
        return self._input.position()

    @_x_call
    def screen_size(self) -> tuple[int, int]:
        s = self._d.screen()
        return int(s.width_in_pixels), int(s.height_in_pixels)

    # -- windows --------------------------------------------------------------------------------------------
    @_x_call
    def list_windows(self) -> list[WindowInfo]:
        return self._windows.list_all()

    @_x_call
    def active_window(self) -> WindowInfo | None:
        return self._windows.active_info()

    @_x_call
    def focus_window(self, title: str) -> WindowInfo:
        target = self._windows.find(title)
        self._windows.activate(target.id)
        return self._windows.info(target.id)

    @_x_call
    def move_resize_window(
        self,
        width: int | None = None,
        height: int | None = None,
        x: int | None = None,
        y: int | None = None,
        window_id: int | None = None,
    ) -> WindowInfo:
        wid = window_id if window_id is not None else self._active_id()
        if wid is None:
            raise ToolError("no active window to resize")
        self._windows.move_resize(wid, x, y, width, height)
        return self._windows.info(wid)

    @_x_call
    def maximize_window(self, window_id: int | None = None) -> bool:
        wid = window_id if window_id is not None else self._active_id()
        if wid is None:
            raise ToolError("no active window to maximize")
        return self._windows.maximize(wid)

    @_x_call
    def is_window_maximized(self, window_id: int | None = None) -> bool:
        wid = window_id if window_id is not None else self._active_id()
        return False if wid is None else self._windows.is_maximized(wid)

    def _active_id(self) -> int | None:
        active = self._windows.active_info()  # None also when the active window was just destroyed
        return None if active is None else active.id

    # -- clipboard ------------------------------------------------------------------------------------------
    def clipboard_read(self) -> str:
        return self._clipboard.read()

    def clipboard_write(self, text: str) -> None:
        self._clipboard.write(text)

    # -- session --------------------------------------------------------------------------------------------
    @_x_call
    def idle_seconds(self) -> float:
        return idle_seconds(self._d)

    @_x_call
    def set_keep_awake(self, on: bool, reason: str = "Contop is working") -> None:
        if on and self._keep_awake is None:
            ka = KeepAwake(self._d, self._session_bus)
            ka.acquire(reason)
            self._keep_awake = ka
        elif not on and self._keep_awake is not None:
            self._keep_awake.release()
            self._keep_awake = None

    def keep_awake_undo(self) -> dict[str, Any] | None:
        ka = self._keep_awake
        if ka is None:
            return None
        return {"display": self.display_name, "saver": ka.saved_saver, "dpms_was_enabled": ka.dpms_was_enabled}

    @_x_call
    def undo_keep_awake(self, record: dict[str, Any]) -> str:
        if record.get("display") != self.display_name:
            return f"keep-awake was held on display {record.get('display')!r}, not this one: left as it is"
        return restore_left_awake(self._d, record.get("saver"), record.get("dpms_was_enabled"))

    @property
    def keep_awake_mechanisms(self) -> list[str]:
        return list(self._keep_awake.mechanisms) if self._keep_awake else []

    # -- accessibility --------------------------------------------------------------------------------------
    def _a11y(self) -> Any:
        if self._atspi is None:
            from contop.platform.linux.atspi import AtspiClient

            self._atspi = AtspiClient(self._session_bus)
        return self._atspi

    def _active_pid(self, window_title: str | None) -> tuple[int | None, str | None]:
        with self._guard():
            w = self._windows.find(window_title) if window_title else self._windows.active_info()
        return (w.pid, w.title) if w else (None, None)

    def get_focused_element(self) -> UIElement | None:
        return self._a11y().focused_element()

    def get_interactive_elements(self, window_title: str | None = None, limit: int = MAX_ELEMENTS) -> list[UIElement]:
        pid, title = self._active_pid(window_title)
        return self._a11y().interactive_elements(pid, title, limit=limit)

    def get_element_tree(
        self, window_title: str | None = None, max_depth: int = 8, limit: int = MAX_ELEMENTS
    ) -> list[UIElement]:
        pid, title = self._active_pid(window_title)
        return self._a11y().element_tree(pid, title, max_depth=max_depth, limit=limit)

    def interact_element(
        self,
        name: str,
        action: ElementAction = "invoke",
        value: str | None = None,
        role: str | None = None,
        window_title: str | None = None,
    ) -> InteractResult:
        pid, title = self._active_pid(window_title)
        return self._a11y().interact(pid, title, name, action, value, role)

    def interact_exact(
        self, element: UIElement, action: ElementAction = "invoke", value: str | None = None
    ) -> InteractResult:
        return self._a11y().interact_exact(element, action, value)

    # -- meta -----------------------------------------------------------------------------------------------
    def capabilities(self) -> dict[str, bool]:
        caps = {
            "input": True,
            "windows": True,
            "maximize": True,
            "clipboard": self._clipboard_available(),
            "idle": bool(self._d.has_extension("MIT-SCREEN-SAVER")),
            "keep_awake": True,
        }
        try:
            self._a11y().registry_available()
            caps["accessibility"] = True
        except NotAvailableError:
            caps["accessibility"] = False
        return caps

    def _clipboard_available(self) -> bool:
        try:
            self._clipboard._tool()
        except NotAvailableError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                if self._keep_awake is not None:
                    self._keep_awake.release()
                    self._keep_awake = None
                self._input.close()
                if self._atspi is not None:
                    self._atspi.close()
            finally:
                self._closed = True
                try:
                    self._d.close()
                except Exception:
                    logger.debug("closing the X connection failed", exc_info=True)
