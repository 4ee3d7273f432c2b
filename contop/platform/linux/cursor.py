"""The mouse pointer of an X screen, for drawing it into the live video.

A screen grab (XGetImage, XShmGetImage) never contains the pointer: the X server draws it on top, outside the
framebuffer clients read. Without it the phone's live screen shows no pointer at all, and in manual control the
user cannot see where a drag is going. XFixes gives the pointer's image (``GetCursorImage``, about 300 µs in
python-xlib, so it is asked again only when the server reports a new pointer shape) and ``QueryPointer`` its
position (about 40 µs). XInput 2 raw motion events make the connection's socket readable whenever the pointer
moves, so a still screen's video, asleep until something is drawn, wakes up for pointer motion too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from contop.platform.linux.xconnect import close_display, open_display

logger = logging.getLogger(__name__)

BGRA = npt.NDArray[np.uint8]
_GENERIC_EVENT = 35  # XInput 2 events arrive as X GenericEvent


@dataclass(frozen=True, slots=True)
class PointerShot:
    """Where the pointer image goes (its top-left corner, screen coordinates) and the image: BGRA with
    premultiplied alpha, as XFixes gives it."""

    left: int
    top: int
    image: BGRA


class CursorWatch:
    """The pointer's image and position, and whether it moved or changed shape since the last look.

    It has its own X connection, used only by the thread that calls it (python-xlib connections are not thread
    safe). ``open()`` returns None when there is no X display or it lacks XFixes; callers then draw no pointer.
    """

    def __init__(self, display: Any, root: Any, shape_event: int, motion_events: bool) -> None:
        self._display = display
        self._root = root
        self._shape_event = shape_event
        self.motion_events = motion_events  # False: XInput 2 is missing, motion is seen only when looking
        self._image: BGRA | None = None  # None: to be read (first look, or the shape changed)
        self._hot = (0, 0)

    @classmethod
    def open(cls, name: str | None = None) -> CursorWatch | None:
        """A watch on X display ``name`` (None: ``$DISPLAY``), or None when it cannot be had."""
        try:
            from Xlib.ext import xfixes, xinput
        except ImportError:
            return None
        connection = open_display(name, "pointer watch")
        if connection is None:
            return None
        try:
            if not connection.has_extension("XFIXES"):
                logger.info("the X server has no XFIXES extension: the video shows no pointer")
                close_display(connection, "pointer watch")
                return None
            connection.xfixes_query_version()
            root = connection.screen().root
            connection.xfixes_select_cursor_input(root, xfixes.XFixesDisplayCursorNotifyMask)
            shape_event = connection.extension_event.DisplayCursorNotify[0]  # (event code, subcode)
            motion = False
            if connection.has_extension("XInputExtension"):
                try:
                    _announce_xinput_2_2(connection)
                    root.xinput_select_events([(xinput.AllDevices, xinput.RawMotionMask)])
                    motion = True
                except Exception as exc:
                    logger.info("no XInput 2 raw motion (%s): pointer motion on a still screen shows late", exc)
            connection.sync()
        except Exception as exc:
            logger.info("no pointer in the video (%s)", exc)
            close_display(connection, "pointer watch")
            return None
        return cls(connection, root, shape_event, motion)

    def moved(self) -> bool:
        """True when the pointer moved or changed shape since the last call (or look). Never blocks. Raises the
        connection's error when the X server went away."""
        seen = False
        while self._display.pending_events():
            event = self._display.next_event()
            if event.type == self._shape_event:
                self._image = None
                seen = True
            elif event.type == _GENERIC_EVENT:
                seen = True
        return seen

    def look(self) -> PointerShot:
        """The pointer now: its image (read again only after a shape change) and position."""
        self.moved()  # a shape change reported meanwhile makes the image read again below
        if self._image is None:
            reply = self._display.xfixes_get_cursor_image(self._root)
            pixels = np.asarray(reply.cursor_image, dtype="<u4")
            self._image = pixels.view(np.uint8).reshape(reply.height, reply.width, 4)  # ARGB words: B,G,R,A
            self._hot = (reply.xhot, reply.yhot)
            x, y = reply.x, reply.y
        else:
            pointer = self._root.query_pointer()
            x, y = pointer.root_x, pointer.root_y
        return PointerShot(x - self._hot[0], y - self._hot[1], self._image)

    def fileno(self) -> int:
        """The connection's socket: readable when the pointer moved or changed shape."""
        return int(self._display.fileno())

    def close(self) -> None:
        close_display(self._display, "pointer watch")


def draw_pointer(image: BGRA, pointer: PointerShot, origin: tuple[int, int] = (0, 0)) -> None:
    """Draw ``pointer`` into ``image`` (BGRA, in place), whose top-left pixel is at ``origin`` on the screen.
    The part outside the image is left out."""
    sprite = pointer.image
    left, top = pointer.left - origin[0], pointer.top - origin[1]
    height, width = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + sprite.shape[1], width), min(top + sprite.shape[0], height)
    if x0 >= x1 or y0 >= y1:
        return
    src = sprite[y0 - top : y1 - top, x0 - left : x1 - left]
    alpha = src[..., 3:4].astype(np.uint16)
    under = image[y0:y1, x0:x1, :3]
    # Premultiplied "over": out = src + dst * (1 - alpha), rounded.
    blended = src[..., :3].astype(np.uint16) + (under.astype(np.uint16) * (255 - alpha) + 127) // 255
    image[y0:y1, x0:x1, :3] = np.minimum(blended, 255).astype(np.uint8)


def _announce_xinput_2_2(connection: Any) -> None:
    """Tell the server we speak XInput 2.2 (python-xlib announces 2.0): raw events then reach the root window
    whatever grabs other clients hold."""
    from Xlib.ext.xinput import XIQueryVersion

    XIQueryVersion(
        display=connection.display,
        opcode=connection.display.get_extension_major("XInputExtension"),
        major_version=2,
        minor_version=2,
    )
