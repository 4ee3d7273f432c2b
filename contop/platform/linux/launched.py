"""Notices when a running command has put a top-level X window on screen, so ``execute_cli`` can stop waiting
for a GUI app it launched and leave it running.

Window owners come from the X-Resource extension (the pid of each X client, in one request), so the check costs
one round trip while the command has no X connection, and a few more once it has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from Xlib import X
from Xlib import error as xerror

from contop.platform.linux.windows import EwmhWindows, process_name
from contop.platform.linux.xconnect import close_display, open_display

logger = logging.getLogger(__name__)

FIRST_POLL_S = 0.3  # most commands are over before this, and never open an X connection for us
POLL_S = 0.25
CLOSE_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class OpenedWindow:
    """A top-level window some process of the command's tree shows."""

    window_id: int
    pid: int
    title: str
    process_name: str

    @property
    def app(self) -> str:
        """What to call the app in a sentence: its process name, else the window's title."""
        return self.process_name or self.title or f"pid {self.pid}"


@dataclass(frozen=True, slots=True)
class TopLevel:
    """What decides whether a window counts as opened: listed by the window manager, or mapped at the root."""

    window_id: int
    managed: bool
    viewable: bool
    override_redirect: bool


def window_owner(window_id: int, owners: Mapping[int, int], id_mask: int) -> int | None:
    """The pid of the client that created ``window_id``; ``owners`` maps a client's resource-id base to its pid."""
    return owners.get(window_id & ~id_mask)


def shows(window: TopLevel) -> bool:
    """True for a window the user sees as an app window: one the window manager manages (it was mapped), or,
    without a window manager, a mapped child of the root that is no menu, tooltip or other override-redirect."""
    return window.managed or (window.viewable and not window.override_redirect)


class _Probe:
    """The X queries behind one check, on a connection only the watch thread uses."""

    def __init__(self, display: Any) -> None:
        self._d = display
        self._root = display.screen().root
        self._ewmh = EwmhWindows(display)
        self._id_mask = int(display.display.info.resource_id_mask)

    def owners(self) -> dict[int, int]:
        from Xlib.ext import res

        reply = self._d.res_query_client_ids([{"client": 0, "mask": res.LocalClientPIDMask}])
        return {int(item.spec.client): int(item.value[0]) for item in reply.ids if len(item.value)}

    def check(self, belongs: Callable[[int], bool]) -> OpenedWindow | None:
        ours = {base: pid for base, pid in self.owners().items() if belongs(pid)}
        if not ours:
            return None
        managed = set(self._ewmh.client_ids())
        ids = list(dict.fromkeys([*managed, *(int(w.id) for w in self._root.query_tree().children)]))
        for wid in ids:
            pid = window_owner(wid, ours, self._id_mask)
            if pid is None:
                continue
            win = self._d.create_resource_object("window", wid)
            try:
                attrs = win.get_attributes()
                top = TopLevel(wid, wid in managed, attrs.map_state == X.IsViewable, bool(attrs.override_redirect))
                if shows(top):
                    return OpenedWindow(wid, pid, self._ewmh.title(win), process_name(pid))
            except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
                continue  # gone while we looked
        return None


class WindowWatch:
    """Checks the X display ``display_name`` in a thread of its own until a process for which ``belongs(pid)``
    holds shows a window; ``found`` resolves with it then. The owner calls ``aclose()``.

    Nothing is reported when the display cannot be opened or lacks X-Resource: the command is waited for as usual.
    """

    def __init__(
        self,
        display_name: str,
        belongs: Callable[[int], bool],
        *,
        first_poll_s: float = FIRST_POLL_S,
        poll_s: float = POLL_S,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.found: asyncio.Future[OpenedWindow] = self._loop.create_future()
        self._ended: asyncio.Future[None] = self._loop.create_future()
        self._stop = threading.Event()
        self._display_name = display_name
        self._belongs = belongs
        self._first_poll_s = first_poll_s
        self._poll_s = poll_s
        self._thread = threading.Thread(target=self._run, name="contop-window-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._watch()
        except Exception:
            logger.debug("the window watch stopped", exc_info=True)
        finally:
            self._post(self._ended, None)

    def _watch(self) -> None:
        if self._stop.wait(self._first_poll_s):
            return
        display = open_display(self._display_name, "window watch")
        if display is None:
            return
        try:
            if not display.has_extension("X-Resource"):
                logger.debug("no X-Resource on %s: launched windows are not noticed", self._display_name)
                return
            probe = _Probe(display)
            while not self._stop.is_set():
                hit = probe.check(self._belongs)
                if hit is not None:
                    self._post(self.found, hit)
                    return
                self._stop.wait(self._poll_s)
        finally:
            close_display(display, "window watch")

    def _post(self, future: asyncio.Future[Any], value: Any) -> None:
        def settle() -> None:
            if not future.done():
                future.set_result(value)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(settle)

    async def aclose(self) -> None:
        """Stop checking and wait (briefly: a hung X server must not hold the caller) for the thread to end."""
        self._stop.set()
        if not self.found.done():
            self.found.cancel()
        await asyncio.wait({self._ended}, timeout=CLOSE_WAIT_S)
