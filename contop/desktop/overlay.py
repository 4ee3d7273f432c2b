"""The Away Mode lock overlay for X11, run as its own process: ``python -m contop.desktop.overlay --settings PATH``.

One override-redirect window per monitor, kept on top, with an empty input shape (clicks go to the windows below,
so the phone keeps manual control through XTest) and the keyboard grabbed (only digits, Backspace and Enter do
anything; every other key is swallowed). The windows follow the monitors: a screen that grows or a monitor plugged
in is covered as soon as RandR reports it. The mice at the desk are frozen (XI 2 grabs on the physical pointer
devices; the XTest pointer is left alone). It reports on stdout, one JSON object a line:

    {"event": "covering"}                                      windows up; the keyboard grab comes next
    {"event": "ready", "monitors": N, "local_pointers_blocked": N, "failed_attempts": N}
    {"event": "monitors", "monitors": N}                       the windows followed a change of monitors
    {"event": "wrong_pin", "attempts": N, "locked_for": SECONDS}
    {"event": "unlocked", "by": "pin" | "emergency_pin"}      then exit 0
    {"event": "tampered", "what": WHAT}                        another client unmapped, moved, resized, reparented
                                                               or reshaped a window (put back at once), or holds
                                                               the keyboard (grabbed again each second); WHAT is
                                                               "unmapped", "moved", "resized", "reparented",
                                                               "reshaped" or "grab_lost"
    {"event": "closed", "by": "signal"}                        SIGTERM/SIGINT/SIGHUP, then exit 0
    {"event": "error", "message": "..."}                       then exit 1 (X), 2 (no PIN), 3 (no keyboard grab)

It imports nothing of the server: the hashes come from ``settings.json`` (or a ``{"pin_hash": …}`` file). With
``--attempts-file`` it keeps the wrong-PIN count and the end of a lockout there (see away_attempts), and starts from
what that file says: a restart, or a server down while PINs were typed, gives nobody fresh attempts. With
``--record-file`` an unlock removes the server's record of the lock (a record left without its lock screen means
the desk was never unlocked: the next server locks it again). With
``--replacing`` it takes over from a lock screen still up (its server crashed): it covers the screen and takes the
keyboard focus, then waits for the keyboard grab while the server ends the old overlay on "covering".
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import select
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image
from Xlib import XK, X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import composite, randr, shape, xinput

from contop.desktop.away_attempts import read_attempts, restore, saved_state, write_attempts
from contop.desktop.away_capture import OVERLAY_PROPERTY, OVERLAY_WM_CLASS
from contop.desktop.away_pin import MAX_DIGITS, AttemptLimiter, PinHashes, check_pin, load_hashes
from contop.desktop.away_render import LockRenderer, LockView, view_at

WM_CLASS = OVERLAY_WM_CLASS
GRAB_TIMEOUT = 5.0
TICK = 0.25
REGRAB_EVERY = 1.0
RANDR_EVENTS = randr.RRScreenChangeNotifyMask | randr.RRCrtcChangeNotifyMask | randr.RROutputChangeNotifyMask

Box = tuple[int, int, int, int]

_DIGITS = {XK.XK_0 + i: str(i) for i in range(10)} | {XK.XK_KP_0 + i: str(i) for i in range(10)}
_BACKSPACE = {XK.XK_BackSpace}
_ENTER = {XK.XK_Return, XK.XK_KP_Enter}


def emit(event: str, **fields: Any) -> None:
    """One status line for the controller; a vanished reader must never bring the lock down."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()


def monitors(d: Any) -> list[Box]:
    """(x, y, width, height) of each active monitor; the whole screen when RandR has nothing to say."""
    root = d.screen().root
    if d.has_extension("RANDR"):
        try:
            found = [
                (m.x, m.y, m.width_in_pixels, m.height_in_pixels)
                for m in root.xrandr_get_monitors(True).monitors
                if m.width_in_pixels > 0 and m.height_in_pixels > 0
            ]
            if found:
                return distinct_monitors(found)
        except (xerror.XError, AttributeError):  # AttributeError: RandR older than 1.5 (no monitors)
            pass
    geometry = root.get_geometry()  # asked, not d.screen()'s size: that is from when the connection opened
    return [(0, 0, geometry.width, geometry.height)]


