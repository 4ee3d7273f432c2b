"""The Windows adapter driven through fake user32/kernel32 objects: what it asks Win32 for, checked on Linux.

The fakes stand for the DLLs only; ctypes, the structures and the adapter code are the real ones.
"""

from __future__ import annotations

import ctypes
import ctypes.wintypes as wt
import sys
import threading
import types
from typing import Any

import pytest

from contop.core.errors import ToolError
from contop.platform.windows.adapter import HWND_MESSAGE, WindowsAdapter
from contop.platform.windows.keys import KEYEVENTF_KEYUP, KEYEVENTF_UNICODE, KeyStroke
from contop.platform.windows.win32 import prototypes


class FakeDLL:
    """Any attribute is a function object that records its calls and answers from ``answers``."""

    def __init__(self, **answers: Any) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._answers = answers
        self._fns: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._fns:
            answer = self._answers.get(name, 1)

            def fn(*args: Any) -> Any:
                self.calls.append((name, args))
                return answer(*args) if callable(answer) else answer

            self._fns[name] = _Callable(fn)
        return self._fns[name]

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]


class _Callable:
    def __init__(self, fn: Any) -> None:
        self._fn = fn
        self.argtypes: Any = None
        self.restype: Any = None

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)


def bare_adapter(user32: FakeDLL, kernel32: FakeDLL | None = None) -> Any:
    adapter: Any = WindowsAdapter.__new__(WindowsAdapter)
    adapter._wt = wt
    adapter._user32 = user32
    adapter._kernel32 = kernel32 or FakeDLL()
    adapter._dwm = None
    adapter._lock = threading.RLock()
    adapter._awake_stop = None
    return adapter


def test_construction_declares_the_prototypes(monkeypatch: pytest.MonkeyPatch) -> None:
    dlls: dict[str, FakeDLL] = {}

    def win_dll(name: str, use_last_error: bool = False) -> FakeDLL:
        dlls[name] = FakeDLL()
        return dlls[name]

    monkeypatch.setattr(ctypes, "WinDLL", win_dll, raising=False)
    WindowsAdapter()
    user32, kernel32 = prototypes()
    for dll, protos in ((dlls["user32"], user32), (dlls["kernel32"], kernel32)):
        for name, (argtypes, restype) in protos.items():
            fn = getattr(dll, name)
            assert (fn.argtypes, fn.restype) == (argtypes, restype), name


class ClipboardFakes:
    """user32/kernel32 whose global memory is real ctypes buffers, so memmove and string_at work."""

    HANDLE = 0x7FFF_1234_0000  # a 64-bit handle: an int return type would cut it
    OWNER = 0x4242

    def __init__(self, set_ok: bool = True, stored: bytes | None = None) -> None:
        self.buffers: dict[int, Any] = {}
        if stored is not None:
            self.buffers[self.HANDLE] = ctypes.create_string_buffer(stored, len(stored))
        self.user32 = FakeDLL(
            CreateWindowExW=self.OWNER,
            SetClipboardData=(lambda fmt, h: h) if set_ok else 0,
            GetClipboardData=self.HANDLE if stored is not None else None,
        )
        self.kernel32 = FakeDLL(
            GlobalAlloc=self._alloc,
            GlobalLock=lambda h: ctypes.addressof(self.buffers[h]),
            GlobalSize=lambda h: ctypes.sizeof(self.buffers[h]),
            GlobalFree=None,
        )

    def _alloc(self, flags: int, size: int) -> int:
        self.buffers[self.HANDLE] = ctypes.create_string_buffer(size)
        return self.HANDLE


def test_clipboard_write_opens_with_an_owner_window_and_fills_the_memory() -> None:
    fakes = ClipboardFakes()
    bare_adapter(fakes.user32, fakes.kernel32).clipboard_write("héllo 😀")
    create = fakes.user32.called("CreateWindowExW")
    assert len(create) == 1 and create[0][1] == "STATIC" and create[0][8] == HWND_MESSAGE
    assert fakes.user32.called("OpenClipboard") == [(ClipboardFakes.OWNER,)]  # not NULL: SetClipboardData needs it
    assert fakes.user32.called("SetClipboardData") == [(13, ClipboardFakes.HANDLE)]
    assert fakes.buffers[ClipboardFakes.HANDLE].raw == "héllo 😀".encode("utf-16-le") + b"\x00\x00"
    assert not fakes.kernel32.called("GlobalFree")  # the system owns it now
    names = [n for n, _ in fakes.user32.calls]
    assert names.index("CloseClipboard") < names.index("DestroyWindow")
    assert fakes.user32.called("DestroyWindow") == [(ClipboardFakes.OWNER,)]


def test_clipboard_write_frees_the_memory_when_the_clipboard_refuses_it() -> None:
    fakes = ClipboardFakes(set_ok=False)
    with pytest.raises(ToolError, match="SetClipboardData"):
        bare_adapter(fakes.user32, fakes.kernel32).clipboard_write("x")
    assert fakes.kernel32.called("GlobalFree") == [(ClipboardFakes.HANDLE,)]
    assert fakes.user32.called("CloseClipboard") and fakes.user32.called("DestroyWindow")


