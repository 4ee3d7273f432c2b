"""The platform adapter protocol: everything OS-specific a tool may ask for, with typed results, and ``get_adapter``.

Adapter methods are synchronous and may block for a few milliseconds (X round trips, subprocesses); tools call them
through ``asyncio.to_thread``. Coordinates are native, absolute screen pixels; scaling from screenshot space is the
caller's job (``contop.platform.geometry``).

Required methods (input, windows, clipboard) are abstract. The graceful-degradation methods (foreground name,
accessibility, maximize, idle time, keep-awake) have defaults that raise :class:`NotAvailableError` with a reason,
instead of the falsy values of the reference design: an empty list would read to the model as "this window has no
buttons", while an explicit "not available, use OCR" lets the tool layer pick its fallback. ``capabilities()`` says
up front what an adapter supports.
"""

from __future__ import annotations

import os
import platform
import sys
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from contop.core.errors import NotAvailableError
from contop.platform.geometry import Rect

MouseButton = Literal["left", "right", "middle"]
ScrollDirection = Literal["up", "down", "left", "right"]
ElementAction = Literal["invoke", "click", "set_text", "toggle", "select", "focus", "expand", "collapse"]
Capability = Literal["input", "windows", "clipboard", "idle", "keep_awake", "accessibility", "maximize"]

MAX_ELEMENTS = 200
"""Upper bound on elements returned by one accessibility query, so a huge tree cannot flood the model."""


