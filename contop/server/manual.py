"""Manual control from the phone: pointer moves on ``contop-fast``, clicks, scrolls, keys and text on ``contop``.

Coordinates are pixels of the streamed video frame (the screen scaled to ``video_width``, default 1280, both sides
even), mapped exactly to native pixels. Each session's actions are performed one after the other, in the order
they arrived: a press, its release and the keys and text between them land as they were sent, whatever each one
waits for (the screen's geometry, the Away Mode check). Pointer moves waiting behind another action coalesce into
the newest one, so a burst of moves never queues up behind a slow X server.

A button the phone pressed (``mouse_down``) and has not released is released when its connection ends (closed,
lost, revoked, replaced): the X server would otherwise keep it down, mid-drag, until someone clicks at the desk.
While one device holds a button, the others' actions are refused (``busy``, naming it): the desk has one pointer,
so another phone's move, click or release would end or bend that drag, and its keys would reach the dragged app.

While the agent runs a task it drives the same mouse and keyboard: manual actions are refused (``not_available``,
``reason: agent_running``), and a button the phone held down when the run started is let go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from contop.core.errors import ContopError, NoDesktopError, NotAvailableError, ToolError
from contop.core.messages import Envelope, Error, ErrorPayload
from contop.platform.base import MouseButton
from contop.platform.capture import NoActiveMonitor
from contop.platform.geometry import CoordinateError, ScreenGeometry
from contop.platform.keys import parse_combo
from contop.tools.desktop import Desktop, KeyboardTaken, open_desktop, run_keys

# How the phone's video frame is sized: (max width, max macroblocks or None), as ScreenTrack does.
VideoFrameRule = tuple[int, int | None]

log = logging.getLogger(__name__)

POINTER_ACTIONS = frozenset({"mouse_move", "mouse_down", "mouse_up"})
CLICKS: dict[str, tuple[MouseButton, int]] = {
    "click": ("left", 1),
    "right_click": ("right", 1),
    "double_click": ("left", 2),
    "middle_click": ("middle", 1),
}
KEY_ACTIONS = frozenset({"key_combo", "hotkey", "press_key", "key"})
SCROLL_DIRECTIONS = ("up", "down", "left", "right")
DEFAULT_SCROLL_CLICKS = 5
MAX_SCROLL_CLICKS = 50
MAX_TEXT = 10_000
GEOMETRY_TTL_S = 1.0
MAX_SESSIONS = 256
MAX_QUEUED = 1000  # actions of one session waiting to be performed (moves coalesce, so only presses and keys count)
# Without a usable display, a pointer stream (up to ~1000 moves/s) must not try to open the display for every move
# nor answer each one with an error: the failure is kept this long, and moves get one error per this interval.
NO_DESKTOP_RETRY_S = 2.0
DESK_CHECK_S = 1.0  # how often the display's connection is checked, for an X server that restarts
MOVE_ERROR_INTERVAL_S = 1.0


class ManualInputError(ToolError):
    """The phone sent something that cannot be performed (bad coordinates, unknown key or action)."""


class KeyboardLockedError(ContopError):
    """Away Mode holds the desk's keyboard: keys from the phone would be typed into the lock screen's PIN field."""


AWAY_REFUSAL = (
    "Away Mode is on: the desk's keyboard is locked, so keys and text would go into the lock screen's PIN field. "
    "Unlock the desk to type; taps, clicks and scrolling still work."
)
AGENT_REFUSAL = "the agent is running a task; manual control waits until it ends or is stopped"


class HeldByAnotherDevice(ContopError):
    """Another device holds a mouse button down (a drag): this one's actions would end or disturb it."""


@dataclass(frozen=True)
class _Holder:
    """Who pressed a button and has not released it: the session, for its release when it ends; the device and its
    name, for whose actions wait and whom a refusal names (a reconnection of the same phone is not someone else)."""

    session_id: str
    device_id: str
    name: str


