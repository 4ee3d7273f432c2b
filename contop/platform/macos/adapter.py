"""The macOS platform adapter: Quartz events, CGWindowList, System Events for moves, pbcopy, caffeinate, AX.

Verified where: the pure parts (key codes, Cocoa/Quartz frame flip, text splitting, AppleScript building, ioreg
parsing, window list conversion) are unit-tested on Linux CI (tests/platform/test_macos_pure.py, and the adapter
through fake pyobjc modules in test_macos_fakes.py). The pyobjc calls below have NOT
been run in this repository's CI, which has no Mac: treat them as unverified until a macOS run says otherwise.
Needs pyobjc (Quartz, AppKit, ApplicationServices) and the Accessibility and Screen Recording permissions.

Coordinates: mss measures monitors with CGDisplayBounds, so Contop's native coordinates are Quartz global points
(origin top-left of the primary screen) on any display, Retina or not; CGEvent locations, CGWindowList bounds and
AXPosition use the same unit and need no scaling.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import subprocess
import threading
from typing import Any

from contop.core.childenv import child_env
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
    match_title,
)
from contop.platform.geometry import Rect
from contop.platform.keys import parse_combo
from contop.platform.macos.keys import (
    cocoa_frame_to_quartz,
    combo_keycodes,
    layout_table,
    move_resize_script,
    parse_hid_idle,
    pick_ax_window,
    raise_window_script,
    text_events,
    utf16_units,
    wait_for_focus,
    windows_from_cg,
)

AX_INTERACTIVE = frozenset(
    {
        "AXButton",
        "AXTextField",
        "AXCheckBox",
        "AXRadioButton",
        "AXLink",
        "AXMenuItem",
        "AXPopUpButton",
        "AXComboBox",
        "AXSecureTextField",
        "AXTextArea",
    }
)
_UTF8_ENV = {"LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8"}  # pbcopy/pbpaste pick their encoding from the locale


logger = logging.getLogger(__name__)

UC_KEY_ACTION_DISPLAY = 3  # kUCKeyActionDisplay: the key's character, no dead-key state
UC_NO_DEAD_KEYS_MASK = 1  # 1 << kUCKeyTranslateNoDeadKeysBit
UC_SHIFT_STATE = 2  # (shiftKey 0x0200 >> 8): UCKeyTranslate's modifier state for Shift


@functools.cache
def _carbon() -> tuple[Any, Any]:
    """Carbon (TIS, UCKeyTranslate) and CoreFoundation through ctypes, with their prototypes declared."""
    from ctypes import POINTER, c_int32, c_uint8, c_uint16, c_uint32, c_ulong, c_void_p

    carbon = ctypes.CDLL("/System/Library/Frameworks/Carbon.framework/Carbon")
    cf = ctypes.CDLL("/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation")
    carbon.TISCopyCurrentKeyboardLayoutInputSource.argtypes = []
    carbon.TISCopyCurrentKeyboardLayoutInputSource.restype = c_void_p
    carbon.TISGetInputSourceProperty.argtypes = [c_void_p, c_void_p]
    carbon.TISGetInputSourceProperty.restype = c_void_p
    carbon.LMGetKbdType.argtypes = []
    carbon.LMGetKbdType.restype = c_uint8
    carbon.UCKeyTranslate.argtypes = [
        c_void_p,  # const UCKeyboardLayout *
        c_uint16,  # virtualKeyCode
        c_uint16,  # keyAction
        c_uint32,  # modifierKeyState
        c_uint32,  # keyboardType
        c_uint32,  # OptionBits keyTranslateOptions
        POINTER(c_uint32),  # deadKeyState
        c_ulong,  # UniCharCount maxStringLength
        POINTER(c_ulong),  # actualStringLength
        POINTER(c_uint16),  # UniChar unicodeString[]
    ]
    carbon.UCKeyTranslate.restype = c_int32
    cf.CFDataGetBytePtr.argtypes = [c_void_p]
    cf.CFDataGetBytePtr.restype = c_void_p
    cf.CFRelease.argtypes = [c_void_p]
    cf.CFRelease.restype = None
    return carbon, cf


def current_layout_table() -> dict[str, tuple[int, int]] | None:
    """The active keyboard layout's character -> (key code, Shift flag) table; None when it cannot be read
    (the US positions are used then). Read at each key press: the user may switch layouts at any time."""
    try:
        carbon, cf = _carbon()
        prop = ctypes.c_void_p.in_dll(carbon, "kTISPropertyUnicodeKeyLayoutData")
    except (OSError, ValueError, AttributeError):
        logger.debug("Carbon keyboard layout API unavailable", exc_info=True)
        return None
    source = carbon.TISCopyCurrentKeyboardLayoutInputSource()
    if not source:
        return None
    try:
        data = carbon.TISGetInputSourceProperty(source, prop)  # owned by the source: not released
        layout = cf.CFDataGetBytePtr(data) if data else None
        if not layout:
            return None
        keyboard_type = carbon.LMGetKbdType()

        def translate(code: int, shifted: bool) -> str:
            dead, length, chars = ctypes.c_uint32(0), ctypes.c_ulong(0), (ctypes.c_uint16 * 4)()
            status = carbon.UCKeyTranslate(
                layout,
                code,
                UC_KEY_ACTION_DISPLAY,
                UC_SHIFT_STATE if shifted else 0,
                keyboard_type,
                UC_NO_DEAD_KEYS_MASK,
                ctypes.byref(dead),
                len(chars),
                ctypes.byref(length),
                chars,
            )
            if status != 0:
                return ""
            return ctypes.string_at(chars, min(length.value, len(chars)) * 2).decode("utf-16-le", "replace")

        return layout_table(translate)
    finally:
        cf.CFRelease(source)


class MacOSAdapter(PlatformAdapter):
    name = "macos"

    def __init__(self) -> None:
        try:
            import AppKit
            import Quartz
        except ImportError as exc:
            raise NotAvailableError(
                "the macOS adapter needs pyobjc (pip install pyobjc-framework-Quartz "
                "pyobjc-framework-ApplicationServices)"
            ) from exc
        self._q: Any = Quartz
        self._appkit: Any = AppKit
        self._lock = threading.RLock()
        self._caffeinate: subprocess.Popen[bytes] | None = None
        self._buttons_down: set[str] = set()

    # -- input --------------------------------------------------------------------------------------------
    def _post(self, event: Any) -> None:
        self._q.CGEventPost(self._q.kCGHIDEventTap, event)

    def _point(self, x: int, y: int) -> Any:
        # Native coordinates are Quartz global points already (mss measures monitors with CGDisplayBounds).
        return self._q.CGPointMake(float(x), float(y))

    def _mouse_types(self, button: MouseButton) -> tuple[int, int, int, int]:
        q = self._q
        if button == "left":
            return q.kCGEventLeftMouseDown, q.kCGEventLeftMouseUp, q.kCGEventLeftMouseDragged, q.kCGMouseButtonLeft
        if button == "right":
            return q.kCGEventRightMouseDown, q.kCGEventRightMouseUp, q.kCGEventRightMouseDragged, q.kCGMouseButtonRight
        if button == "middle":
            return q.kCGEventOtherMouseDown, q.kCGEventOtherMouseUp, q.kCGEventOtherMouseDragged, q.kCGMouseButtonCenter
        raise ToolError(f"unknown mouse button {button!r}; use left, right or middle")

    def move_mouse(self, x: int, y: int) -> None:
        q = self._q
        with self._lock:
            kind = q.kCGEventMouseMoved
            button = q.kCGMouseButtonLeft
            if self._buttons_down:  # a drag: macOS wants "dragged" events while a button is held
                held = next(iter(self._buttons_down))
                _, _, kind, button = self._mouse_types(held)  # type: ignore[arg-type]
            self._post(q.CGEventCreateMouseEvent(None, kind, self._point(x, y), button))

    def _current_point(self) -> Any:
        return self._q.CGEventGetLocation(self._q.CGEventCreate(None))

    def click(self, x: int | None, y: int | None, button: MouseButton = "left", count: int = 1) -> None:
        q = self._q
        down, up, _, b = self._mouse_types(button)
        with self._lock:
            where = self._point(x, y) if x is not None and y is not None else self._current_point()
            if x is not None and y is not None:
                self._post(q.CGEventCreateMouseEvent(None, q.kCGEventMouseMoved, where, b))
            for i in range(1, max(1, count) + 1):
                for kind in (down, up):
                    ev = q.CGEventCreateMouseEvent(None, kind, where, b)
                    q.CGEventSetIntegerValueField(ev, q.kCGMouseEventClickState, i)  # double click = state 2
                    self._post(ev)

    def mouse_down(self, button: MouseButton = "left") -> None:
        down, _, _, b = self._mouse_types(button)
        with self._lock:
            self._post(self._q.CGEventCreateMouseEvent(None, down, self._current_point(), b))
            self._buttons_down.add(button)

    def mouse_up(self, button: MouseButton = "left") -> None:
        _, up, _, b = self._mouse_types(button)
        with self._lock:
            self._post(self._q.CGEventCreateMouseEvent(None, up, self._current_point(), b))
            self._buttons_down.discard(button)

    def scroll(self, direction: ScrollDirection, clicks: int = 5, x: int | None = None, y: int | None = None) -> None:
        q = self._q
        if direction not in ("up", "down", "left", "right"):
            raise ToolError(f"unknown scroll direction {direction!r}")
        with self._lock:
            if x is not None and y is not None:
                self.move_mouse(x, y)
            n = max(1, clicks)
            vertical = n if direction == "up" else -n if direction == "down" else 0
            horizontal = n if direction == "left" else -n if direction == "right" else 0
            self._post(q.CGEventCreateScrollWheelEvent(None, q.kCGScrollEventUnitLine, 2, vertical, horizontal))

    def press_key(self, key: str) -> None:
        code, flags = combo_keycodes(parse_combo(key), current_layout_table())
        q = self._q
        with self._lock:
            for down in (True, False):
                ev = q.CGEventCreateKeyboardEvent(None, code, down)
                q.CGEventSetFlags(ev, flags)
                self._post(ev)

    def type_text(self, text: str) -> None:
        q = self._q
        with self._lock:
            # Line breaks and tabs press the real Return and Tab keys; the text between goes as Unicode strings
            # of whole characters, at most 20 UTF-16 units per event (the documented safe size).
            for item in text_events(text):
                for down in (True, False):
                    if isinstance(item, int):
                        ev = q.CGEventCreateKeyboardEvent(None, item, down)
                        q.CGEventSetFlags(ev, 0)
                    else:
                        ev = q.CGEventCreateKeyboardEvent(None, 0, down)
                        q.CGEventKeyboardSetUnicodeString(ev, utf16_units(item), item)
                    self._post(ev)

    def cursor_position(self) -> tuple[int, int]:
        p = self._current_point()
        return round(p.x), round(p.y)

    # -- windows ------------------------------------------------------------------------------------------
    def list_windows(self) -> list[WindowInfo]:
        q = self._q
        options = q.kCGWindowListOptionOnScreenOnly | q.kCGWindowListExcludeDesktopElements
        entries = [dict(e) for e in (q.CGWindowListCopyWindowInfo(options, q.kCGNullWindowID) or [])]
        front = self._appkit.NSWorkspace.sharedWorkspace().frontmostApplication()
        front_pid = int(front.processIdentifier()) if front is not None else None
        return windows_from_cg(entries, front_pid)

    def _osascript(self, script: str) -> str:
        try:
            proc = subprocess.run(
                ["osascript", "-e", script],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
                env=child_env(os.environ),
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError("osascript timed out") from exc
        if proc.returncode != 0:
            raise ToolError(f"System Events refused: {proc.stderr.strip()} (is Accessibility permission granted?)")
        return proc.stdout

    def focus_window(self, title: str) -> WindowInfo:
        windows = self.list_windows()
        wid = match_title([(w.id, w.title) for w in windows], title)
        if wid is None:
            raise ToolError(f"no window title contains {title!r} (titles need the Screen Recording permission)")
        target = next(w for w in windows if w.id == wid)
        if target.pid is None:
            raise ToolError(f"the window {target.title!r} has no owning process to activate")
        app = self._appkit.NSRunningApplication.runningApplicationWithProcessIdentifier_(target.pid)
        if app is not None:
            if hasattr(app, "activate"):  # macOS 14+
                app.activate()
            else:
                app.activateWithOptions_(self._appkit.NSApplicationActivateIgnoringOtherApps)
        self._osascript(raise_window_script(target.pid, target.title))
        focused = wait_for_focus(self.list_windows, target.id)
        if focused is None:
            raise ToolError(f"macOS did not bring {target.title!r} to the front (minimised, or on another Space?)")
        return focused

    def move_resize_window(
        self,
        width: int | None = None,
        height: int | None = None,
        x: int | None = None,
        y: int | None = None,
        window_id: int | None = None,
    ) -> WindowInfo:
        if all(v is None for v in (x, y, width, height)):
            raise ToolError("give at least one of width, height, x, y")
        for v, what in ((width, "width"), (height, "height")):
            if v is not None and v <= 0:
                raise ToolError(f"{what} must be positive")
        if window_id is None:
            target = self.active_window()
            if target is None:
                raise ToolError("no active window to resize")
        else:
            target = next((w for w in self.list_windows() if w.id == window_id), None)
            if target is None:
                raise ToolError(f"no window with id {window_id}")
        if target.pid is None:
            raise ToolError(f"the window {target.title!r} has no owning process")
        bounds = (target.x, target.y, target.width, target.height)
        self._osascript(move_resize_script(x, y, width, height, target.pid, target.title, bounds))
        fresh = next((w for w in self.list_windows() if w.id == target.id), None)
        if fresh is None:
            raise ToolError("the window disappeared")
        return fresh

    def _visible_frame(self) -> tuple[int, int, int, int]:
        """The usable area (without menu bar and Dock) of the screen with the key window, in Quartz points."""
        screens = self._appkit.NSScreen.screens()
        screen = self._appkit.NSScreen.mainScreen() or screens[0]
        f = screen.visibleFrame()
        primary_height = float(screens[0].frame().size.height)
        return cocoa_frame_to_quartz(f.origin.x, f.origin.y, f.size.width, f.size.height, primary_height)

    def maximize_window(self, window_id: int | None = None) -> bool:
        x, y, w, h = self._visible_frame()
        self.move_resize_window(w, h, x, y, window_id)
        return self.is_window_maximized(window_id)

    def is_window_maximized(self, window_id: int | None = None) -> bool:
        w = (
            self.active_window()
            if window_id is None
            else next((w for w in self.list_windows() if w.id == window_id), None)
        )
        if w is None:
            return False
        _, _, fw, fh = self._visible_frame()
        # 20 points of tolerance: the menu bar and window shadows differ between macOS versions.
        return abs(w.width - fw) <= 20 and abs(w.height - fh) <= 20

    # -- clipboard ----------------------------------------------------------------------------------------
    def clipboard_read(self) -> str:
        try:
            proc = subprocess.run(
                ["pbpaste"], capture_output=True, timeout=5, env={**child_env(os.environ), **_UTF8_ENV}, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError("reading the clipboard timed out (pbpaste did not answer)") from exc
        except OSError as exc:
            raise ToolError(f"could not run pbpaste: {exc}") from exc
        if proc.returncode != 0:
            return ""  # no text on the clipboard
        return proc.stdout.decode("utf-8", "replace")

    def clipboard_write(self, text: str) -> None:
        try:
            subprocess.run(
                ["pbcopy"],
                input=text.encode("utf-8", "replace"),  # a lone surrogate cannot be UTF-8
                capture_output=True,
                timeout=5,
                env={**child_env(os.environ), **_UTF8_ENV},
                check=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError("pbcopy did not take the clipboard text in time") from exc
        except subprocess.CalledProcessError as exc:
            raise ToolError(f"pbcopy failed to set the clipboard (exit {exc.returncode})") from exc
        except OSError as exc:
            raise ToolError(f"could not run pbcopy: {exc}") from exc

    # -- session ------------------------------------------------------------------------------------------
    def idle_seconds(self) -> float:
        q = self._q
        try:
            return float(
                q.CGEventSourceSecondsSinceLastEventType(
                    q.kCGEventSourceStateCombinedSessionState, q.kCGAnyInputEventType
                )
            )
        except AttributeError:
            out = subprocess.run(["ioreg", "-c", "IOHIDSystem"], capture_output=True, text=True, timeout=5).stdout
            return parse_hid_idle(out)

    def set_keep_awake(self, on: bool, reason: str = "Contop is working") -> None:
        with self._lock:
            if on and self._caffeinate is None:
                # -d display, -i idle sleep, -s system sleep on AC, -u user active; -w ends it if we die.
                self._caffeinate = subprocess.Popen(["caffeinate", "-d", "-i", "-s", "-u", "-w", str(os.getpid())])
            elif not on and self._caffeinate is not None:
                self._caffeinate.terminate()
                self._caffeinate.wait(5)
                self._caffeinate = None

    # -- accessibility (AXUIElement) ------------------------------------------------------------------------
    def _ax(self) -> Any:
        try:
            import ApplicationServices
        except ImportError as exc:
            raise NotAvailableError(
                "accessibility on macOS needs pyobjc-framework-ApplicationServices; screen OCR will be used instead"
            ) from exc
        if not ApplicationServices.AXIsProcessTrusted():
            raise NotAvailableError(
                "Contop lacks the Accessibility permission (System Settings > Privacy & Security > Accessibility); "
                "screen OCR will be used instead"
            )
        return ApplicationServices

    def _attr(self, ax: Any, el: Any, name: str) -> Any:
        err, value = ax.AXUIElementCopyAttributeValue(el, name, None)
        return value if err == 0 else None

    def _describe(self, ax: Any, el: Any, depth: int) -> UIElement:
        role = str(self._attr(ax, el, "AXRole") or "")
        name = str(self._attr(ax, el, "AXTitle") or self._attr(ax, el, "AXDescription") or "")
        box = None
        pos, size = self._attr(ax, el, "AXPosition"), self._attr(ax, el, "AXSize")
        if pos is not None and size is not None:
            _, p = ax.AXValueGetValue(pos, ax.kAXValueCGPointType, None)
            _, sz = ax.AXValueGetValue(size, ax.kAXValueCGSizeType, None)
            box = Rect(round(p.x), round(p.y), round(sz.width), round(sz.height))  # points are native
        err, actions = ax.AXUIElementCopyActionNames(el, None)
        states = tuple(n for n, a in (("enabled", "AXEnabled"), ("focused", "AXFocused")) if self._attr(ax, el, a))
        value = self._attr(ax, el, "AXValue")
        return UIElement(
            role,
            name,
            box,
            states,
            tuple(actions or ()) if err == 0 else (),
            None if value is None else str(value),
            depth=depth,
        )

    def _root(self, ax: Any, window_title: str | None) -> Any:
        target = self.active_window() if not window_title else None
        if window_title:
            windows = self.list_windows()
            wid = match_title([(w.id, w.title) for w in windows], window_title)
            target = next((w for w in windows if w.id == wid), None)
        if target is None or target.pid is None:
            raise ToolError("no such window")
        app = ax.AXUIElementCreateApplication(target.pid)
        if window_title:  # the window whose title matched, not whichever window of its app has focus
            ax_windows = list(self._attr(ax, app, "AXWindows") or [])
            match = pick_ax_window([(w, str(self._attr(ax, w, "AXTitle") or "")) for w in ax_windows], target.title)
            if match is not None:
                return match
        return self._attr(ax, app, "AXFocusedWindow") or app

    def _walk(self, ax: Any, root: Any, max_depth: int, limit: int) -> list[tuple[Any, int]]:
        out: list[tuple[Any, int]] = []
        stack = [(root, 0)]
        while stack and len(out) < limit:
            el, depth = stack.pop()
            out.append((el, depth))
            if depth < max_depth:
                stack.extend((c, depth + 1) for c in reversed(list(self._attr(ax, el, "AXChildren") or [])))
        return out

    def get_element_tree(
        self, window_title: str | None = None, max_depth: int = 8, limit: int = MAX_ELEMENTS
    ) -> list[UIElement]:
        ax = self._ax()
        return [self._describe(ax, el, d) for el, d in self._walk(ax, self._root(ax, window_title), max_depth, limit)]

    def get_interactive_elements(self, window_title: str | None = None, limit: int = MAX_ELEMENTS) -> list[UIElement]:
        ax = self._ax()
        out = []
        for el, d in self._walk(ax, self._root(ax, window_title), 30, limit * 20):
            if str(self._attr(ax, el, "AXRole") or "") in AX_INTERACTIVE:
                out.append(self._describe(ax, el, d))
                if len(out) >= limit:
                    break
        return out

    def get_focused_element(self) -> UIElement | None:
        ax = self._ax()
        system = ax.AXUIElementCreateSystemWide()
        el = self._attr(ax, system, "AXFocusedUIElement")
        return None if el is None else self._describe(ax, el, 0)

    def interact_element(
        self,
        name: str,
        action: ElementAction = "invoke",
        value: str | None = None,
        role: str | None = None,
        window_title: str | None = None,
    ) -> InteractResult:
        ax = self._ax()
        wanted = name.casefold()
        for el, d in self._walk(ax, self._root(ax, window_title), 30, 4000):
            desc = self._describe(ax, el, d)
            if desc.name.casefold() != wanted or (role and desc.role != role):
                continue
            if action == "set_text":
                err = ax.AXUIElementSetAttributeValue(el, "AXValue", value or "")
            elif action == "focus":
                err = ax.AXUIElementSetAttributeValue(el, "AXFocused", True)
            else:
                err = ax.AXUIElementPerformAction(
                    el, "AXPress" if "AXPress" in desc.actions else (desc.actions or ("AXPress",))[0]
                )
            return InteractResult(True, "success" if err == 0 else "error", f"AX error {err}" if err else "", desc)
        return InteractResult(False, "error", f"no element named {name!r}")

    def close(self) -> None:
        self.set_keep_awake(False)
