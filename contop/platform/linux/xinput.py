"""Mouse and keyboard input on X11: XTest through python-xlib, and xdotool when XTest is missing.

Unicode typing: a character the current keymap cannot produce is bound to a spare (unused) keycode (keysym = code
point for Latin-1, 0x01000000 + code point otherwise) and that keycode is tapped. Clients re-read the keymap lazily
when they handle the key event, so a binding must not change again until they have: the characters a stretch of
text lacks are bound together before it is typed, with a pause after (see ``_bind_all``); bindings are kept after
a call (a later text with the same characters needs no change); and all bindings are removed ``RESTORE_AFTER_S``
after the last typing, or on ``close()``. A process killed before it could (SIGKILL, a crash) leaves them bound: the
next one puts them back, from a record on the root window (``BindingRecord``).

Every keymap change makes every client re-read the keymap, and the window manager re-grab its key bindings: one
change per character (40 CJK characters made 58) kept openbox busy for seconds, with the pointer frozen under its
click-to-focus grab, so a click after the typing landed seconds late. So a stretch's bindings are one change: the
spare keycodes are scattered over the keymap, and one XKB ``SetMap`` writes the whole keycode range between them,
the keys in between written back exactly as read (``XkbKeys``). The core ``ChangeKeyboardMapping`` cannot do
that safely (the server re-derives the XKB types and actions of every key it rewrites, as xmodmap does), so it
is only the fallback, one request per run of adjacent keycodes, when XKB is missing or a keyboard device has a
keymap of its own that the range write would overwrite.

Caps Lock: typed text must come out as asked whatever the desk's lock state, so when the Lock modifier is on it is
toggled off (by tapping the key that locks it) for the typing and back on afterwards. Picking keysyms and Shift per
lock state instead would depend on how the layout's key types treat Lock (letters only, Shift cancelling it or
not, Shift Lock), which varies. xdotool's --clearmodifiers taps it too (but leaves it off).

Stopping: a long text can type for minutes (each stretch of characters the keymap lacks waits for the previous
bindings to be consumed), and the caller that asked for it may be cancelled meanwhile, or Away Mode may take the
keyboard. The caller puts a ``threading.Event`` in ``typing_stop`` (a context variable: ``asyncio.to_thread`` carries
it into the worker thread); typing checks it before every keystroke and during every pause, sends nothing more once
it is set, and raises ``TypingInterrupted`` saying how much was typed. The keymap is put back as after any typing.

A key after a click: a window manager that focuses on click (openbox, xfwm, ...) holds a synchronous passive grab on
the button, so the press freezes the pointer until it has focused and raised the window and replays the press to it;
the release waits in the server's queue meanwhile. The keyboard is not frozen: a key sent then went to the window
that had the focus before the click, or reached the clicked one before the click did (from one key in ten to one in
two right after a click into another window, in tests on a busy machine). So the first key after a button event
waits (``ClickDelivery``) until the pointer state shows no button down but those a caller holds (``mouse_down``):
while frozen it still shows the queued release's button down. That is one round trip when nothing grabs, with no
side effect; probing with a ``GrabPointer`` would also answer "grabbed" while an open menu holds the pointer (a wait
for nothing) and send the window under the pointer crossing events. A key while a button is held down is not kept
back: the pressed button shows the same whether the press is frozen or delivered.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from Xlib import XK, X, Xatom
from Xlib import error as xerror
from Xlib.ext import xinput, xtest
from Xlib.protocol import rq

from contop.core.childenv import child_env
from contop.core.errors import NotAvailableError, ToolError
from contop.platform.base import MouseButton, ScrollDirection
from contop.platform.keys import parse_combo
from contop.platform.linux.keysyms import char_to_keysym, combo_keysyms, keysym_name

logger = logging.getLogger(__name__)

BUTTONS: dict[str, int] = {"left": 1, "middle": 2, "right": 3}
SCROLL_BUTTONS: dict[str, int] = {"up": 4, "down": 5, "left": 6, "right": 7}
BIND_SETTLE_S = 0.05
REBIND_AFTER_S = 0.5
RESTORE_AFTER_S = 10.0
MAX_SCROLL_CLICKS = 100
BUTTON_SETTLE_S = 0.03
# How long the key of a combo stays with its modifiers held before they are let go (see ``press_key``).
MODIFIER_SETTLE_S = 0.05
# xdotool types this many characters per run, so that a stop kills at most one short run (see ``XdotoolInput``).
XDOTOOL_CHUNK_ASCII = 200
XDOTOOL_CHUNK_OTHER = 5
XDOTOOL_POLL_S = 0.02
# How long a key waits at most for the server to deliver the click before it, and how often it looks (see
# ``ClickDelivery``): openbox answers in a few milliseconds; a button held down on the desk by hand shows as
# undelivered too, so the wait is short.
CLICK_DELIVERY_WAIT_S = 0.15
CLICK_DELIVERY_POLL_S = 0.0005
BUTTON_MASKS: dict[int, int] = {
    1: X.Button1Mask, 2: X.Button2Mask, 3: X.Button3Mask, 4: X.Button4Mask, 5: X.Button5Mask,
}  # fmt: skip
ANY_BUTTON_MASK = X.Button1Mask | X.Button2Mask | X.Button3Mask | X.Button4Mask | X.Button5Mask

typing_stop: ContextVar[threading.Event | None] = ContextVar("contop_typing_stop", default=None)


class TypingInterrupted(ToolError):
    """Typing stopped part way because ``typing_stop`` was set; ``typed`` characters of ``total`` were sent (at
    least that many when ``exact`` is false: a killed xdotool may have typed part of its run)."""

    def __init__(self, typed: int, total: int, *, exact: bool = True) -> None:
        self.typed = typed
        self.total = total
        self.exact = exact
        count = str(typed) if exact else f"at least {typed}"
        super().__init__(f"typing was stopped after {count} of {total} characters")


class _Stopped(Exception):
    """Raised inside the typing code where ``typing_stop`` is seen set; turned into ``TypingInterrupted``."""


def stop_requested() -> bool:
    event = typing_stop.get()
    return event is not None and event.is_set()


def _check_stop() -> None:
    if stop_requested():
        raise _Stopped


def _pause(seconds: float) -> None:
    """Sleep, cut short (raising ``_Stopped``) when typing is to stop."""
    event = typing_stop.get()
    if event is None:
        time.sleep(seconds)
    elif event.wait(seconds):
        raise _Stopped


def _button(button: str) -> int:
    try:
        return BUTTONS[button]
    except KeyError:
        raise ToolError(f"unknown mouse button {button!r}; use left, right or middle") from None


def lock_on(display: Any) -> bool:
    """Whether the Lock modifier (Caps Lock or Shift Lock) is on; the core state includes locked modifiers."""
    return bool(display.screen().root.query_pointer().mask & X.LockMask)


def pointer_mask(display: Any) -> int:
    """The core pointer state: modifiers, locks and the buttons the server has processed as down."""
    return int(display.screen().root.query_pointer().mask)


def undelivered_buttons(mask: int, held: set[int]) -> int:
    """The button bits of the pointer state ``mask`` that show a button down other than the ``held`` ones: after a
    click, a release the server has not processed yet (the pointer is frozen under another client's grab)."""
    ours = 0
    for button in held:
        ours |= BUTTON_MASKS.get(button, 0)
    return mask & ANY_BUTTON_MASK & ~ours


class ClickDelivery:
    """Keeps the first key after a button event back until the server has delivered that event (see the module
    docstring), for ``CLICK_DELIVERY_WAIT_S`` at most."""

    def __init__(self, read_mask: Callable[[], int]) -> None:
        self._read_mask = read_mask
        self._held: set[int] = set()
        self._pending = False

    def sent(self, button: int, down: bool | None = None) -> None:
        """Buttons were sent: ``down`` True or False for a press or a release alone, None for whole clicks."""
        if down is True:
            self._held.add(button)
        elif down is False:
            self._held.discard(button)
        self._pending = True

    def wait(self) -> float:
        """Before a key: wait until no button shows down but the held ones; returns the seconds waited."""
        if not self._pending:
            return 0.0
        self._pending = False
        start = time.monotonic()
        while undelivered_buttons(self._read_mask(), self._held):
            waited = time.monotonic() - start
            if waited >= CLICK_DELIVERY_WAIT_S:
                logger.debug("a button still shows down %.0f ms after the click: sending the key anyway", waited * 1e3)
                return waited
            time.sleep(CLICK_DELIVERY_POLL_S)
        return time.monotonic() - start


def no_spare_keycode(what: str, after: str = "") -> ToolError:
    return ToolError(f"no spare keycode left to type {what} (the keymap is full: every keycode has a key bound){after}")


def text_keysyms(text: str) -> list[int]:
    """The keysym of each character of ``text``; ToolError on the first one that cannot be typed, so a bad character
    stops the text before any of it is typed.

    A lone surrogate (half of a UTF-16 pair, as a JSON ``"\\ud800"`` decodes) is no character: as a keysym it would
    come out as a box glyph.
    """
    for i, ch in enumerate(text):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ToolError(
                f"cannot type U+{ord(ch):04X} (character {i + 1} of the text): a lone surrogate is not a character; "
                "nothing was typed"
            )
    return [char_to_keysym(ch) for ch in text]


def _scroll_button(direction: str) -> int:
    try:
        return SCROLL_BUTTONS[direction]
    except KeyError:
        raise ToolError(f"unknown scroll direction {direction!r}; use up, down, left or right") from None


# -- XKB keymap writes --------------------------------------------------------------------------------------
XKB_USE_CORE_KBD = 0x100
XKB_KEY_SYMS_MASK = 1 << 1
_GET_MAP = struct.Struct("=HHHBBBBBBBBHBBBBBBxx")  # XkbGetMap after its 4-byte header
_GET_MAP_REPLY = struct.Struct("=2xBBH3xBHB19x")  # the 32 bytes after the generic reply header
_SET_MAP = struct.Struct("=HHHBBBBBBHBBHBBBBBBBBBBBBH")  # XkbSetMap after its 4-byte header
_SYM_MAP = struct.Struct("=4sBBH")  # one key: key type per group, group info, width, keysym count


@dataclass(frozen=True)
class KeySymMap:
    """One key's XKB symbols as the server holds them: key type index per group, groups, width, keysyms."""

    types: bytes
    group_info: int
    width: int
    syms: tuple[int, ...]

    @classmethod
    def single(cls, keysym: int) -> KeySymMap:
        """A key that types ``keysym`` whatever the modifiers (one group of type ONE_LEVEL, index 0)."""
        return cls(bytes(4), 1, 1, (keysym,))

    def holds_only(self, keysym: int) -> bool:
        return bool(self.syms) and all(s == keysym for s in self.syms)


EMPTY_KEY = KeySymMap(bytes(4), 0, 0, ())


def parse_sym_maps(data: bytes, count: int) -> list[KeySymMap]:
    maps: list[KeySymMap] = []
    offset = 0
    for _ in range(count):
        types, group_info, width, n = _SYM_MAP.unpack_from(data, offset)
        syms = struct.unpack_from(f"={n}I", data, offset + _SYM_MAP.size)
        maps.append(KeySymMap(types, group_info, width, tuple(syms)))
        offset += _SYM_MAP.size + 4 * n
    return maps


def pack_sym_maps(maps: Sequence[KeySymMap]) -> bytes:
    return b"".join(
        _SYM_MAP.pack(m.types, m.group_info, m.width, len(m.syms)) + struct.pack(f"={len(m.syms)}I", *m.syms)
        for m in maps
    )


def keycode_runs(keycodes: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted keycodes -> (first, count) runs of adjacent ones: one core request per run."""
    runs: list[tuple[int, int]] = []
    for kc in keycodes:
        if runs and runs[-1][0] + runs[-1][1] == kc:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((kc, 1))
    return runs


class _XkbUseExtension(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"), rq.Opcode(0), rq.RequestLength(), rq.Card16("wanted_major"), rq.Card16("wanted_minor")
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Bool("supported"),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Card16("server_major"),
        rq.Card16("server_minor"),
        rq.Pad(20),
    )


class _XkbGetMap(rq.ReplyRequest):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(8), rq.RequestLength(), rq.Binary("body"))
    _reply = rq.Struct(
        rq.ReplyCode(), rq.Card8("device_id"), rq.Card16("sequence_number"), rq.ReplyLength(), rq.Binary("body")
    )


class _XkbSetMap(rq.Request):
    _request = rq.Struct(rq.Card8("opcode"), rq.Opcode(9), rq.RequestLength(), rq.Binary("body"))


class XkbKeys:
    """Several keycodes' symbols written in one XKB ``SetMap`` request, so clients see one keymap change.

    ``SetMap`` writes a contiguous keycode range, so the keys between the ones to change are written back as read,
    under a server grab (nothing changes them in between). It writes the core keyboard and every keyboard device
    attached to it; when one of those holds a different keymap over the range, writing would overwrite its keys,
    so ``replace`` declines and the caller falls back to core requests for the changed keycodes only.
    """

    def __init__(self, display: Any, opcode: int) -> None:
        self._d = display
        self._opcode = opcode
        self._xi_announced = False

    @classmethod
    def open(cls, display: Any) -> XkbKeys | None:
        """XKB on ``display`` (this connection becomes XKB-aware), or None when the server lacks it."""
        ext = display.query_extension("XKEYBOARD")
        if ext is None:
            return None
        try:
            reply = _XkbUseExtension(display=display.display, opcode=ext.major_opcode, wanted_major=1, wanted_minor=0)
        except xerror.XError:
            return None
        return cls(display, ext.major_opcode) if reply.supported else None

    def read(self, first: int, count: int, device: int = XKB_USE_CORE_KBD) -> tuple[list[KeySymMap], int, int]:
        """The symbols of ``count`` keys from ``first``, and the device's min and max keycodes."""
        body = _GET_MAP.pack(device, 0, XKB_KEY_SYMS_MASK, 0, 0, first, count, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        reply = _XkbGetMap(display=self._d.display, opcode=self._opcode, body=body)
        min_kc, max_kc, _present, first_sym, _total, n = _GET_MAP_REPLY.unpack_from(reply.body)
        if (first_sym, n) != (first, count):
            raise ToolError("the X server answered a keymap read for other keys than asked")
        return parse_sym_maps(reply.body[_GET_MAP_REPLY.size :], count), min_kc, max_kc

    def _other_keyboards(self) -> list[int]:
        """Keyboard devices a core-keyboard ``SetMap`` also writes (XInput 2 slaves attached to a master)."""
        if not self._d.has_extension("XInputExtension"):
            return []  # no XInput 2: the core keyboard is the only one
        if not self._xi_announced:
            self._d.xinput_query_version()  # required before XInput 2 requests
            self._xi_announced = True
        devices = self._d.xinput_query_device(xinput.AllDevices).devices
        return [dev.deviceid for dev in devices if dev.use == xinput.SlaveKeyboard]

    def _plan(
        self, new: dict[int, KeySymMap], only_holding: dict[int, int] | None, first: int, count: int
    ) -> tuple[dict[int, KeySymMap], bytes] | None:
        """What the keys to write hold now, and the ``SetMap`` body writing them; None when a keyboard differs."""
        current, min_kc, max_kc = self.read(first, count)
        for device in self._other_keyboards():
            if self.read(first, count, device)[0] != current:
                logger.debug("keyboard device %d has a keymap of its own: binding keys one range at a time", device)
                return None
        keys = list(current)
        previous: dict[int, KeySymMap] = {}
        for kc, sym_map in new.items():
            held = current[kc - first]
            if only_holding is not None and not held.holds_only(only_holding[kc]):
                continue  # someone else re-bound it since: leave theirs
            keys[kc - first] = sym_map
            previous[kc] = held
        total = sum(len(k.syms) for k in keys)
        header = _SET_MAP.pack(
            XKB_USE_CORE_KBD, XKB_KEY_SYMS_MASK, 0, min_kc, max_kc, 0, 0, first, count, total, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        )  # fmt: skip
        return previous, header + pack_sym_maps(keys)

    def replace(
        self, new: dict[int, KeySymMap], only_holding: dict[int, int] | None = None
    ) -> dict[int, KeySymMap] | None:
        """Write ``new`` (keycode -> symbols) in one request; with ``only_holding``, a keycode is written only while
        it still holds just that keysym. Returns what the written keycodes held before, or None when this cannot be
        done in one request without touching a keyboard's own keys (nothing written then)."""
        if not new:
            return {}
        first = min(new)
        count = max(new) - first + 1
        catcher = xerror.CatchError()
        self._d.grab_server()
        try:
            planned = self._plan(new, only_holding, first, count)
            if planned is None:
                return None
            previous, body = planned
            if previous:
                _XkbSetMap(display=self._d.display, onerror=catcher, opcode=self._opcode, body=body)
        except xerror.XError as exc:  # a keyboard with a narrower keycode range, say
            logger.info("cannot read the keymap through XKB (%s): binding keys one range at a time", exc)
            return None
        finally:
            self._d.ungrab_server()
            self._d.sync()
        if catcher.get_error() is not None:
            logger.info(
                "the X server refused an XKB keymap write (%s): binding keys one range at a time", catcher.get_error()
            )
            return None
        return previous


# -- the record of bound keys ------------------------------------------------------------------------------
BINDINGS_PROPERTY = "_CONTOP_TYPING_KEYS"


def parse_binding_records(values: Sequence[int]) -> dict[int, dict[int, int]]:
    """The root window record (owner window, count, then keycode and keysym pairs, per owner) -> owner -> bindings;
    a truncated tail is dropped."""
    records: dict[int, dict[int, int]] = {}
    i = 0
    while i + 2 <= len(values):
        owner, n = int(values[i]), int(values[i + 1])
        pairs = [int(v) for v in values[i + 2 : i + 2 + 2 * n]]
        if len(pairs) < 2 * n:
            break
        records[owner] = dict(zip(pairs[::2], pairs[1::2], strict=True))
        i += 2 + 2 * n
    return records


def pack_binding_records(records: Mapping[int, Mapping[int, int]]) -> list[int]:
    values: list[int] = []
    for owner, keys in records.items():
        if keys:
            values += [owner, len(keys)]
            for kc, ks in sorted(keys.items()):
                values += [kc, ks]
    return values


class BindingRecord:
    """The keys each connection to the display has bound for typing, on a root window property, so the next one can
    put back those of a process killed before it could.

    Each entry's owner is a small unmapped window of the connection that bound the keys: the X server destroys it
    when that connection closes, however the process ended and whatever its PID namespace or host, so an entry whose
    window still exists belongs to a live client and is left alone. The property is read and written under a server
    grab, so two processes recording at once do not lose each other's entries.
    """

    def __init__(self, display: Any) -> None:
        self._d = display
        self._root = display.screen().root
        self._atom = display.intern_atom(BINDINGS_PROPERTY)
        self._owner: Any = None  # our window, created with our first entry

    @contextmanager
    def _grabbed(self) -> Iterator[dict[int, dict[int, int]]]:
        self._d.grab_server()
        try:
            prop = self._root.get_full_property(self._atom, Xatom.CARDINAL)
            records = parse_binding_records(prop.value) if prop is not None and prop.format == 32 else {}
            before = pack_binding_records(records)
            yield records
            values = pack_binding_records(records)
            if values != before:
                if values:
                    self._root.change_property(self._atom, Xatom.CARDINAL, 32, values)
                else:
                    self._root.delete_property(self._atom)
        finally:
            self._d.ungrab_server()
            self._d.sync()

    def save(self, bound: Mapping[int, int]) -> None:
        """Record ``bound`` (keycode -> keysym) as this connection's keys; empty: remove its entry."""
        if self._owner is None:
            if not bound:
                return
            self._owner = self._root.create_window(-1, -1, 1, 1, 0, 0, window_class=X.InputOnly)
        with self._grabbed() as records:
            records[self._owner.id] = dict(bound)

    def take_orphans(self) -> dict[int, int]:
        """Remove the entries of connections that are gone and return the keys they had bound."""
        orphans: dict[int, int] = {}
        with self._grabbed() as records:
            for owner in [o for o in records if not self._alive(o)]:
                orphans.update(records.pop(owner))
        return orphans

    def _alive(self, window: int) -> bool:
        if self._owner is not None and window == self._owner.id:
            return True
        try:
            self._d.create_resource_object("window", window).get_geometry()
        except xerror.XError:  # BadDrawable: its connection closed
            return False
        return True  # (or another client reuses the id: the keys stay bound, which is harmless)


class XTestInput:
    """Input through the XTest extension on an open python-xlib display. Callers serialise calls (one lock)."""

    def __init__(self, display: Any, lock: threading.RLock) -> None:
        if not display.has_extension("XTEST"):
            raise NotAvailableError("the X server has no XTEST extension")
        self._d = display
        self._lock = lock
        info = display.display.info
        self._min_kc: int = info.min_keycode
        self._max_kc: int = info.max_keycode
        self._bound: dict[int, int] = {}  # spare keycode -> keysym we bound to it
        self._original: dict[int, KeySymMap] = {}  # spare keycode -> its XKB symbols before we bound it
        self._xkb = XkbKeys.open(display)
        self._last_used: dict[int, float] = {}
        self._restore_timer: threading.Timer | None = None
        self._closed = False
        self._last_button = 0.0
        self._clicks = ClickDelivery(lambda: pointer_mask(display))
        self._record = BindingRecord(display)
        self._put_back_orphans()

    # -- mouse ----------------------------------------------------------------------------------------------
    def _motion(self, x: int, y: int) -> None:
        # A window manager with a synchronous passive button grab (click to focus: openbox, xfwm, ...) freezes
        # the pointer on a press and replays the press to the client a moment later, with the pointer position
        # of *that* moment. Moving on too soon would make the previous click land where the next one goes.
        wait = self._last_button + BUTTON_SETTLE_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        xtest.fake_input(self._d, X.MotionNotify, x=int(x), y=int(y))

    def _buttons(self, b: int, count: int) -> None:
        for _ in range(count):
            xtest.fake_input(self._d, X.ButtonPress, b)
            xtest.fake_input(self._d, X.ButtonRelease, b)
        self._d.sync()
        self._last_button = time.monotonic()
        self._clicks.sent(b)

    def move(self, x: int, y: int) -> None:
        self._motion(x, y)
        self._d.sync()

    def click(self, x: int | None, y: int | None, button: MouseButton, count: int) -> None:
        b = _button(button)
        if x is not None and y is not None:
            self._motion(x, y)
        self._buttons(b, max(1, count))

    def button(self, button: MouseButton, down: bool) -> None:
        b = _button(button)
        xtest.fake_input(self._d, X.ButtonPress if down else X.ButtonRelease, b)
        self._d.sync()
        self._last_button = time.monotonic()
        self._clicks.sent(b, down)

    def scroll(self, direction: ScrollDirection, clicks: int, x: int | None, y: int | None) -> None:
        b = _scroll_button(direction)
        if x is not None and y is not None:
            self._motion(x, y)
        self._buttons(b, min(max(1, clicks), MAX_SCROLL_CLICKS))

    def position(self) -> tuple[int, int]:
        p = self._d.screen().root.query_pointer()
        return int(p.root_x), int(p.root_y)

    # -- keyboard -------------------------------------------------------------------------------------------
    def _keymap(self) -> list[Sequence[int]]:
        return list(self._d.get_keyboard_mapping(self._min_kc, self._max_kc - self._min_kc + 1))

    def _existing(self, keymap: list[Sequence[int]], keysym: int) -> tuple[int, bool] | None:
        """A keycode producing ``keysym`` in the current map, and whether Shift is needed (levels 1-2 only)."""
        for i, row in enumerate(keymap):
            kc = self._min_kc + i
            if len(row) > 0 and row[0] == keysym:
                return kc, False
        for i, row in enumerate(keymap):
            if len(row) > 1 and row[1] == keysym:
                return self._min_kc + i, True
        return None

    def _spares(self, keymap: list[Sequence[int]]) -> list[int]:
        # Keycode min_keycode is skipped: XKB treats it specially on several servers.
        return [self._min_kc + i for i, row in enumerate(keymap) if i > 0 and not any(row)]

    def _candidates(self, keymap: list[Sequence[int]], keep: set[int]) -> list[int]:
        candidates = [kc for kc in self._spares(keymap) if kc not in keep]
        return candidates + [kc for kc in self._bound if kc not in keep and kc not in candidates]

    def _bind_all(self, keymap: list[Sequence[int]], keysyms: list[int], keep: set[int]) -> list[int]:
        """Bind each keysym to a spare keycode not in ``keep`` (least recently used first), then let clients settle.

        Clients read keymap changes lazily and were seen to miss a change that reaches them while they are still
        re-reading an earlier one, then type a stale character or none (Tk through Xlib's XKB cache; Qt when a
        key arrives between two changes). So bindings are made in one change (``_write_bindings``) *before* any
        key that needs them, followed by one pause (``BIND_SETTLE_S``). A client may also handle a change long
        after it was made (Qt re-reads the whole keymap when it gets to the notification), so a keycode is
        re-bound only once its last key has had time to be consumed (``REBIND_AFTER_S`` since its last use): texts
        needing more distinct unmapped characters than there are spare keycodes type in stretches with that pause
        between them.
        """
        candidates = sorted(self._candidates(keymap, keep), key=lambda k: self._last_used.get(k, 0.0))
        if len(candidates) < len(keysyms):
            raise no_spare_keycode("this character")
        chosen = candidates[: len(keysyms)]
        self._d.sync()
        wait = max(self._last_used.get(kc, 0.0) for kc in chosen) + REBIND_AFTER_S - time.monotonic()
        if wait > 0:
            _pause(wait)
        binds = dict(zip(chosen, keysyms, strict=True))
        self._save_record({**self._bound, **binds})  # before: a process killed right after writing them is covered
        self._write_bindings(binds)
        for kc, ks in binds.items():
            self._bound[kc] = ks
            keymap[kc - self._min_kc] = (ks, ks)
        self._d.sync()
        _pause(BIND_SETTLE_S)
        return chosen

    def _write_bindings(self, binds: dict[int, int]) -> None:
        """Bind keycode -> keysym: one XKB request for all, else one core request per run of adjacent keycodes."""
        if self._xkb is not None:
            previous = self._xkb.replace({kc: KeySymMap.single(ks) for kc, ks in binds.items()})
            if previous is not None:
                for kc, held in previous.items():
                    if kc not in self._bound:  # what the key held before we first took it, to put back
                        self._original[kc] = held
                return
        for first, count in keycode_runs(sorted(binds)):
            self._d.change_keyboard_mapping(first, [(binds[kc], binds[kc]) for kc in range(first, first + count)])

    def _resolve(self, keymap: list[Sequence[int]], keysym: int, keep: set[int]) -> tuple[int, bool]:
        hit = self._existing(keymap, keysym)
        if hit is not None:
            return hit
        return self._bind_all(keymap, [keysym], keep)[0], False

    def _tap(self, keycode: int, shift_kc: int | None) -> None:
        if shift_kc is not None:
            xtest.fake_input(self._d, X.KeyPress, shift_kc)
        xtest.fake_input(self._d, X.KeyPress, keycode)
        xtest.fake_input(self._d, X.KeyRelease, keycode)
        if shift_kc is not None:
            xtest.fake_input(self._d, X.KeyRelease, shift_kc)
        self._last_used[keycode] = time.monotonic()

    def _shift_keycode(self, keymap: list[Sequence[int]], keep: set[int]) -> int:
        return self._resolve(keymap, XK.XK_Shift_L, keep)[0]

    def _lock_keycode(self, keymap: list[Sequence[int]]) -> int | None:
        """The key that toggles the Lock modifier in the current keymap (Caps Lock, else Shift Lock)."""
        for ks in (XK.XK_Caps_Lock, XK.XK_Shift_Lock):
            hit = self._existing(keymap, ks)
            if hit is not None and not hit[1]:
                return hit[0]
        return None

    def _toggle(self, keycode: int) -> None:
        xtest.fake_input(self._d, X.KeyPress, keycode)
        xtest.fake_input(self._d, X.KeyRelease, keycode)
        self._d.sync()

    @contextmanager
    def _lock_released(self, keymap: list[Sequence[int]]) -> Iterator[None]:
        """Caps Lock off while typing and on again afterwards (if it was on and nobody turned it on meanwhile)."""
        if not lock_on(self._d):
            yield
            return
        kc = self._lock_keycode(keymap)
        if kc is None:
            logger.warning("Caps Lock is on but no key in the keymap locks it: letters may come out in the wrong case")
            yield
            return
        self._toggle(kc)
        try:
            yield
        finally:
            if not lock_on(self._d):  # a round trip: the server has handled every key typed before this
                self._toggle(kc)

    def press_key(self, key: str) -> None:
        combo = parse_combo(key)
        mod_syms, key_sym = combo_keysyms(combo)
        self._cancel_restore()
        try:
            self._clicks.wait()
            _check_stop()
            keymap = self._keymap()
            keep: set[int] = set()
            mod_kcs: list[int] = []
            for ks in mod_syms:
                kc, _ = self._resolve(keymap, ks, keep)
                keep.add(kc)
                mod_kcs.append(kc)
            kc, needs_shift = self._resolve(keymap, key_sym, keep)
            if needs_shift and "shift" not in combo.modifiers:
                mod_kcs.append(self._shift_keycode(keymap, keep | {kc}))
            for m in mod_kcs:
                xtest.fake_input(self._d, X.KeyPress, m)
            xtest.fake_input(self._d, X.KeyPress, kc)
            xtest.fake_input(self._d, X.KeyRelease, kc)
            self._last_used[kc] = time.monotonic()
            if mod_kcs:
                # A window manager that grabs the keyboard on a combo (openbox's Alt+Tab switcher) does so only once
                # it has read the key; a modifier released in the same burst reaches the server before that grab,
                # so the switcher never sees it and stays open holding the keyboard.
                self._d.sync()
                time.sleep(MODIFIER_SETTLE_S)
            for m in reversed(mod_kcs):
                xtest.fake_input(self._d, X.KeyRelease, m)
            self._d.sync()
        except _Stopped:  # only ever before anything is pressed: while binding the key's keysym waits
            raise TypingInterrupted(0, 1) from None
        finally:
            self._schedule_restore()

    def type_text(self, text: str) -> None:
        if not text:
            return
        syms = text_keysyms(text)
        self._cancel_restore()
        try:
            self._clicks.wait()  # before the Caps Lock tap too
            keymap = self._keymap()
            usable = len(self._candidates(keymap, set()))
            if usable == 0:  # refuse now rather than after typing the text up to the first missing character
                lacking = next(
                    (ch for ch, ks in zip(text, syms, strict=True) if self._existing(keymap, ks) is None), None
                )
                if lacking is not None:
                    raise no_spare_keycode(repr(lacking), "; nothing was typed")
            with self._lock_released(keymap):
                self._type_syms(keymap, syms, usable)
        finally:
            self._schedule_restore()

    def _stretch(
        self, keymap: list[Sequence[int]], syms: list[int], pos: int, usable: int
    ) -> tuple[int, list[int], set[int]]:
        """The longest run of text from ``pos`` typed with one binding change: its end, the keysyms it lacks, and
        the keycodes we bound earlier that it types through (they must stay bound until it is typed).

        Both come out of the same ``usable`` keycodes (spare and ours, see ``_candidates``): a keycode kept for a
        character already bound cannot be re-bound to a missing one.
        """
        missing: list[int] = []
        keep: set[int] = set()
        end = pos
        while end < len(syms):
            ks = syms[end]
            if ks not in missing:
                hit = self._existing(keymap, ks)
                takes_a_keycode = hit is None or (hit[0] in self._bound and hit[0] not in keep)
                if takes_a_keycode and len(missing) + len(keep) == usable:
                    break
                if hit is None:
                    missing.append(ks)
                elif takes_a_keycode:
                    keep.add(hit[0])
            end += 1
        return end, missing, keep

    def _type_syms(self, keymap: list[Sequence[int]], syms: list[int], usable: int) -> None:
        shift_kc: int | None = None
        pos = typed = 0
        try:
            while pos < len(syms):
                _check_stop()
                end, missing, keep = self._stretch(keymap, syms, pos, usable)
                if end == pos:  # only with no usable keycode, which type_text refuses; never loop on it
                    raise no_spare_keycode("the rest of the text")
                chosen = self._bind_all(keymap, missing, keep) if missing else []
                for ks in syms[pos:end]:
                    _check_stop()
                    hit = self._existing(keymap, ks)
                    assert hit is not None
                    kc, shift = hit
                    if shift and shift_kc is None:
                        shift_kc = self._shift_keycode(keymap, keep | set(chosen))
                    self._tap(kc, shift_kc if shift else None)
                    typed += 1
                self._d.sync()
                pos = end
        except _Stopped:
            # The keys already tapped sit in the connection's buffer: they reach the server now, before the caller
            # goes on (Away Mode puts its lock screen up once typing has stopped), never after.
            self._d.sync()
            raise TypingInterrupted(typed, len(syms)) from None

    # -- restoring the keymap -------------------------------------------------------------------------------
    def _cancel_restore(self) -> None:
        if self._restore_timer is not None:
            self._restore_timer.cancel()
            self._restore_timer = None

    def _schedule_restore(self) -> None:
        if not self._bound or self._closed:
            return
        timer = threading.Timer(RESTORE_AFTER_S, self._restore_from_timer)
        timer.daemon = True
        self._restore_timer = timer
        timer.start()

    def _restore_from_timer(self) -> None:
        with self._lock:
            if self._restore_timer is not None and threading.current_thread() is self._restore_timer:
                self._restore_timer = None
                self.restore_keymap()

    def _put_back(self, bound: Mapping[int, int], original: Mapping[int, KeySymMap]) -> None:
        """Give each keycode of ``bound`` its ``original`` symbols (default none) if it still holds just the keysym
        bound to it, in one keymap change if possible."""
        restored = None
        if self._xkb is not None:
            new = {kc: original.get(kc, EMPTY_KEY) for kc in bound}
            restored = self._xkb.replace(new, only_holding=dict(bound))
        if restored is None:
            keymap = self._keymap()
            rows = {kc: keymap[kc - self._min_kc] for kc in bound}
            ours = [kc for kc, ks in sorted(bound.items()) if len(rows[kc]) > 0 and rows[kc][0] == ks]
            for first, count in keycode_runs(ours):
                self._d.change_keyboard_mapping(first, [(X.NoSymbol, X.NoSymbol)] * count)
        self._d.sync()

    def restore_keymap(self) -> None:
        """Unbind every keycode we bound (only those still holding our keysym), in one keymap change if possible."""
        if not self._bound:
            return
        try:
            self._put_back(self._bound, self._original)
        except Exception:  # the display may be gone on shutdown; nothing left to restore then
            logger.debug("restoring the keymap failed", exc_info=True)
        self._bound.clear()
        self._original.clear()
        self._save_record({})

    def _save_record(self, bound: Mapping[int, int]) -> None:
        try:
            self._record.save(bound)
        except Exception:  # only a later start's clean-up depends on it: never fail the typing for it
            logger.debug("recording the bound keys failed", exc_info=True)

    def _put_back_orphans(self) -> None:
        """Unbind the keys a Contop process that ended without closing (SIGKILL, a crash) left bound on this display:
        they would leave this one fewer spare keycodes, down to none."""
        try:
            orphans = {kc: ks for kc, ks in self._record.take_orphans().items() if self._min_kc < kc <= self._max_kc}
            if orphans:
                self._put_back(orphans, {})
                logger.info("put back %d key(s) an earlier Contop process left bound for typing", len(orphans))
        except Exception:  # a clean-up: the input works without it
            logger.warning("cannot put back the keys an earlier Contop process left bound", exc_info=True)

    def close(self) -> None:
        self._cancel_restore()
        self.restore_keymap()
        self._closed = True


class XdotoolInput:
    """The same operations through the xdotool program, for X servers without XTest exposed to python-xlib."""

    def __init__(
        self,
        display: str,
        env: dict[str, str] | None = None,
        lock_on: Callable[[], bool] | None = None,
        pointer_mask: Callable[[], int] | None = None,
    ) -> None:
        exe = shutil.which("xdotool")
        if exe is None:
            raise NotAvailableError("no XTEST extension and no xdotool: install xdotool")
        self._exe = exe
        self._env = dict(env or {})
        self._env["DISPLAY"] = display
        self._lock_on = lock_on  # reads the Lock modifier; xdotool's --clearmodifiers clears it but never restores it
        # xdotool's clicks freeze the pointer under a click-to-focus grab as XTest's do; the server has processed them
        # by the time the program has ended (closing its display waits for the server's answer).
        self._clicks = ClickDelivery(pointer_mask) if pointer_mask is not None else None

    def _clicked(self, button: int, down: bool | None = None) -> None:
        # Noted before the run: a failed run may still have sent the button, and a wait for nothing costs one query.
        if self._clicks is not None:
            self._clicks.sent(button, down)

    def _before_keys(self) -> None:
        if self._clicks is not None:
            self._clicks.wait()

    def _run(self, *args: str, stoppable: bool = False) -> str:
        """Run xdotool; with ``stoppable``, kill it (raising ``_Stopped``) as soon as typing is to stop."""
        env = {**child_env(os.environ), **self._env}
        proc = subprocess.Popen(
            [self._exe, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=XDOTOOL_POLL_S if stoppable else 30)
                    break
                except subprocess.TimeoutExpired:
                    if stoppable and stop_requested():
                        raise _Stopped from None
                    if time.monotonic() >= deadline:
                        raise ToolError(f"xdotool {args[0]} timed out") from None
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.communicate()
        if proc.returncode != 0:
            raise ToolError(f"xdotool {args[0]} failed: {err.strip()}")
        return out

    def move(self, x: int, y: int) -> None:
        self._run("mousemove", "--sync", str(int(x)), str(int(y)))

    def click(self, x: int | None, y: int | None, button: MouseButton, count: int) -> None:
        b = str(_button(button))
        self._clicked(int(b))
        if x is not None and y is not None:
            self._run("mousemove", str(int(x)), str(int(y)), "click", "--repeat", str(max(1, count)), b)
        else:
            self._run("click", "--repeat", str(max(1, count)), b)

    def button(self, button: MouseButton, down: bool) -> None:
        b = _button(button)
        self._clicked(b, down)
        self._run("mousedown" if down else "mouseup", str(b))

    def scroll(self, direction: ScrollDirection, clicks: int, x: int | None, y: int | None) -> None:
        b = str(_scroll_button(direction))
        n = str(min(max(1, clicks), MAX_SCROLL_CLICKS))
        self._clicked(int(b))
        if x is not None and y is not None:
            self._run("mousemove", str(int(x)), str(int(y)), "click", "--repeat", n, "--delay", "0", b)
        else:
            self._run("click", "--repeat", n, "--delay", "0", b)

    def position(self) -> tuple[int, int]:
        out = self._run("getmouselocation", "--shell")
        vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return int(vals["X"]), int(vals["Y"])

    def press_key(self, key: str) -> None:
        arg = xdotool_key_arg(key)
        self._before_keys()
        self._run("key", "--clearmodifiers", "--delay", "0", arg)

    def type_text(self, text: str) -> None:
        if not text:
            return
        text_keysyms(text)  # same validation as XTest
        if stop_requested():
            raise TypingInterrupted(0, len(text))
        self._before_keys()
        # xdotool binds characters missing from the keymap to a scratch keycode and reverts right after; with
        # no delay clients sometimes read the reverted map (see XTestInput), so only ASCII goes at full speed,
        # and runs of other text are as far apart as their characters.
        ascii_only = text.isascii()
        delay = "0" if ascii_only else "100"
        chunk = XDOTOOL_CHUNK_ASCII if ascii_only else XDOTOOL_CHUNK_OTHER
        locked = self._lock_on is not None and self._lock_on()
        if locked:  # Caps Lock off while typing, as XTestInput does
            self._run("key", "--delay", "0", "Caps_Lock")
        try:
            for start in range(0, len(text), chunk):
                try:
                    _pause(0.1 if start and not ascii_only else 0)
                except _Stopped:
                    raise TypingInterrupted(start, len(text)) from None
                try:
                    self._run("type", "--delay", delay, "--", text[start : start + chunk], stoppable=True)
                except _Stopped:
                    raise TypingInterrupted(start, len(text), exact=False) from None
        finally:
            if locked and self._lock_on is not None and not self._lock_on():
                self._run("key", "--delay", "0", "Caps_Lock")

    def close(self) -> None:
        pass


def xdotool_key_arg(key: str) -> str:
    """``"ctrl+esc"`` -> ``"Control_L+Escape"``: xdotool wants X keysym names."""
    combo = parse_combo(key)
    combo_keysyms(combo)  # raise ToolError on unknown names, like the XTest path
    return "+".join([keysym_name(m) for m in combo.modifiers] + [keysym_name(combo.key)])