def holder_of(session: Any) -> _Holder:
    # Test sessions have neither: each then counts as a device of its own.
    device_id = getattr(session, "device_id", None) or session.id
    name = str(getattr(session, "device_name", "") or "") or "another device"
    return _Holder(session.id, str(device_id), name)


def held_elsewhere(held: dict[MouseButton, _Holder], device_id: str) -> str | None:
    """Why a device's action is refused while another device holds a button down, or None when none does."""
    for button, holder in held.items():
        if holder.device_id != device_id:
            return (
                f"another device holds a mouse button: {holder.name} is holding the {button} button down (a drag); "
                "this device's pointer, keys and text are refused until it lets go"
            )
    return None


def video_geometry(monitor: Any, video_width: int, max_macroblocks: int | None = None) -> ScreenGeometry:
    """The mapping between the video frame the phone sees and the monitor it shows (same size rule as the track)."""
    from contop.transport.video import video_size

    w, h = video_size(monitor.width, monitor.height, video_width, max_macroblocks)
    return ScreenGeometry(monitor, w, h)


def point(payload: Any, geometry: ScreenGeometry) -> tuple[int, int]:
    """Native pixel of the payload's (x, y) video coordinates; ManualInputError when missing or off the frame."""
    x, y = payload.x, payload.y
    if x is None or y is None:
        raise ManualInputError(f"{payload.action} needs x and y (pixels of the video frame)")
    if not (math.isfinite(x) and math.isfinite(y)):  # JSON's 1e400 is infinity
        raise ManualInputError(f"{payload.action} needs x and y as finite numbers (pixels of the video frame)")
    try:
        return geometry.to_native(int(x), int(y))
    except CoordinateError as exc:
        raise ManualInputError(str(exc)) from exc


