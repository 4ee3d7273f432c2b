"""Win32 helpers that need no Windows: ctypes prototypes, window-frame arithmetic, clipboard text decoding.

Verified here (Linux CI): that the prototypes land on the DLL objects given (tested with fakes), the arithmetic
and the decoding, by unit tests. Not verified here: the Win32 calls themselves.
"""

from __future__ import annotations

import ctypes
from typing import Any

Box = tuple[int, int, int, int]
"""x, y, width, height."""


def prototypes() -> tuple[dict[str, tuple[list[Any], Any]], dict[str, tuple[list[Any], Any]]]:
    """(user32, kernel32) ``name -> (argtypes, restype)`` for every call that passes or returns a handle or a
    pointer. Without them ctypes assumes C ``int`` both ways, which cuts 64-bit pointers (GlobalLock) and handles
    (GlobalAlloc, GetClipboardData) to 32 bits and crashes on the next use."""
    import ctypes.wintypes as wt

    c_int = ctypes.c_int
    user32: dict[str, tuple[list[Any], Any]] = {
        "OpenClipboard": ([wt.HWND], wt.BOOL),
        "CloseClipboard": ([], wt.BOOL),
        "EmptyClipboard": ([], wt.BOOL),
        "GetClipboardData": ([wt.UINT], wt.HANDLE),
        "SetClipboardData": ([wt.UINT, wt.HANDLE], wt.HANDLE),
        "GetForegroundWindow": ([], wt.HWND),
        "VkKeyScanW": ([wt.WCHAR], ctypes.c_short),
        "MapVirtualKeyW": ([wt.UINT, wt.UINT], wt.UINT),
        "CreateWindowExW": (
            [
                wt.DWORD,
                wt.LPCWSTR,
                wt.LPCWSTR,
                wt.DWORD,
                c_int,
                c_int,
                c_int,
                c_int,
                wt.HWND,
                wt.HMENU,
                wt.HINSTANCE,
                wt.LPVOID,
            ],
            wt.HWND,
        ),
        "DestroyWindow": ([wt.HWND], wt.BOOL),
        "GetWindowRect": ([wt.HWND, ctypes.POINTER(wt.RECT)], wt.BOOL),
        "SetWindowPos": ([wt.HWND, wt.HWND, c_int, c_int, c_int, c_int, wt.UINT], wt.BOOL),
    }
    kernel32: dict[str, tuple[list[Any], Any]] = {
        "GlobalAlloc": ([wt.UINT, ctypes.c_size_t], wt.HGLOBAL),
        "GlobalLock": ([wt.HGLOBAL], wt.LPVOID),
        "GlobalUnlock": ([wt.HGLOBAL], wt.BOOL),
        "GlobalFree": ([wt.HGLOBAL], wt.HGLOBAL),
        "GlobalSize": ([wt.HGLOBAL], ctypes.c_size_t),
        "OpenProcess": ([wt.DWORD, wt.BOOL, wt.DWORD], wt.HANDLE),
        "CloseHandle": ([wt.HANDLE], wt.BOOL),
    }
    return user32, kernel32


def declare_prototypes(user32: Any, kernel32: Any) -> None:
    """Set ``argtypes``/``restype`` on the functions of the two DLL objects (WinDLL, or fakes in tests)."""
    user32_protos, kernel32_protos = prototypes()
    for dll, protos in ((user32, user32_protos), (kernel32, kernel32_protos)):
        for name, (argtypes, restype) in protos.items():
            fn = getattr(dll, name)
            fn.argtypes = argtypes
            fn.restype = restype


def set_window_pos_box(
    frame: Box,
    window: Box,
    x: int | None = None,
    y: int | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Box:
    """SetWindowPos's x, y, cx, cy that give a window the visible frame asked for.

    ``frame`` is the visible frame (DWMWA_EXTENDED_FRAME_BOUNDS, what ``WindowInfo`` reports), ``window`` the
    GetWindowRect box, which SetWindowPos works in and which also holds the invisible resize borders (about 7 px
    left, right and bottom on Windows 10/11). Unspecified values keep the current frame's.
    """
    fx, fy, fw, fh = frame
    wx, wy, ww, wh = window
    left, top = fx - wx, fy - wy
    extra_w, extra_h = ww - fw, wh - fh
    tx = fx if x is None else x
    ty = fy if y is None else y
    tw = fw if width is None else width
    th = fh if height is None else height
    return tx - left, ty - top, tw + extra_w, th + extra_h


def last_error() -> int:
    """GetLastError of the last call through a ``use_last_error`` DLL (0 off Windows, for tests with fakes)."""
    get: Any = getattr(ctypes, "get_last_error", None)
    return int(get()) if get is not None else 0


def decode_clipboard_text(raw: bytes) -> str:
    """CF_UNICODETEXT memory (UTF-16-LE, NUL-terminated; the block may be larger than the text) -> str."""
    end = len(raw) - len(raw) % 2
    for i in range(0, end, 2):
        if raw[i] == 0 and raw[i + 1] == 0:
            end = i
            break
    return raw[:end].decode("utf-16-le", "replace")