def test_clipboard_write_checks_for_null_memory() -> None:
    fakes = ClipboardFakes()
    fakes.kernel32 = FakeDLL(GlobalAlloc=None)
    with pytest.raises(ToolError, match="no memory"):
        bare_adapter(fakes.user32, fakes.kernel32).clipboard_write("x")
    assert fakes.user32.called("CloseClipboard")


def test_clipboard_read_decodes_utf16_up_to_the_nul() -> None:
    stored = "naïve 😀".encode("utf-16-le") + b"\x00\x00" + b"junk"
    fakes = ClipboardFakes(stored=stored)
    assert bare_adapter(fakes.user32, fakes.kernel32).clipboard_read() == "naïve 😀"
    assert fakes.kernel32.called("GlobalUnlock") == [(ClipboardFakes.HANDLE,)]
    assert fakes.user32.called("CloseClipboard")
    assert bare_adapter(ClipboardFakes().user32).clipboard_read() == ""  # no text on the clipboard


def key_adapter(vk_scan: dict[str, int]) -> tuple[Any, list[KeyStroke]]:
    sent: list[KeyStroke] = []
    adapter = bare_adapter(FakeDLL(VkKeyScanW=lambda ch: vk_scan.get(ch, -1)))
    adapter._key = lambda stroke: stroke
    adapter._send = sent.extend
    return adapter, sent


def test_press_key_holds_the_modifiers_the_layout_needs() -> None:
    adapter, sent = key_adapter({"!": 0x0131, "@": 0x0651})  # US "!" = Shift+1; German "@" = AltGr(Ctrl+Alt)+Q
    adapter.press_key("!")
    assert [(s.vk, s.flags & KEYEVENTF_KEYUP) for s in sent] == [(0xA0, 0), (0x31, 0), (0x31, 2), (0xA0, 2)]
    sent.clear()
    adapter.press_key("@")
    assert [s.vk for s in sent if not s.flags & KEYEVENTF_KEYUP] == [0xA2, 0xA4, 0x51]


def test_press_key_types_a_character_the_layout_lacks() -> None:
    adapter, sent = key_adapter({})
    adapter.press_key("€")
    assert [(s.scan, s.flags) for s in sent] == [(0x20AC, KEYEVENTF_UNICODE), (0x20AC, KEYEVENTF_UNICODE | 2)]
    with pytest.raises(ToolError, match="'€'"):
        adapter.press_key("ctrl+€")


def test_key_strokes_carry_the_scan_code() -> None:
    adapter = bare_adapter(FakeDLL(MapVirtualKeyW=lambda vk, kind: {0x41: 0x1E}[vk] if kind == 0 else 0))
    adapter._build_structs()
    assert adapter._key(KeyStroke(0x41, 0, 0)).ki.wScan == 0x1E
    assert adapter._key(KeyStroke(0, 0xE9, KEYEVENTF_UNICODE)).ki.wScan == 0xE9


def test_move_resize_compensates_the_invisible_borders() -> None:
    def fill(ref: Any, box: tuple[int, int, int, int]) -> None:
        r = ref._obj  # what ctypes.byref points at
        r.left, r.top, r.right, r.bottom = box

    def get_window_rect(hwnd: int, ref: Any) -> int:
        fill(ref, (93, 100, 907, 707))  # the visible frame plus 7 px borders left, right and bottom
        return 1

    def dwm_get_window_attribute(hwnd: int, attribute: int, ref: Any, size: int) -> int:
        fill(ref, (100, 100, 900, 700))
        return 0  # S_OK

    user32 = FakeDLL(GetWindowRect=get_window_rect, IsZoomed=0, GetForegroundWindow=7)
    adapter = bare_adapter(user32)
    adapter._dwm = FakeDLL(DwmGetWindowAttribute=dwm_get_window_attribute)
    adapter._info = lambda hwnd, fg: hwnd
    adapter.move_resize_window(1024, 768, 0, 0)
    (args,) = user32.called("SetWindowPos")
    assert args[0] == 7 and args[2:6] == (-7, 0, 1038, 775)
    adapter.move_resize_window(width=500)
    assert user32.called("SetWindowPos")[1][2:6] == (93, 100, 514, 607)


def test_mouse_buttons_and_uia_failures_are_tool_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = bare_adapter(FakeDLL(GetForegroundWindow=5))
    with pytest.raises(ToolError, match="unknown mouse button"):
        adapter.mouse_down("side")
    with pytest.raises(ToolError, match="unknown mouse button"):
        adapter.mouse_up("side")

    class ElementNotFoundError(Exception):
        pass

    class Desktop:
        def __init__(self, backend: str) -> None:
            pass

        def window(self, handle: int) -> Any:
            raise ElementNotFoundError(f"no window {handle}")

    monkeypatch.setitem(sys.modules, "pywinauto", types.SimpleNamespace(Desktop=Desktop))
    with pytest.raises(ToolError, match="ElementNotFoundError"):
        adapter.get_element_tree()
    with pytest.raises(ToolError, match="ElementNotFoundError"):
        adapter.interact_element("OK")
