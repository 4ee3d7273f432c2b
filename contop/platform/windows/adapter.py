"""The Windows platform adapter: SendInput, user32 windows, the Win32 clipboard, idle time, keep-awake, UIA.

Verified where: the pure parts (key tables, stroke building, absolute-coordinate normalisation, wheel amounts,
title matching) are unit-tested on Linux CI (tests/platform/test_windows_pure.py). The ctypes calls below follow
the documented Win32 signatures but have NOT been run in this repository's CI, which has no Windows machine;
treat them as unverified until a Windows run says otherwise. Accessibility needs the optional ``pywinauto``.

The process is made per-monitor DPI aware so that window rectangles, SendInput and mss screenshots all use
physical pixels.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from contop.core.errors import ContopError, NotAvailableError, ToolError
from contop.platform.base import (
    MAX_ELEMENTS,
    ElementAction,
    InteractResult,
    MouseButton,
    PlatformAdapter,
    ScrollDirection,
    UIElement,
    WindowInfo,
    match_title,
)
from contop.platform.geometry import Rect
from contop.platform.keys import parse_combo
from contop.platform.windows.keys import (
    KEYEVENTF_KEYUP,
    MAPVK_VK_TO_VSC,
    VK,
    KeyStroke,
    combo_strokes,
    layout_combo,
    normalize_absolute,
    text_strokes,
    wheel_amount,
    with_scan_code,
)
from contop.platform.windows.win32 import (
    Box,
    declare_prototypes,
    decode_clipboard_text,
    last_error,
    set_window_pos_box,
)

logger = logging.getLogger(__name__)

INPUT_MOUSE, INPUT_KEYBOARD = 0, 1
MOUSEEVENTF_MOVE = 0x0001
MOUSEEVENTF_ABSOLUTE = 0x8000
MOUSEEVENTF_VIRTUALDESK = 0x4000
MOUSEEVENTF_WHEEL = 0x0800
MOUSEEVENTF_HWHEEL = 0x1000
BUTTON_FLAGS = {"left": (0x0002, 0x0004), "right": (0x0008, 0x0010), "middle": (0x0020, 0x0040)}
SM_XVIRTUALSCREEN, SM_YVIRTUALSCREEN, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN = 76, 77, 78, 79
SW_RESTORE, SW_MAXIMIZE = 9, 3
SWP_NOSIZE, SWP_NOMOVE, SWP_NOZORDER, SWP_NOACTIVATE = 0x1, 0x2, 0x4, 0x10
DWMWA_EXTENDED_FRAME_BOUNDS, DWMWA_CLOAKED = 9, 14
CF_UNICODETEXT = 13
HWND_MESSAGE = -3  # parent of a message-only window
GMEM_MOVEABLE = 0x0002
ES_CONTINUOUS, ES_SYSTEM_REQUIRED, ES_DISPLAY_REQUIRED = 0x80000000, 0x00000001, 0x00000002
INTERACTIVE_CONTROL_TYPES = frozenset(
    {"Button", "Edit", "ComboBox", "CheckBox", "RadioButton", "Hyperlink", "MenuItem", "ListItem", "TabItem"}
)

_F = TypeVar("_F", bound=Callable[..., Any])


def button_flags(button: str) -> tuple[int, int]:
    """(down, up) MOUSEEVENTF flags of a button; ToolError for an unknown one."""
    if button not in BUTTON_FLAGS:
        raise ToolError(f"unknown mouse button {button!r}; use left, right or middle")
    return BUTTON_FLAGS[button]


def uia_errors(fn: _F) -> _F:
    """pywinauto and COM raise their own exceptions (ElementNotFoundError, COMError, ...): the tool layer
    expects Contop's, so translate them at this boundary."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ContopError:
            raise
        except Exception as exc:
            raise ToolError(f"UI Automation failed: {type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


class WindowsAdapter(PlatformAdapter):
    name = "windows"

    def __init__(self) -> None:
        import ctypes.wintypes as wt

        win_dll: Any = getattr(ctypes, "WinDLL", None)
        if win_dll is None:
            raise NotAvailableError("the Windows adapter runs only on Windows")
        self._wt = wt
        self._user32 = win_dll("user32", use_last_error=True)
        self._kernel32 = win_dll("kernel32", use_last_error=True)
        declare_prototypes(self._user32, self._kernel32)
        try:
            self._dwm: Any = win_dll("dwmapi")
        except OSError:
            self._dwm = None
        try:
            self._user32.SetProcessDpiAwarenessContext(ctypes.c_void_p(-4))  # per-monitor v2
        except (AttributeError, OSError):
            logger.debug("SetProcessDpiAwarenessContext unavailable (Windows < 10 1703)")
        self._lock = threading.RLock()
        self._awake_stop: threading.Event | None = None
        self._build_structs()

    # -- SendInput plumbing -----------------------------------------------------------------------------------
    def _build_structs(self) -> None:
        wt = self._wt
        ulong_ptr = ctypes.c_size_t

        class MOUSEINPUT(ctypes.Structure):
            _fields_ = [
                ("dx", wt.LONG),
                ("dy", wt.LONG),
                ("mouseData", wt.DWORD),
                ("dwFlags", wt.DWORD),
                ("time", wt.DWORD),
                ("dwExtraInfo", ulong_ptr),
            ]

        class KEYBDINPUT(ctypes.Structure):
            _fields_ = [
                ("wVk", wt.WORD),
                ("wScan", wt.WORD),
                ("dwFlags", wt.DWORD),
                ("time", wt.DWORD),
                ("dwExtraInfo", ulong_ptr),
            ]

        class HARDWAREINPUT(ctypes.Structure):
            _fields_ = [("uMsg", wt.DWORD), ("wParamL", wt.WORD), ("wParamH", wt.WORD)]

        class _U(ctypes.Union):
            _fields_ = [("mi", MOUSEINPUT), ("ki", KEYBDINPUT), ("hi", HARDWAREINPUT)]

        class INPUT(ctypes.Structure):
            _anonymous_ = ("u",)
            _fields_ = [("type", wt.DWORD), ("u", _U)]

        self._INPUT, self._MOUSEINPUT, self._KEYBDINPUT = INPUT, MOUSEINPUT, KEYBDINPUT

    def _send(self, inputs: list[Any]) -> None:
        if not inputs:
            return
        array = (self._INPUT * len(inputs))(*inputs)
        sent = self._user32.SendInput(len(inputs), array, ctypes.sizeof(self._INPUT))
        if sent != len(inputs):
            raise ToolError(
                f"SendInput injected {sent} of {len(inputs)} events (blocked by UIPI: is the target elevated?)"
            )

    def _mouse(self, flags: int, dx: int = 0, dy: int = 0, data: int = 0) -> Any:
        mi = self._MOUSEINPUT(dx, dy, ctypes.c_uint32(data).value, flags, 0, 0)
        return self._INPUT(type=INPUT_MOUSE, mi=mi)

    def _key(self, stroke: KeyStroke) -> Any:
        stroke = with_scan_code(stroke, lambda vk: int(self._user32.MapVirtualKeyW(vk, MAPVK_VK_TO_VSC)))
        ki = self._KEYBDINPUT(stroke.vk, stroke.scan, stroke.flags, 0, 0)
        return self._INPUT(type=INPUT_KEYBOARD, ki=ki)

    def _virtual_desktop(self) -> tuple[int, int, int, int]:
        m = self._user32.GetSystemMetrics
        return m(SM_XVIRTUALSCREEN), m(SM_YVIRTUALSCREEN), m(SM_CXVIRTUALSCREEN), m(SM_CYVIRTUALSCREEN)

    def _move_input(self, x: int, y: int) -> Any:
        nx, ny = normalize_absolute(int(x), int(y), *self._virtual_desktop())
        return self._mouse(MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK, nx, ny)

    # -- input ------------------------------------------------------------------------------------------------
    def move_mouse(self, x: int, y: int) -> None:
        with self._lock:
            self._send([self._move_input(x, y)])

    def click(self, x: int | None, y: int | None, button: MouseButton = "left", count: int = 1) -> None:
        down, up = button_flags(button)
        with self._lock:
            events = [self._move_input(x, y)] if x is not None and y is not None else []
            for _ in range(max(1, count)):
                events += [self._mouse(down), self._mouse(up)]
            self._send(events)

    def mouse_down(self, button: MouseButton = "left") -> None:
        with self._lock:
            self._send([self._mouse(button_flags(button)[0])])

    def mouse_up(self, button: MouseButton = "left") -> None:
        with self._lock:
            self._send([self._mouse(button_flags(button)[1])])

    def scroll(self, direction: ScrollDirection, clicks: int = 5, x: int | None = None, y: int | None = None) -> None:
        horizontal, amount = wheel_amount(direction, clicks)
        with self._lock:
            events = [self._move_input(x, y)] if x is not None and y is not None else []
            events.append(self._mouse(MOUSEEVENTF_HWHEEL if horizontal else MOUSEEVENTF_WHEEL, data=amount))
            self._send(events)

    def press_key(self, key: str) -> None:
        combo = parse_combo(key)
        char_vk = None
        if len(combo.key) == 1 and combo.key not in VK:
            # Beyond the BMP no single key can give it (VkKeyScanW takes one UTF-16 unit).
            scan = int(self._user32.VkKeyScanW(combo.key)) if ord(combo.key) <= 0xFFFF else -1
            resolved = layout_combo(combo, scan)
            if resolved is None:
                self.type_text(combo.key)
                return
            combo, char_vk = resolved
        with self._lock:
            self._send([self._key(s) for s in combo_strokes(combo, char_vk)])

    def type_text(self, text: str) -> None:
        with self._lock:
            self._send([self._key(s) for s in text_strokes(text)])

    def cursor_position(self) -> tuple[int, int]:
        pt = self._wt.POINT()
        self._user32.GetCursorPos(ctypes.byref(pt))
        return int(pt.x), int(pt.y)

    # -- windows ----------------------------------------------------------------------------------------------
    def _title(self, hwnd: int) -> str:
        n = self._user32.GetWindowTextLengthW(hwnd)
        buf = ctypes.create_unicode_buffer(n + 1)
        self._user32.GetWindowTextW(hwnd, buf, n + 1)
        return buf.value

    def _rect(self, hwnd: int) -> Box:
        """The visible frame: DWM's extended frame bounds, without the invisible resize borders."""
        return self._rects(hwnd)[0]

    def _rects(self, hwnd: int) -> tuple[Box, Box]:
        """(visible frame, GetWindowRect box); the same box twice without DWM."""
        r = self._wt.RECT()
        self._user32.GetWindowRect(hwnd, ctypes.byref(r))
        window = (r.left, r.top, r.right - r.left, r.bottom - r.top)
        if self._dwm is not None:
            f = self._wt.RECT()
            ok = self._dwm.DwmGetWindowAttribute(hwnd, DWMWA_EXTENDED_FRAME_BOUNDS, ctypes.byref(f), ctypes.sizeof(f))
            if ok == 0:
                return (f.left, f.top, f.right - f.left, f.bottom - f.top), window
        return window, window

    def _cloaked(self, hwnd: int) -> bool:
        if self._dwm is None:
            return False
        value = ctypes.c_int(0)
        self._dwm.DwmGetWindowAttribute(hwnd, DWMWA_CLOAKED, ctypes.byref(value), ctypes.sizeof(value))
        return bool(value.value)

    def _info(self, hwnd: int, foreground: int) -> WindowInfo:
        pid = self._wt.DWORD()
        self._user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
        cls = ctypes.create_unicode_buffer(256)
        self._user32.GetClassNameW(hwnd, cls, 256)
        x, y, w, h = self._rect(hwnd)
        return WindowInfo(
            id=int(hwnd),
            title=self._title(hwnd),
            pid=int(pid.value) or None,
            wm_class=cls.value,
            x=x,
            y=y,
            width=w,
            height=h,
            focused=hwnd == foreground,
            process_name=self._process_name(int(pid.value)),
        )

    def _process_name(self, pid: int) -> str:
        handle = self._kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ""
        try:
            buf = ctypes.create_unicode_buffer(1024)
            size = self._wt.DWORD(1024)
            if self._kernel32.QueryFullProcessImageNameW(handle, 0, buf, ctypes.byref(size)):
                return buf.value.rsplit("\\", 1)[-1]
            return ""
        finally:
            self._kernel32.CloseHandle(handle)

    def list_windows(self) -> list[WindowInfo]:
        handles: list[int] = []
        proto = ctypes.WINFUNCTYPE(ctypes.c_bool, self._wt.HWND, self._wt.LPARAM)  # type: ignore[attr-defined]

        def collect(hwnd: int, _lparam: int) -> bool:
            if (
                self._user32.IsWindowVisible(hwnd)
                and self._user32.GetWindowTextLengthW(hwnd)
                and not self._cloaked(hwnd)
            ):
                handles.append(hwnd)
            return True

        with self._lock:
            self._user32.EnumWindows(proto(collect), 0)
            foreground = self._user32.GetForegroundWindow()
            return [self._info(h, foreground) for h in handles]  # EnumWindows goes top to bottom

    def focus_window(self, title: str) -> WindowInfo:
        windows = self.list_windows()
        hwnd = match_title([(w.id, w.title) for w in windows], title)
        if hwnd is None:
            raise ToolError(f"no window title contains {title!r}")
        with self._lock:
            if self._user32.IsIconic(hwnd):
                self._user32.ShowWindow(hwnd, SW_RESTORE)
            # Windows lets a process take the foreground only right after input; a harmless Alt tap counts.
            alt = VK["alt"]
            self._send([self._key(KeyStroke(alt, 0, 0)), self._key(KeyStroke(alt, 0, KEYEVENTF_KEYUP))])
            self._user32.SetForegroundWindow(hwnd)
            deadline = time.monotonic() + 1.0
            while self._user32.GetForegroundWindow() != hwnd and time.monotonic() < deadline:
                time.sleep(0.02)
            foreground = self._user32.GetForegroundWindow()
            if foreground != hwnd:
                raise ToolError("Windows refused to bring the window to the foreground")
            return self._info(hwnd, foreground)

    def move_resize_window(
        self,
        width: int | None = None,
        height: int | None = None,
        x: int | None = None,
        y: int | None = None,
        window_id: int | None = None,
    ) -> WindowInfo:
        with self._lock:
            hwnd = window_id or self._user32.GetForegroundWindow()
            if not hwnd:
                raise ToolError("no active window to resize")
            if self._user32.IsZoomed(hwnd):
                self._user32.ShowWindow(hwnd, SW_RESTORE)
            frame, window = self._rects(hwnd)
            # WindowInfo reports the visible frame; SetWindowPos places the GetWindowRect box, which also holds
            # the invisible resize borders: convert, or the window drifts and shrinks by the borders every call.
            px, py, pw, ph = set_window_pos_box(frame, window, x, y, width, height)
            flags = SWP_NOZORDER | SWP_NOACTIVATE
            if x is None and y is None:
                flags |= SWP_NOMOVE
            if width is None and height is None:
                flags |= SWP_NOSIZE
            if not self._user32.SetWindowPos(hwnd, None, px, py, pw, ph, flags):
                raise ToolError(f"SetWindowPos failed (error {last_error()}; is the window elevated?)")
            return self._info(hwnd, self._user32.GetForegroundWindow())

    def maximize_window(self, window_id: int | None = None) -> bool:
        hwnd = window_id or self._user32.GetForegroundWindow()
        self._user32.ShowWindow(hwnd, SW_MAXIMIZE)
        return bool(self._user32.IsZoomed(hwnd))

    def is_window_maximized(self, window_id: int | None = None) -> bool:
        return bool(self._user32.IsZoomed(window_id or self._user32.GetForegroundWindow()))

    # -- clipboard --------------------------------------------------------------------------------------------
    def _open_clipboard(self, owner: int | None = None) -> None:
        for _ in range(50):  # another process may hold it for a moment
            if self._user32.OpenClipboard(owner):
                return
            time.sleep(0.02)
        raise ToolError("the clipboard is locked by another application")

    def clipboard_read(self) -> str:
        with self._lock:
            self._open_clipboard()
            try:
                handle = self._user32.GetClipboardData(CF_UNICODETEXT)
                if not handle:
                    return ""  # no text on the clipboard
                ptr = self._kernel32.GlobalLock(handle)
                if not ptr:
                    raise ToolError(f"could not read the clipboard text (error {last_error()})")
                try:
                    return decode_clipboard_text(ctypes.string_at(ptr, int(self._kernel32.GlobalSize(handle))))
                finally:
                    self._kernel32.GlobalUnlock(handle)
            finally:
                self._user32.CloseClipboard()

    def clipboard_write(self, text: str) -> None:
        data = text.encode("utf-16-le", "surrogatepass") + b"\x00\x00"
        with self._lock:
            # EmptyClipboard makes the window that opened the clipboard its owner, and with no window (NULL)
            # SetClipboardData fails: open it with a throw-away message-only window of our own.
            owner = self._user32.CreateWindowExW(0, "STATIC", None, 0, 0, 0, 0, 0, HWND_MESSAGE, None, None, None)
            if not owner:
                raise ToolError(f"could not create a clipboard owner window (error {last_error()})")
            try:
                self._open_clipboard(owner)
                try:
                    self._fill_clipboard(data)
                finally:
                    self._user32.CloseClipboard()
            finally:
                self._user32.DestroyWindow(owner)

    def _fill_clipboard(self, data: bytes) -> None:
        if not self._user32.EmptyClipboard():
            raise ToolError(f"EmptyClipboard failed (error {last_error()})")
        handle = self._kernel32.GlobalAlloc(GMEM_MOVEABLE, len(data))
        if not handle:
            raise ToolError(f"no memory for {len(data)} bytes of clipboard text")
        try:
            ptr = self._kernel32.GlobalLock(handle)
            if not ptr:
                raise ToolError(f"GlobalLock failed (error {last_error()})")
            try:
                ctypes.memmove(ptr, data, len(data))
            finally:
                self._kernel32.GlobalUnlock(handle)
            if not self._user32.SetClipboardData(CF_UNICODETEXT, handle):
                raise ToolError(f"SetClipboardData failed (error {last_error()})")
            handle = None  # the system owns it now
        finally:
            if handle:
                self._kernel32.GlobalFree(handle)

    # -- session ----------------------------------------------------------------------------------------------
    def idle_seconds(self) -> float:
        class LASTINPUTINFO(ctypes.Structure):
            _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint)]

        info = LASTINPUTINFO(ctypes.sizeof(LASTINPUTINFO), 0)
        self._user32.GetLastInputInfo(ctypes.byref(info))
        return ((self._kernel32.GetTickCount() - info.dwTime) & 0xFFFFFFFF) / 1000.0

    def set_keep_awake(self, on: bool, reason: str = "Contop is working") -> None:
        # SetThreadExecutionState belongs to the calling thread, and tools run on pool threads: one thread of
        # our own holds the state for as long as keep-awake is on.
        with self._lock:
            if on and self._awake_stop is None:
                stop = threading.Event()
                kernel32 = self._kernel32

                def hold() -> None:
                    kernel32.SetThreadExecutionState(ES_CONTINUOUS | ES_SYSTEM_REQUIRED | ES_DISPLAY_REQUIRED)
                    stop.wait()
                    kernel32.SetThreadExecutionState(ES_CONTINUOUS)

                threading.Thread(target=hold, name="contop-keep-awake", daemon=True).start()
                self._awake_stop = stop
            elif not on and self._awake_stop is not None:
                self._awake_stop.set()
                self._awake_stop = None

    # -- accessibility (UI Automation through pywinauto) ------------------------------------------------------
    @uia_errors
    def _uia_window(self, window_title: str | None) -> Any:
        try:
            from pywinauto import Desktop
        except ImportError as exc:
            raise NotAvailableError(
                "accessibility on Windows needs pywinauto (pip install pywinauto); screen OCR will be used instead"
            ) from exc
        hwnd = self._user32.GetForegroundWindow()
        if window_title:
            hwnd = match_title([(w.id, w.title) for w in self.list_windows()], window_title) or 0
        if not hwnd:
            raise ToolError("no such window")
        return Desktop(backend="uia").window(handle=hwnd).wrapper_object()

    @staticmethod
    def _element(wrapper: Any, depth: int) -> UIElement:
        info = wrapper.element_info
        r = info.rectangle
        box = Rect(r.left, r.top, r.right - r.left, r.bottom - r.top) if r.right > r.left else None
        states = tuple(s for s, on in (("enabled", info.enabled), ("showing", info.visible)) if on)
        return UIElement(
            role=str(info.control_type or ""),
            name=str(info.name or ""),
            box=box,
            states=states,
            value=None,
            app=str(info.process_id or ""),
            depth=depth,
            path=str(info.automation_id or ""),
        )

    @uia_errors
    def get_element_tree(
        self, window_title: str | None = None, max_depth: int = 8, limit: int = MAX_ELEMENTS
    ) -> list[UIElement]:
        root = self._uia_window(window_title)
        out: list[UIElement] = []
        stack = [(root, 0)]
        while stack and len(out) < limit:
            node, depth = stack.pop()
            out.append(self._element(node, depth))
            if depth < max_depth:
                stack.extend((child, depth + 1) for child in reversed(node.children()))
        return out

    @uia_errors
    def get_interactive_elements(self, window_title: str | None = None, limit: int = MAX_ELEMENTS) -> list[UIElement]:
        root = self._uia_window(window_title)
        out = []
        for node in root.descendants():
            el = self._element(node, 0)
            if el.role in INTERACTIVE_CONTROL_TYPES and "showing" in el.states:
                out.append(el)
                if len(out) >= limit:
                    break
        return out

    @uia_errors
    def get_focused_element(self) -> UIElement | None:
        try:
            from pywinauto.uia_defines import IUIA
            from pywinauto.uia_element_info import UIAElementInfo
        except ImportError as exc:
            raise NotAvailableError("accessibility on Windows needs pywinauto (pip install pywinauto)") from exc
        info = UIAElementInfo(IUIA().get_focused_element())
        r = info.rectangle
        return UIElement(str(info.control_type), str(info.name), Rect(r.left, r.top, r.width(), r.height()))

    @uia_errors
    def interact_element(
        self,
        name: str,
        action: ElementAction = "invoke",
        value: str | None = None,
        role: str | None = None,
        window_title: str | None = None,
    ) -> InteractResult:
        root = self._uia_window(window_title)
        wanted = name.casefold()
        target = None
        for node in root.descendants():
            info = node.element_info
            if str(info.name or "").casefold() == wanted and (role is None or info.control_type == role):
                target = node
                break
        if target is None:
            return InteractResult(False, "error", f"no element named {name!r}")
        el = self._element(target, 0)
        try:
            if action in ("invoke", "click"):
                target.invoke()
            elif action == "set_text":
                target.set_edit_text(value or "")
            elif action == "toggle":
                target.toggle()
            elif action == "select":
                target.select()
            elif action == "expand":
                target.expand()
            elif action == "collapse":
                target.collapse()
            elif action == "focus":
                target.set_focus()
        except Exception as exc:  # the pattern is missing: fall back to real input, as a user would
            try:
                if action == "set_text":
                    target.type_keys(value or "", with_spaces=True)
                else:
                    target.click_input()
            except Exception as exc2:
                return InteractResult(True, "error", f"{action} failed: {exc}; fallback failed: {exc2}", el)
        return InteractResult(True, "success", f"did {action}", el)

    def close(self) -> None:
        self.set_keep_awake(False)