def key_of(payload: Any) -> str:
    extra = payload.model_extra or {}
    raw = extra.get("keys", extra.get("key", extra.get("combo")))
    if isinstance(raw, list) and all(isinstance(k, str) for k in raw):
        raw = "+".join(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise ManualInputError(f"{payload.action} needs 'keys' (e.g. 'ctrl+c' or ['ctrl', 'c'])")
    parse_combo(raw)  # unknown names are refused before anything is pressed
    return raw.strip()


@dataclass
class _Actions:
    """One session's actions not performed yet, in arrival order, and the task performing them."""

    queue: deque[tuple[Envelope, VideoFrameRule, asyncio.Future[None]]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


async def _to_the_end(call: Awaitable[None]) -> None:
    """Await an input call that runs in a thread; when cancelled, still wait for the thread (it cannot be stopped)
    before re-raising, so the input lock is held until the event is sent and a release cannot overtake a press."""
    task = asyncio.ensure_future(call)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


class ManualControl:
    """Performs each session's actions in order; ``aclose()`` stops. Handlers: ``on_manual_control``,
    ``on_set_manual_mode``."""

    def __init__(
        self,
        video_frame: Callable[[Any], VideoFrameRule],
        display: str | None = None,
        agent_running: Callable[[], bool] = lambda: False,
    ) -> None:
        self._video_frame = video_frame
        self._display = display
        self._agent_running = agent_running
        self._actions: dict[str, _Actions] = {}  # session → what it sent and is not done yet
        self._input_lock = asyncio.Lock()  # one action at a time on the desk, whichever phone sent it
        self.manual_mode: dict[str, bool] = {}
        self.moves_applied = 0
        self._held: dict[MouseButton, _Holder] = {}  # button → who pressed it and has not released it
        self._watched: set[str] = set()  # sessions told to us when their connection ends
        self._releases: set[asyncio.Task[None]] = set()
        self._desk: Desktop | None = None
        self._desk_checked = 0.0  # when open_desktop last said the desktop above is still there
        self._no_desk: tuple[float, ContopError] | None = None  # when opening the display last failed, and why
        self._move_errors: dict[str, float] = {}  # session → when its last pointer-move error was sent
        self._geo: tuple[float, VideoFrameRule, ScreenGeometry] | None = None

    async def _desktop(self) -> Desktop:
        """The desktop, asked for again at most once a DESK_CHECK_S: ``open_desktop`` opens it anew when its X server
        went away (restarted), so the phone's input works again without restarting Contop, at the cost of one X
        round trip a second rather than one per action."""
        now = time.monotonic()
        if self._desk is not None and now - self._desk_checked < DESK_CHECK_S:
            return self._desk
        failed = self._no_desk
        if self._desk is None and failed is not None and now - failed[0] < NO_DESKTOP_RETRY_S:
            raise failed[1]
        try:
            self._desk = await asyncio.to_thread(open_desktop, self._display)
        except ContopError as exc:
            self._desk, self._no_desk = None, (time.monotonic(), exc)
            raise
        self._no_desk, self._desk_checked = None, now
        return self._desk

    async def _geometry(self, desk: Desktop, rule: VideoFrameRule) -> ScreenGeometry:
        """The geometry of the video a phone watches, re-read at most once a second (a resolution change is
        picked up, a move costs no X round trip)."""
        now = time.monotonic()
        cached = self._geo
        if cached is None or now - cached[0] > GEOMETRY_TTL_S or cached[1] != rule:
            monitor = await asyncio.to_thread(desk.capturer.monitor_rect)
            cached = self._geo = (now, rule, video_geometry(monitor, *rule))
        return cached[2]

    def _session_ended(self, session: Any) -> None:
        """The session's connection ended: what it had not done yet is dropped, its held buttons released."""
        self.forget(session.id)
        self._watched.discard(session.id)
        if any(holder.session_id == session.id for holder in self._held.values()):
            task = asyncio.get_running_loop().create_task(self._release_after(session.id), name="manual-release")
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def _release_after(self, session_id: str) -> None:
        async with self._input_lock:  # after the action being performed: a press still under way, say
            await self._release_held(session_id)

    async def _release_held(self, session_id: str | None = None) -> None:
        """Release the buttons ``session_id`` (None: anyone) holds down (caller holds the input lock)."""
        buttons = [b for b, owner in self._held.items() if session_id is None or owner.session_id == session_id]
        if not buttons or self._desk is None:
            return
        adapter = self._desk.adapter
        for button in buttons:
            # Forgotten only as its release starts, and that release runs to the end even when cancelled (shutdown):
            # a release job dropped from the executor queue would leave the button down with nobody owning it.
            del self._held[button]
            try:
                await _to_the_end(asyncio.to_thread(adapter.mouse_up, button))
            except Exception:
                log.warning("releasing the %s mouse button failed", button, exc_info=True)
        log.info("released the %s mouse button(s) held by a phone", ", ".join(buttons))

    async def on_set_manual_mode(self, session: Any, message: Envelope) -> None:
        enabled = bool(getattr(message.payload, "enabled", False))
        self.manual_mode.pop(session.id, None)
        self.manual_mode[session.id] = enabled
        while len(self.manual_mode) > MAX_SESSIONS:  # sessions end without telling us: keep the newest only
            self.manual_mode.pop(next(iter(self.manual_mode)))
        log.info("manual mode %s for session %s", "on" if enabled else "off", session.id[:8])
        actions = self._actions.get(session.id)
        if not enabled and actions is not None and actions.task is not None:
            # What it sent before leaving is performed first (a press still queued would be down after the check).
            await asyncio.wait([actions.task])
        if not enabled and any(holder.session_id == session.id for holder in self._held.values()):
            # Leaving manual mode lets go of what this phone held down (its app sends mouse_up first; an older
            # one may not): a button left down would keep the other devices refused as "busy" until its link ends.
            await self._release_after(session.id)

    async def agent_started(self) -> None:
        """A run began: what the phones sent and is not done yet is dropped, and their held buttons let go (the
        agent's clicks would otherwise be drags)."""
        for actions in self._actions.values():
            _drop(actions)
        async with self._input_lock:
            await self._release_held()

    async def on_manual_control(self, session: Any, message: Envelope) -> None:
        """Queue the action behind the session's earlier ones (before any await: handlers start in arrival
        order) and return once it has been performed, or replaced by a newer move."""
        if self._agent_running():
            await self._refuse_while_agent_runs(session, message)
            return
        if session.id not in self._watched:
            self._watched.add(session.id)
            session.on_end(self._session_ended)
        actions = self._actions.get(session.id)
        if actions is None:
            actions = self._actions[session.id] = _Actions()
        queue = actions.queue
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        item = (message, self._video_frame(session), done)
        if _is_move(message) and queue and _is_move(queue[-1][0]):
            queue[-1][2].set_result(None)  # only the newest position matters
            queue[-1] = item
        elif len(queue) >= MAX_QUEUED:
            text = f"too many manual actions are waiting ({MAX_QUEUED}); this one was dropped"
            session.send(Error.reply("busy", text, message.id))
            return
        else:
            queue.append(item)
        if actions.task is None:
            actions.task = loop.create_task(self._perform_all(session, actions), name="manual-actions")
        await asyncio.shield(done)  # a cancelled handler leaves its action to the queue

    async def _perform_all(self, session: Any, actions: _Actions) -> None:
        try:
            while actions.queue:
                message, rule, done = actions.queue.popleft()
                try:
                    await self._perform(session, message, rule)
                finally:
                    if not done.done():
                        done.set_result(None)
        finally:
            actions.task = None
            _drop(actions)  # what is left when it was cancelled (shutdown)
            if self._actions.get(session.id) is actions:
                del self._actions[session.id]

    async def _refuse_while_agent_runs(self, session: Any, message: Envelope) -> None:
        await self.agent_started()
        if self._may_report(session.id, str(getattr(message.payload, "action", ""))):
            refusal = {"code": "not_available", "message": AGENT_REFUSAL, "ref_id": message.id,
                       "reason": "agent_running"}  # fmt: skip
            session.send(Error(payload=ErrorPayload.model_validate(refusal)))

    async def _perform(self, session: Any, message: Envelope, rule: VideoFrameRule) -> None:
        action = str(getattr(message.payload, "action", ""))
        if self._agent_running():  # a run started while this waited
            await self._refuse_while_agent_runs(session, message)
            return
        try:
            await self._handle_once_more_on_a_new_desktop(session, message.payload, rule)
        except (KeyboardLockedError, KeyboardTaken) as exc:  # Away Mode holds the keyboard, or took it meanwhile
            session.send(Error.reply("not_available", str(exc), message.id))
        except HeldByAnotherDevice as exc:  # "busy", not "not_available": the phone keeps manual mode, and tries later
            if self._may_report(session.id, action):
                session.send(Error.reply("busy", str(exc), message.id))
        except (NoDesktopError, NoActiveMonitor) as exc:  # NoActiveMonitor is a ToolError, but the payload is fine
            if self._may_report(session.id, action):
                session.send(Error.reply("not_available", f"manual control is not available: {exc}", message.id))
        except (ManualInputError, ToolError) as exc:
            if self._may_report(session.id, action):
                session.send(Error.reply("invalid_payload", str(exc), message.id))
        except ContopError as exc:  # no display, display went away
            if self._may_report(session.id, action):
                session.send(Error.reply("not_available", f"manual control is not available: {exc}", message.id))
        except asyncio.CancelledError:
            raise
        except Exception:  # one failed action must not stop the ones queued after it
            log.exception("manual_control %s failed", action)
            session.send(Error.reply("internal", f"manual_control {action} failed", message.id))

    def _may_report(self, session_id: str, action: str) -> bool:
        """Every failed action gets its error, except pointer moves: one per ``MOVE_ERROR_INTERVAL_S`` per session
        (a finger dragging across a dead screen would otherwise send back hundreds of the same error a second)."""
        if action != "mouse_move":
            return True
        now = time.monotonic()
        if now - self._move_errors.get(session_id, -MOVE_ERROR_INTERVAL_S) < MOVE_ERROR_INTERVAL_S:
            return False
        if len(self._move_errors) >= MAX_SESSIONS:
            self._move_errors.clear()
        self._move_errors[session_id] = now
        return True

    async def _handle_once_more_on_a_new_desktop(self, session: Any, payload: Any, rule: VideoFrameRule) -> None:
        """Perform the action; when it failed because the desktop's X server went away (it restarted since the
        last check, or the agent's tools dropped the desktop meanwhile), once more on the desktop opened anew.
        Nothing of it reached the new server: a restarted X server is another server, and what the old one got
        went with it."""
        try:
            await self._handle(session, payload, rule)
        except NotAvailableError:
            used = self._desk
            self._desk_checked = 0.0  # asked for again now, not after DESK_CHECK_S
            if used is None or await self._desktop() is used:  # raises while the X server is down
                raise
            await self._handle(session, payload, rule)

    @contextlib.asynccontextmanager
    async def _turn(self, session: Any) -> AsyncIterator[None]:
        """The desk for one action of ``session``, after the actions that came before it from any device; refused
        (HeldByAnotherDevice) while another device holds a button down. Checked under the lock, so the answer is
        the state this action would land in: a press performed just before it counts, a release too."""
        async with self._input_lock:
            refusal = held_elsewhere(self._held, holder_of(session).device_id)
            if refusal is not None:
                raise HeldByAnotherDevice(refusal)
            yield

    async def _handle(self, session: Any, payload: Any, rule: VideoFrameRule) -> None:
        action = payload.action
        desk = await self._desktop()
        adapter = desk.adapter
        if action == "mouse_move":
            x, y = point(payload, await self._geometry(desk, rule))
            async with self._turn(session):
                await asyncio.to_thread(adapter.move_mouse, x, y)
                self.moves_applied += 1
            return
        extra = payload.model_extra or {}
        if action in ("mouse_down", "mouse_up"):
            button = _button(extra.get("button", "left"))
            target = point(payload, await self._geometry(desk, rule)) if payload.x is not None else None
            async with self._turn(session):
                if target is not None:
                    await asyncio.to_thread(adapter.move_mouse, *target)
                    self.moves_applied += 1
                if action == "mouse_down":
                    self._held[button] = holder_of(session)  # before the press: a session ending meanwhile lets go too
                    await _to_the_end(asyncio.to_thread(adapter.mouse_down, button))
                else:
                    self._held.pop(button, None)
                    await _to_the_end(asyncio.to_thread(adapter.mouse_up, button))
            return
        if action in CLICKS:
            button, count = CLICKS[action]
            target = point(payload, await self._geometry(desk, rule)) if payload.x is not None else None
            async with self._turn(session):
                if target is None:
                    await asyncio.to_thread(adapter.click, None, None, button, count)
                else:
                    await asyncio.to_thread(adapter.click, target[0], target[1], button, count)
            return
        if action == "scroll":
            direction = extra.get("direction", "down")
            clicks = extra.get("clicks", extra.get("amount", DEFAULT_SCROLL_CLICKS))
            if direction not in SCROLL_DIRECTIONS:
                raise ManualInputError(f"scroll direction must be one of {', '.join(SCROLL_DIRECTIONS)}")
            if not isinstance(clicks, int) or isinstance(clicks, bool) or not 1 <= clicks <= MAX_SCROLL_CLICKS:
                raise ManualInputError(f"scroll clicks must be an integer from 1 to {MAX_SCROLL_CLICKS}")
            target = point(payload, await self._geometry(desk, rule)) if payload.x is not None else None
            async with self._turn(session):
                tx, ty = target if target is not None else (None, None)
                await asyncio.to_thread(adapter.scroll, direction, clicks, tx, ty)
            return
        if action in KEY_ACTIONS:
            combo = key_of(payload)
            await _refuse_keys_while_away(desk)
            async with self._turn(session):
                await run_keys(adapter.press_key, combo)
            return
        if action == "type":
            text = extra.get("text")
            if not isinstance(text, str) or not text:
                raise ManualInputError("type needs non-empty 'text'")
            if len(text) > MAX_TEXT:
                raise ManualInputError(f"text is too long ({len(text)} characters; at most {MAX_TEXT})")
            await _refuse_keys_while_away(desk)
            async with self._turn(session):
                await run_keys(adapter.type_text, text)
            return
        known = sorted({*POINTER_ACTIONS, *CLICKS, *KEY_ACTIONS, "scroll", "type"})
        raise ManualInputError(f"unknown manual_control action {action!r}; known: {', '.join(known)}")

    def forget(self, session_id: str) -> None:
        actions = self._actions.get(session_id)
        if actions is not None:
            _drop(actions)  # the one being performed finishes; its task then ends
        self.manual_mode.pop(session_id, None)

    async def aclose(self) -> None:
        tasks = [a.task for a in self._actions.values() if a.task is not None]
        for task in tasks:
            task.cancel()
        # Releases are let finish, not cancelled: each is one short X request, and one cut short could leave a
        # button down after the server is gone. What is still held after them is released here.
        await asyncio.gather(*tasks, *self._releases, return_exceptions=True)
        async with self._input_lock:
            await self._release_held()


def _drop(actions: _Actions) -> None:
    """Forget the actions not performed yet; whoever waits for them is told they are over."""
    for _message, _rule, done in actions.queue:
        if not done.done():
            done.set_result(None)
    actions.queue.clear()


def _is_move(message: Envelope) -> bool:
    return getattr(message.payload, "action", None) == "mouse_move"


async def _refuse_keys_while_away(desk: Desktop) -> None:
    """Keys and text are refused while the lock overlay is up, as the agent's are (``tools.gui``): the overlay
    holds the keyboard, so they would vanish into its PIN field. Pointer actions pass through it."""
    if await asyncio.to_thread(desk.away_overlay_active):
        raise KeyboardLockedError(AWAY_REFUSAL)


def _button(raw: Any) -> Any:
    if raw not in ("left", "right", "middle"):
        raise ManualInputError("button must be left, right or middle")
    return raw


def install_manual_control(state: Any, router: Any) -> ManualControl:
    """Register the manual-control handlers on ``router``; the move worker is stopped at server shutdown."""

    def video_frame(session: Any) -> VideoFrameRule:
        """How the video this phone watches is sized: its track's rule, fixed when it connected (the setting may
        have changed since, and H264 limits the size); the setting's when it has no video."""
        track = getattr(getattr(session, "peer", None), "video_track", None)
        width = getattr(track, "max_width", None)
        if isinstance(width, int):
            return width, getattr(track, "max_macroblocks", None)
        return int(state.settings.get().video_width), None

    def agent_running() -> bool:
        """A run is in progress on this desktop, started from any phone (the sessions' execution slots)."""
        sessions = state.sessions
        # A request still waiting to start (the agent loading) is not a run: nothing drives the mouse yet.
        return sessions is not None and any(
            s.execution is not None and not getattr(s.execution, "waiting", False) for s in sessions.sessions()
        )

    manual = ManualControl(video_frame, agent_running=agent_running)
    router.register("manual_control", manual.on_manual_control)
    router.register("set_manual_mode", manual.on_set_manual_mode)
    start_intent = router.handler_for("user_intent")
    if start_intent is not None:  # the agent is installed first: a button held when its run starts is let go

        async def on_intent(session: Any, message: Envelope) -> None:
            await start_intent(session, message)
            if agent_running():
                await manual.agent_started()

        router.register("user_intent", on_intent, replace=True)
    state.on_shutdown(manual.aclose)
    return manual