@dataclass(frozen=True, slots=True)
class WindowInfo:
    """A top-level window. ``x``/``y`` are the absolute position of the client area, ``width``/``height`` its size."""

    id: int
    title: str
    pid: int | None
    wm_class: str
    x: int
    y: int
    width: int
    height: int
    focused: bool
    process_name: str = ""
    minimized: bool = False
    """Iconified: the window is not drawn, so its position shows something else."""
    on_other_desktop: bool = False
    """On a virtual desktop other than the one shown, so not drawn either."""

    @property
    def shown(self) -> bool:
        """Whether the window is drawn on the screen at its position (not minimized, on the current desktop)."""
        return not (self.minimized or self.on_other_desktop)

    @property
    def rect(self) -> Rect:
        return Rect(self.x, self.y, self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class UIElement:
    """One accessibility element. ``box`` is in absolute native screen pixels, or None when the toolkit gave none."""

    role: str
    name: str
    box: Rect | None
    states: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    value: str | None = None
    description: str = ""
    app: str = ""
    depth: int = 0
    path: str = ""
    """Where the element sits in its application's tree (child indices), stable while the UI does not change."""

    @property
    def center(self) -> tuple[int, int] | None:
        if self.box is None:
            return None
        return self.box.left + self.box.width // 2, self.box.top + self.box.height // 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = None if self.box is None else [self.box.left, self.box.top, self.box.width, self.box.height]
        d["states"] = list(self.states)
        d["actions"] = list(self.actions)
        return d


@dataclass(frozen=True, slots=True)
class InteractResult:
    """Outcome of ``interact_element``: whether the element was found and whether the action took effect."""

    found: bool
    status: Literal["success", "error"]
    message: str = ""
    element: UIElement | None = None


@dataclass(slots=True)
class AdapterInfo:
    """What ``contop doctor`` prints about the adapter in use."""

    name: str
    capabilities: dict[str, bool] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def match_title(titles: list[tuple[int, str]], query: str) -> int | None:
    """Best window for a title query: exact (case-insensitive), then prefix, then substring; stacking order kept."""
    q = query.strip().casefold()
    if not q:
        return None
    for test in (
        lambda t: t == q,
        lambda t: t.startswith(q),
        lambda t: q in t,
    ):
        for wid, title in titles:
            if test(title.casefold()):
                return wid
    return None


def _unsupported(what: str, name: str) -> NotAvailableError:
    return NotAvailableError(f"{what} is not supported by the {name} platform adapter")


class PlatformAdapter(ABC):
    """Input, windows, clipboard, idle, keep-awake and accessibility for one desktop session."""

    name: str = "base"

    # -- input (required) -----------------------------------------------------------------------------------
    @abstractmethod
    def move_mouse(self, x: int, y: int) -> None: ...

    @abstractmethod
    def click(self, x: int | None, y: int | None, button: MouseButton = "left", count: int = 1) -> None:
        """Move to (x, y) when given, then click ``count`` times (2 = double click)."""

    @abstractmethod
    def mouse_down(self, button: MouseButton = "left") -> None: ...

    @abstractmethod
    def mouse_up(self, button: MouseButton = "left") -> None: ...

    @abstractmethod
    def scroll(
        self, direction: ScrollDirection, clicks: int = 5, x: int | None = None, y: int | None = None
    ) -> None: ...

    @abstractmethod
    def press_key(self, key: str) -> None:
        """Press and release one key or a ``+``-joined combination ("Return", "ctrl+shift+t")."""

    @abstractmethod
    def type_text(self, text: str) -> None:
        """Type any Unicode text into the focused widget."""

    @abstractmethod
    def cursor_position(self) -> tuple[int, int]: ...

    def hotkey(self, *keys: str) -> None:
        """``hotkey("ctrl", "a")`` or ``hotkey("ctrl+a")``: hold the modifiers, tap the last key."""
        self.press_key("+".join(k.strip() for k in keys if k.strip()))

    def drag(self, x0: int, y0: int, x1: int, y1: int, button: MouseButton = "left", steps: int = 10) -> None:
        """Press at (x0, y0), move in ``steps`` to (x1, y1), release."""
        self.move_mouse(x0, y0)
        self.mouse_down(button)
        try:
            for i in range(1, max(1, steps) + 1):
                self.move_mouse(x0 + (x1 - x0) * i // max(1, steps), y0 + (y1 - y0) * i // max(1, steps))
        finally:
            self.mouse_up(button)

    # -- windows (required) ---------------------------------------------------------------------------------
    @abstractmethod
    def list_windows(self) -> list[WindowInfo]: ...

    @abstractmethod
    def focus_window(self, title: str) -> WindowInfo:
        """Bring the first window whose title contains ``title`` (case-insensitive) to the front; ToolError if none."""

    @abstractmethod
    def move_resize_window(
        self,
        width: int | None = None,
        height: int | None = None,
        x: int | None = None,
        y: int | None = None,
        window_id: int | None = None,
    ) -> WindowInfo:
        """Resize and/or move a window (default: the active one)."""

    def active_window(self) -> WindowInfo | None:
        return next((w for w in self.list_windows() if w.focused), None)

    def get_foreground_window_name(self) -> str:
        w = self.active_window()
        return w.title if w else ""

    def maximize_window(self, window_id: int | None = None) -> bool:
        raise _unsupported("maximizing windows", self.name)

    def is_window_maximized(self, window_id: int | None = None) -> bool:
        raise _unsupported("reading the maximized state", self.name)

    # -- clipboard (required) -------------------------------------------------------------------------------
    @abstractmethod
    def clipboard_read(self) -> str: ...

    @abstractmethod
    def clipboard_write(self, text: str) -> None: ...

    # -- session state (graceful) ---------------------------------------------------------------------------
    def idle_seconds(self) -> float:
        """Seconds since the last user input."""
        raise _unsupported("reading the idle time", self.name)

    def set_keep_awake(self, on: bool, reason: str = "Contop is working") -> None:
        """Keep the screen on and the machine awake while ``on``; restore the previous behaviour when off."""
        raise _unsupported("keep-awake", self.name)

    def keep_awake_undo(self) -> dict[str, Any] | None:
        """While keep-awake is on: what to put back should this process die holding it (JSON-able).

        None when nothing outlives the process: a thread's execution state, a child ``caffeinate`` or a D-Bus
        inhibitor all end with it. Settings kept by a server (the X screen saver) do not.
        """
        return None

    def undo_keep_awake(self, record: dict[str, Any]) -> str:
        """Put back what a dead process's keep-awake left (a ``keep_awake_undo()`` record); says what it did."""
        return "nothing to restore"

    # -- accessibility (graceful) ---------------------------------------------------------------------------
    def get_focused_element(self) -> UIElement | None:
        raise _unsupported("accessibility", self.name)

    def get_interactive_elements(self, window_title: str | None = None, limit: int = MAX_ELEMENTS) -> list[UIElement]:
        """Buttons, fields, checkboxes, links, menu items... of the active window (or the named one)."""
        raise _unsupported("accessibility", self.name)

    def get_element_tree(
        self, window_title: str | None = None, max_depth: int = 8, limit: int = MAX_ELEMENTS
    ) -> list[UIElement]:
        """A depth-first walk of a window's accessibility tree, flattened (``depth`` tells the nesting)."""
        raise _unsupported("accessibility", self.name)

    def interact_element(
        self,
        name: str,
        action: ElementAction = "invoke",
        value: str | None = None,
        role: str | None = None,
        window_title: str | None = None,
    ) -> InteractResult:
        raise _unsupported("accessibility", self.name)

    def interact_exact(
        self, element: UIElement, action: ElementAction = "invoke", value: str | None = None
    ) -> InteractResult:
        """Act on exactly ``element``, one this adapter returned earlier (the model gave its number), never on
        another element of the same name. Adapters that cannot find an element again by its place fall back to
        its name and role, which is only safe for a named element."""
        if not element.name:
            return InteractResult(
                False,
                "error",
                f"this {element.role or 'element'} has no name, and the {self.name} platform adapter can reach an "
                "element only by its name; click it with execute_gui at its centre instead",
            )
        return self.interact_element(element.name, action, value, element.role)

    # -- meta -----------------------------------------------------------------------------------------------
    def capabilities(self) -> dict[str, bool]:
        """Which optional capabilities work right now (probed, not assumed)."""
        return {}

    def close(self) -> None:  # noqa: B027 - adapters without resources need nothing
        """Release connections and restore anything changed (keep-awake); idempotent."""


def current_os() -> Literal["linux", "windows", "macos", "other"]:
    system = platform.system()
    if system == "Linux" or sys.platform.startswith("linux"):
        return "linux"
    if system == "Windows":
        return "windows"
    if system == "Darwin":
        return "macos"
    return "other"


def get_adapter(display: str | None = None) -> PlatformAdapter:
    """The adapter for the running OS, connected to its desktop; NotAvailableError says what is missing.

    ``display`` (Linux only) is an X display name; by default ``$DISPLAY``. The concrete modules are imported
    here so a missing OS library only matters on the OS that needs it.
    """
    os_name = current_os()
    if os_name == "linux":
        display = display or os.environ.get("DISPLAY")
        if not display:
            if os.environ.get("WAYLAND_DISPLAY"):
                raise NotAvailableError(
                    "this is a Wayland session without an X display: Contop drives X11. Log in to an X11 "
                    "session (or run XWayland and set DISPLAY)."
                )
            raise NotAvailableError(
                "no display: DISPLAY is not set. Run Contop inside your desktop session, or for a headless "
                "machine install xvfb and openbox and start an X session."
            )
        try:
            from contop.platform.linux.adapter import LinuxAdapter
        except ImportError as exc:
            raise NotAvailableError(
                f"the Linux adapter needs python-xlib and jeepney (pip install python-xlib jeepney): {exc}"
            ) from exc
        return LinuxAdapter(display)
    if os_name == "windows":
        from contop.platform.windows.adapter import WindowsAdapter

        return WindowsAdapter()
    if os_name == "macos":
        from contop.platform.macos.adapter import MacOSAdapter

        return MacOSAdapter()
    raise NotAvailableError(f"no platform adapter for {platform.system() or sys.platform}")