def distinct_monitors(boxes: list[Box]) -> list[Box]:
    """Mirrored monitors once; a monitor made of others (a virtual aggregate) left out, but only when those others
    cover all of it: a part of the glass that no window covers would show the desktop."""
    unique = list(dict.fromkeys(boxes))
    return [a for a in unique if not _covered_by(a, [b for b in unique if b != a and _contains(a, b)])]


def _contains(a: Box, b: Box) -> bool:
    return a[0] <= b[0] and a[1] <= b[1] and a[0] + a[2] >= b[0] + b[2] and a[1] + a[3] >= b[1] + b[3]


def _covered_by(a: Box, parts: list[Box]) -> bool:
    """Whether ``parts`` (boxes inside ``a``) cover every pixel of ``a``: each cell of the grid their edges draw
    must lie in one of them."""
    if not parts:
        return False
    xs = sorted({a[0], a[0] + a[2], *(p[0] for p in parts), *(p[0] + p[2] for p in parts)})
    ys = sorted({a[1], a[1] + a[3], *(p[1] for p in parts), *(p[1] + p[3] for p in parts)})
    return all(
        any(p[0] <= x0 and p[1] <= y0 and p[0] + p[2] >= x1 and p[1] + p[3] >= y1 for p in parts)
        for x0, x1 in itertools.pairwise(xs)
        for y0, y1 in itertools.pairwise(ys)
    )


@dataclass
class Surface:
    """One monitor's window, with its renderer and the server-side pixmap its panel is painted from."""

    window: Any
    box: Box
    renderer: LockRenderer | None = None  # None until painted: the window shows plain black till then
    panel_pixmap: Any = None


class Overlay:
    def __init__(
        self,
        d: Any,
        hashes: PinHashes,
        limiter: AttemptLimiter,
        *,
        block_pointers: bool = True,
        attempts_path: Path | None = None,
    ) -> None:
        self.d = d
        self.hashes = hashes
        self.limiter = limiter
        self.screen = d.screen()
        self.root = self.screen.root
        self.depth = self.screen.root_depth
        self.gc = self.root.create_gc()
        self.surfaces: list[Surface] = []
        self.entered = ""
        self.message = ""
        self.last_view: LockView | None = None
        self.raise_pending = False
        self.layout_pending = False
        self.check_pending = False
        self.last_regrab = 0.0
        self.attempts_path = attempts_path
        self.block_pointers = block_pointers
        self.blocked_pointers: set[int] = set()
        self._rawmode = "BGRX" if d.display.info.image_byte_order == X.LSBFirst else "XRGB"
        self._max_bytes = d.display.info.max_request_length * 4 - 64
        self._randr_events: set[int] = set()
        self._shape_event = d.query_extension("SHAPE").first_event + shape.Event.Notify

    # -- drawing -------------------------------------------------------------------------------------------

    def _put(self, drawable: Any, image: Image.Image, x: int, y: int) -> None:
        width, height = image.size
        data = image.convert("RGB").tobytes("raw", self._rawmode)
        stride = width * 4
        rows = max(1, self._max_bytes // stride)
        for top in range(0, height, rows):
            n = min(rows, height - top)
            drawable.put_image(
                self.gc, x, y + top, width, n, X.ZPixmap, self.depth, 0, data[top * stride : (top + n) * stride]
            )

    def open(self, *, take_focus: bool = False) -> None:
        """Cover every monitor, then take the keyboard (and the mice at the desk).

        ``take_focus``: another lock screen still holds the keyboard (``--replacing``); until it lets go, keys
        typed at the desk go to whichever window has the focus, so ours takes it first.
        """
        self.root.change_attributes(event_mask=X.SubstructureNotifyMask | X.StructureNotifyMask)
        if self.d.has_extension("RANDR"):
            first = self.d.query_extension("RANDR").first_event
            self._randr_events = {first + randr.RRScreenChangeNotify, first + randr.RRNotify}
            self.root.xrandr_select_input(RANDR_EVENTS)
        if self.d.has_extension("Composite"):
            # Offscreen pixmaps for every top-level window while we are up (automatic redirection, so the screen
            # looks the same): what lets screen capture leave us out (see away_capture).
            self.root.composite_redirect_subwindows(composite.RedirectAutomatic)
        self.cover(monitors(self.d))
        if take_focus:
            self.surfaces[0].window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
            self.d.flush()
        emit("covering")
        self.grab_keyboard(GRAB_TIMEOUT)
        if self.block_pointers and self.d.has_extension("XInputExtension"):
            self.d.xinput_query_version()  # announces XI 2 support, required before XI 2 requests
            self.grab_local_pointers()

    def cover(self, boxes: list[Box]) -> None:
        """Put a window over each of ``boxes`` (x, y, width, height): black at once, the lock picture after.

        Windows are reused in order and only the extra ones destroyed, so the first window, which holds the
        grabs, stays: the keyboard is never let go while the layout changes.
        """
        for index, box in enumerate(boxes):
            if index < len(self.surfaces):
                surface = self.surfaces[index]
                if surface.box != box:
                    x, y, w, h = box
                    surface.window.change_attributes(background_pixel=self.screen.black_pixel)
                    surface.window.configure(x=x, y=y, width=w, height=h)
                    surface.window.clear_area()
                    surface.box, surface.renderer = box, None
            else:
                self.surfaces.append(Surface(self._new_window(box), box))
        for surface in self.surfaces[len(boxes) :]:
            surface.window.destroy()
            if surface.panel_pixmap is not None:
                surface.panel_pixmap.free()
        del self.surfaces[len(boxes) :]
        self._publish_for_capture()
        for surface in self.surfaces:
            surface.window.map()
        self.raise_all()
        self.d.flush()  # covered (in black) before the slow part: drawing the pictures
        for surface in self.surfaces:
            if surface.renderer is None:
                self._paint(surface)
        self.redraw(force=True)

    def _new_window(self, box: Box) -> Any:
        x, y, w, h = box
        window = self.root.create_window(
            x,
            y,
            w,
            h,
            0,
            self.depth,
            X.InputOutput,
            X.CopyFromParent,
            override_redirect=True,
            background_pixel=self.screen.black_pixel,
            event_mask=X.ExposureMask | X.KeyPressMask | X.VisibilityChangeMask | X.StructureNotifyMask,
        )
        window.set_wm_name("Contop Away Mode")
        window.set_wm_class(*WM_CLASS)
        # An empty input region: the pointer sees straight through to the windows below.
        window.shape_rectangles(shape.SO.Set, shape.SK.Input, X.Unsorted, 0, 0, [])
        window.shape_select_input(True)  # a shape given by another client would bare the desk around it
        return window

    def _paint(self, surface: Surface) -> None:
        """The lock picture for the surface's size as its background, and a pixmap for its panel."""
        _x, _y, w, h = surface.box
        renderer = LockRenderer(w, h)
        background = self.root.create_pixmap(w, h, self.depth)
        self._put(background, renderer.background(), 0, 0)
        surface.window.change_attributes(background_pixmap=background)
        background.free()  # the window keeps its own reference
        surface.window.clear_area()
        if surface.panel_pixmap is not None:
            surface.panel_pixmap.free()
        _px, _py, pw, ph = renderer.panel_box
        surface.panel_pixmap = self.root.create_pixmap(pw, ph, self.depth)
        surface.renderer = renderer

    def follow_layout(self) -> None:
        """Cover the monitors as they are now, if they changed (a monitor plugged in, a laptop docked)."""
        self.layout_pending = False
        boxes = monitors(self.d)
        if boxes != [s.box for s in self.surfaces]:
            self.cover(boxes)
            emit("monitors", monitors=len(self.surfaces))

    def _publish_for_capture(self) -> None:
        """Our window ids on the root, for screen capture to leave out (see away_capture)."""
        ids = [s.window.id for s in self.surfaces]
        self.root.change_property(self.d.intern_atom(OVERLAY_PROPERTY), Xatom.WINDOW, 32, ids)

    def current_view(self, now: float) -> LockView:
        remaining = self.limiter.remaining(now)
        if remaining > 0:
            seconds = int(remaining + 0.999)
            message = f"Too many wrong PINs. Try again in {seconds // 60}:{seconds % 60:02d}"
            return view_at(datetime.now(), len(self.entered), message, "warning")
        return view_at(datetime.now(), len(self.entered), self.message, "error" if self.message else "info")

    def redraw(self, *, force: bool = False) -> None:
        view = self.current_view(time.monotonic())
        if view == self.last_view and not force:
            return
        self.last_view = view
        for surface in self.surfaces:
            if surface.renderer is not None:
                self._put(surface.panel_pixmap, surface.renderer.panel(view), 0, 0)
                self._show_panel(surface)
        self.d.flush()

    def _show_panel(self, surface: Surface) -> None:
        if surface.renderer is None:
            return
        px, py, pw, ph = surface.renderer.panel_box
        surface.window.copy_area(self.gc, surface.panel_pixmap, 0, 0, pw, ph, px, py)

    # -- staying on top and holding the keyboard ------------------------------------------------------------

    def owns(self, window: Any) -> bool:
        return any(s.window.id == getattr(window, "id", window) for s in self.surfaces)

    def raise_all(self) -> None:
        for surface in self.surfaces:
            surface.window.configure(stack_mode=X.Above)
        self.raise_pending = False

    def grab_keyboard(self, timeout: float) -> None:
        """Take the keyboard; another client may hold it for a moment (a menu), so retry until ``timeout``."""
        deadline = time.monotonic() + timeout
        window = self.surfaces[0].window
        while True:
            status = window.grab_keyboard(False, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
            if status == X.GrabSuccess:
                self.last_regrab = time.monotonic()
                return
            if time.monotonic() > deadline:
                raise GrabFailed(f"the keyboard is held by another client (grab status {status})")
            time.sleep(0.05)

    def grab_local_pointers(self) -> None:
        """Freeze the mice and touchpads at the desk; the XTest pointer (the phone, the agent) keeps working.

        An XI 2 grab on a slave device detaches it from the master pointer while the grab lasts, so its
        movements and clicks reach only our window, which ignores them. Devices plugged in later are
        picked up by ``keep_guard``.
        """
        window = self.surfaces[0].window
        for device in self.d.xinput_query_device(xinput.AllDevices).devices:
            name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
            if device.use != xinput.SlavePointer or "XTEST" in name or device.deviceid in self.blocked_pointers:
                continue
            reply = window.xinput_grab_device(
                device.deviceid, X.CurrentTime, xinput.GrabModeAsync, xinput.GrabModeAsync, False, [0]
            )
            if reply.status == X.GrabSuccess:
                self.blocked_pointers.add(device.deviceid)

    def keep_guard(self) -> None:
        """Once a second: still covering every monitor (in case a change came without a RandR event), each window
        still where it belongs (in case a change came without an event), still on top, still holding the keyboard
        (a grab ends if our window is unmapped)."""
        now = time.monotonic()
        if now - self.last_regrab < REGRAB_EVERY:
            return
        self.follow_layout()
        self.check_surfaces()
        self.raise_all()
        window = self.surfaces[0].window
        status = window.grab_keyboard(False, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
        if status != X.GrabSuccess:
            emit("tampered", what="grab_lost")
        if self.block_pointers and self.d.has_extension("XInputExtension"):
            self.grab_local_pointers()
        self.last_regrab = now

    def check_surfaces(self) -> None:
        """Put back at once any window another client moved, resized, reparented or gave a shape (any of which
        bares part of the desk), raise it, and report it."""
        self.check_pending = False
        for surface in self.surfaces:
            what = self._tampering(surface)
            if what is None:
                continue
            x, y, w, h = surface.box
            if what == "reparented":
                surface.window.reparent(self.root, x, y)
            if what == "reshaped":
                surface.window.shape_mask(shape.SO.Set, shape.SK.Bounding, 0, 0, X.NONE)
            surface.window.configure(x=x, y=y, width=w, height=h, border_width=0, stack_mode=X.Above)
            surface.window.map()
            emit("tampered", what=what)
            self.raise_pending = True
            self.last_regrab = 0.0  # a window taken off the screen for a moment loses the keyboard grab
        self.d.flush()

    def _tampering(self, surface: Surface) -> str | None:
        """What is wrong with the surface's window, asked of the X server (an event may be stale), or None."""
        window = surface.window
        if window.query_tree().parent.id != self.root.id:
            return "reparented"
        g = window.get_geometry()
        if (g.width, g.height) != surface.box[2:] or g.border_width != 0:
            return "resized"
        if (g.x, g.y) != surface.box[:2]:
            return "moved"
        if window.shape_query_extents().bounding_shaped:
            return "reshaped"
        return None

    # -- events --------------------------------------------------------------------------------------------

    def handle(self, event: Any) -> str | None:
        """Handle one X event; returns how the overlay was unlocked, if it was."""
        kind = event.type
        if kind == X.KeyPress:
            return self.on_key(event.detail)
        if kind in self._randr_events or (kind == X.ConfigureNotify and event.window.id == self.root.id):
            self.layout_pending = True  # the screen or its monitors changed
        elif kind == X.Expose and event.count == 0:
            for surface in self.surfaces:
                if surface.window.id == event.window.id:
                    self._show_panel(surface)
        elif kind == X.VisibilityNotify and event.state != X.VisibilityUnobscured:
            self.raise_pending = True
        elif kind == X.UnmapNotify and self.owns(event.window):
            emit("tampered", what="unmapped")
            event.window.map()
            self.raise_pending = True
            self.last_regrab = 0.0
        elif kind == X.ConfigureNotify and self.owns(event.window):
            if self._misplaced(event):
                self.check_pending = True
        elif kind == X.ReparentNotify and self.owns(event.window):
            self.check_pending = True
        elif kind == self._shape_event and self.owns(event.affected_window):
            self.check_pending = True
        elif kind in (X.MapNotify, X.ConfigureNotify, X.CirculateNotify) and not self.owns(event.window):
            self.raise_pending = True
        return None

    def _misplaced(self, event: Any) -> bool:
        """Whether a ConfigureNotify of one of our windows puts it anywhere but on the box it must cover."""
        for surface in self.surfaces:
            if surface.window.id == event.window.id:
                return (event.x, event.y, event.width, event.height) != surface.box or event.border_width != 0
        return False

    def keysym_of(self, keycode: int) -> int | None:
        for index in (0, 1):
            keysym = self.d.keycode_to_keysym(keycode, index)
            if keysym in _DIGITS or keysym in _BACKSPACE or keysym in _ENTER:
                return int(keysym)
        return None

    def on_key(self, keycode: int) -> str | None:
        keysym = self.keysym_of(keycode)
        if keysym is None:
            return None  # swallowed: the keyboard is ours, nothing reaches the desktop
        now = time.monotonic()
        locked = self.limiter.remaining(now) > 0
        if keysym in _DIGITS:
            if not locked and len(self.entered) < MAX_DIGITS:
                self.entered += _DIGITS[keysym]
        elif keysym in _BACKSPACE:
            self.entered = self.entered[:-1]
        elif keysym in _ENTER and self.entered and not locked:
            entered, self.entered = self.entered, ""
            by = check_pin(entered, self.hashes)
            if by is not None:
                return by
            delay = self.limiter.record_failure(time.monotonic())
            self.save_attempts()
            emit("wrong_pin", attempts=self.limiter.failures, locked_for=round(delay))
            left = self.limiter.attempts_before_delay()
            if delay:
                self.message = "Wrong PIN. Each further wrong PIN doubles the wait."
            elif left:
                self.message = f"Wrong PIN. {left} attempt{'s' if left != 1 else ''} left before a delay."
        return None

    def save_attempts(self) -> None:
        """Keep the count and the lockout's end in the attempts file, before anyone is told of them."""
        if self.attempts_path is None:
            return
        try:
            write_attempts(self.attempts_path, saved_state(self.limiter, time.monotonic(), time.time()))
        except OSError as exc:  # the server still hears of it on stdout
            print(f"cannot save the wrong-PIN count in {self.attempts_path}: {exc}", file=sys.stderr, flush=True)

    def load_attempts(self, failed_attempts: int) -> None:
        """Start from the largest count known (ours, the server's, the file's) and the latest end of a lockout."""
        saved = read_attempts(self.attempts_path) if self.attempts_path is not None else None
        before = (self.limiter.failures, self.limiter.locked_until)
        restore(self.limiter, saved, failed_attempts=failed_attempts, now_mono=time.monotonic(), now_wall=time.time())
        if (self.limiter.failures, self.limiter.locked_until) != before:
            self.save_attempts()  # the file then holds all we know, for whoever comes next

    def forget_attempts(self) -> None:
        """Unlocked: the next lock starts with every attempt free."""
        if self.attempts_path is not None:
            with contextlib.suppress(OSError):
                self.attempts_path.unlink(missing_ok=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            # The mice before the keyboard: a lock screen replacing us has the keyboard as soon as we let go of
            # it, and grabs the mice right after.
            for deviceid in self.blocked_pointers:
                self.d.xinput_ungrab_device(deviceid, X.CurrentTime)
            self.d.ungrab_keyboard(X.CurrentTime)
            atom = self.d.intern_atom(OVERLAY_PROPERTY)
            published = self.root.get_full_property(atom, Xatom.WINDOW)
            if published is None or any(self.owns(int(wid)) for wid in published.value):
                self.root.delete_property(atom)  # unless a lock screen replacing us has published its own
            for surface in self.surfaces:
                surface.window.destroy()
                if surface.panel_pixmap is not None:
                    surface.panel_pixmap.free()
            self.d.flush()
        with contextlib.suppress(Exception):
            self.d.close()


class GrabFailed(RuntimeError):
    pass


def run(overlay: Overlay, wake_fd: int, stopping: list[int]) -> str | None:
    """The event loop; returns how the overlay was unlocked, or None when a signal asked it to close."""
    d = overlay.d
    while not stopping:
        while d.pending_events():
            by = overlay.handle(d.next_event())
            if by is not None:
                return by
        if overlay.layout_pending:
            overlay.follow_layout()
        if overlay.check_pending:
            overlay.check_surfaces()
        if overlay.raise_pending:
            overlay.raise_all()
        overlay.keep_guard()
        overlay.redraw()
        ready, _, _ = select.select([d.fileno(), wake_fd], [], [], TICK)
        if wake_fd in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_fd, 64)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contop.desktop.overlay", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--settings", "--pin-hash-file", dest="settings", type=Path, required=True,
        help="settings.json (its away_mode section) or a JSON file with pin_hash / emergency_pin_hash",
    )  # fmt: skip
    parser.add_argument("--display", default=None, help="X display (default: $DISPLAY)")
    parser.add_argument("--free-attempts", type=int, default=5, help="wrong PINs allowed before a delay")
    parser.add_argument("--delay", type=float, default=30.0, help="first delay in seconds; it doubles each time")
    parser.add_argument("--failed-attempts", type=int, default=0, help="wrong PINs already made (after a restart)")
    parser.add_argument(
        "--attempts-file", type=Path, default=None,
        help="where to keep the wrong-PIN count and the end of a lockout (0600), and to take them from at start",
    )  # fmt: skip
    parser.add_argument(
        "--record-file", type=Path, default=None,
        help="the server's record of this lock screen: removed on an unlock, so that the next server knows the desk "
        "was unlocked even when no server heard it",
    )  # fmt: skip
    parser.add_argument(
        "--allow-local-pointer", action="store_true", help="let the mice at the desk through too (default: frozen)"
    )
    parser.add_argument(
        "--replacing", action="store_true",
        help="another lock screen holds the keyboard: take the focus, and wait for the grab while it is ended",
    )  # fmt: skip
    args = parser.parse_args(argv)

    try:
        hashes = load_hashes(args.settings)
    except (OSError, ValueError) as exc:
        emit("error", message=f"cannot read the PIN hashes: {exc}")
        return 2
    if not hashes.any:
        emit("error", message="no Away Mode PIN is set, so nobody could unlock the desk")
        return 2
    limiter = AttemptLimiter(free_attempts=args.free_attempts, base_delay=args.delay)

    stopping: list[int] = []
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))

    try:
        d = xdisplay.Display(args.display)
    except (xerror.DisplayError, xerror.ConnectionClosedError) as exc:
        emit("error", message=f"cannot open the X display: {exc}")
        return 1
    d.set_error_handler(lambda err, _request: None)  # a window vanishing under us is not fatal
    if not d.has_extension("SHAPE"):
        emit("error", message="the X server has no SHAPE extension: clicks could not pass through")
        d.close()
        return 1
    overlay = Overlay(d, hashes, limiter, block_pointers=not args.allow_local_pointer, attempts_path=args.attempts_file)
    overlay.load_attempts(max(0, args.failed_attempts))
    try:
        overlay.open(take_focus=args.replacing)
        # A lock screen we replaced may have counted a wrong PIN since: it has let go of the keyboard by now.
        overlay.load_attempts(0)
        emit(
            "ready",
            monitors=len(overlay.surfaces),
            local_pointers_blocked=len(overlay.blocked_pointers),
            failed_attempts=limiter.failures,
        )
        by = run(overlay, wake_r, stopping)
    except GrabFailed as exc:
        emit("error", message=f"cannot grab the keyboard: {exc}")
        overlay.close()
        return 3
    except (xerror.ConnectionClosedError, xerror.XError, OSError) as exc:
        emit("error", message=f"lost the X display: {exc}")
        return 1
    overlay.close()
    if by is None:
        emit("closed", by="signal")
    else:
        overlay.forget_attempts()
        if args.record_file is not None:
            try:
                args.record_file.unlink(missing_ok=True)
            except OSError as exc:
                print(f"cannot remove {args.record_file} (the next server will lock the desk again): {exc}",
                      file=sys.stderr, flush=True)  # fmt: skip
        emit("unlocked", by=by)
    return 0


if __name__ == "__main__":
    sys.exit(main())
