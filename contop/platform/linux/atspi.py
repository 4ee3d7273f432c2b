"""Accessibility on Linux: AT-SPI over D-Bus with jeepney (no pyatspi, no GObject).

The accessibility bus is a separate D-Bus daemon whose address ``org.a11y.Bus.GetAddress`` on the session bus
returns. On it, the registry (``org.a11y.atspi.Registry``) lists the accessible applications; each application
serves its own tree of ``org.a11y.atspi.Accessible`` objects. A window is matched to its application by the pid
of the application's bus connection, then to its top-level frame by title.

Every walk is bounded (depth and element count) because trees can be huge (browsers, office suites).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.base import MAX_ELEMENTS, ElementAction, InteractResult, UIElement
from contop.platform.geometry import Rect

logger = logging.getLogger(__name__)

CALL_TIMEOUT_S = 3.0
REGISTRY = "org.a11y.atspi.Registry"
ROOT_PATH = "/org/a11y/atspi/accessible/root"
NULL_PATH = "/org/a11y/atspi/null"
IFACE_ACCESSIBLE = "org.a11y.atspi.Accessible"
IFACE_COMPONENT = "org.a11y.atspi.Component"
IFACE_ACTION = "org.a11y.atspi.Action"
IFACE_EDITABLE = "org.a11y.atspi.EditableText"
IFACE_TEXT = "org.a11y.atspi.Text"
IFACE_VALUE = "org.a11y.atspi.Value"
COORD_SCREEN = 0

OCR_HINT = "screen OCR will be used instead"

# AT-SPI StateType, in bit order.
STATE_NAMES = (
    "invalid active armed busy checked collapsed defunct editable enabled expandable expanded focusable focused "
    "has-tooltip horizontal iconified modal multi-line multiselectable opaque pressed resizable selectable "
    "selected sensitive showing single-line stale transient vertical visible manages-descendants indeterminate "
    "required truncated animated invalid-entry supports-autocompletion selectable-text is-default visited "
    "checkable has-popup read-only"
).split()

INTERACTIVE_ROLES = frozenset(
    {
        "push button",
        "button",
        "toggle button",
        "check box",
        "radio button",
        "text",
        "entry",
        "password text",
        "combo box",
        "link",
        "menu item",
        "check menu item",
        "radio menu item",
        "menu",
        "page tab",
        "list item",
        "tree item",
        "slider",
        "spin button",
        "scroll bar",
        "editbar",
        "terminal",
    }
)

# Roles of elements that take typed text (when not read-only), besides anything in the "editable" state.
EDITABLE_ROLES = frozenset({"text", "entry", "password text", "editbar"})
READ_BACK_S = 1.0  # how long a set text may take to show (applications that update in a later turn of their loop)
MAX_NAMED_IN_ERRORS = 8

# Action names toolkits use for "activate this element", best first.
_PRESS_ACTIONS = ("press", "click", "activate", "jump", "open", "toggle", "select")


def decode_states(words: list[int] | tuple[int, ...]) -> tuple[str, ...]:
    """The two 32-bit words of ``GetState`` -> state names (pure)."""
    out = []
    for word_index, word in enumerate(words[:2]):
        for bit in range(32):
            if word & (1 << bit):
                i = word_index * 32 + bit
                out.append(STATE_NAMES[i] if i < len(STATE_NAMES) else f"state-{i}")
    return tuple(out)


def pick_press_action(actions: tuple[str, ...]) -> int | None:
    """Index of the action that best means "press", or None (pure)."""
    lowered = [a.lower() for a in actions]
    for wanted in _PRESS_ACTIONS:
        if wanted in lowered:
            return lowered.index(wanted)
    return 0 if actions else None


def is_editable(el: UIElement) -> bool:
    """True for an element that takes text: editable state or a text role, and not read-only (pure)."""
    if "read-only" in el.states:
        return False
    return "editable" in el.states or el.role in EDITABLE_ROLES


def match_rank(el: UIElement, exact: bool, want_editable: bool) -> int:
    """How well a named element fits, lower is better (pure): for text, any editable match beats every other;
    then an exact name beats a partial one."""
    return (2 if want_editable and not is_editable(el) else 0) + (0 if exact else 1)


def set_text_problem(value: str, before: str | None, after: str | None, role: str) -> str | None:
    """Why setting ``value`` did not take, from the element's text before and after; None when it did (pure).

    A password field reads back masked, and a field may reformat what it is given (input masks, length limits),
    so a changed text of another form counts as set; unchanged text, or none that can be read, does not.
    """
    if after is None:
        return "its text cannot be read back, so it is not a text field"
    if after == value:
        return None
    if role == "password text" and len(after) == len(value):
        return None
    if after != before:
        return None
    return f"its text did not change (it reads {after!r})"


def describe_matches(elements: list[UIElement]) -> str:
    """``label 'Name' (read-only), text 'Name' (editable)``: what a name matched, for error messages (pure)."""
    parts = []
    for el in elements[:MAX_NAMED_IN_ERRORS]:
        flag = "editable" if is_editable(el) else "read-only" if "read-only" in el.states else "not editable"
        parts.append(f"{el.role or 'element'} {el.name!r} ({flag})")
    if len(elements) > MAX_NAMED_IN_ERRORS:
        parts.append(f"{len(elements) - MAX_NAMED_IN_ERRORS} more")
    return ", ".join(parts)


def same_element(seen: UIElement, now: UIElement) -> bool:
    """Whether ``now`` (found again at ``seen``'s path) is still the element that was seen (pure): same role,
    name and box. States and text may change in between; a different box means the screen changed under it."""
    return (now.role, now.name, now.box) == (seen.role, seen.name, seen.box)


def stale_message(seen: UIElement, now: UIElement | None) -> str:
    """Why an element seen earlier cannot be acted on now (pure)."""
    what = f"{seen.role or 'element'} {seen.name!r}"
    if now is None:
        change = "it is no longer there (the window closed or its contents changed)"
    elif (now.role, now.name) != (seen.role, seen.name):
        change = f"its place now holds {now.role or 'element'} {now.name!r} (the window's contents changed)"
    else:
        change = "it moved or changed size"
    return f"the element observed as {what} cannot be used: {change}. Call observe_screen again and use its new number."


@dataclass(frozen=True, slots=True)
class _Match:
    """The element a name chose, and every element the name matched (in tree order)."""

    ref: Ref
    element: UIElement
    candidates: list[UIElement]


@dataclass(frozen=True, slots=True)
class Ref:
    """An accessible object: the bus name of its application and its object path."""

    bus: str
    path: str


class AtspiClient:
    """A connection to the accessibility bus, used under one lock."""

    def __init__(self, session_bus: str | None) -> None:
        self._session_bus = session_bus
        self._conn: Any = None
        self._lock = threading.RLock()

    # -- connection -----------------------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        if not self._session_bus:
            raise NotAvailableError(f"accessibility needs a D-Bus session bus (DBUS_SESSION_BUS_ADDRESS); {OCR_HINT}")
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection
        except ImportError as exc:
            raise NotAvailableError(f"accessibility needs the jeepney package; {OCR_HINT}") from exc
        try:
            with open_dbus_connection(bus=self._session_bus) as session:
                bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
                reply = session.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=CALL_TIMEOUT_S)
            if _is_error(reply) or not reply.body or not reply.body[0]:
                raise NotAvailableError(
                    f"no accessibility bus (org.a11y.Bus is not running; install at-spi2-core); {OCR_HINT}"
                )
            self._conn = open_dbus_connection(bus=str(reply.body[0]))
        except NotAvailableError:
            raise
        except Exception as exc:
            raise NotAvailableError(f"cannot reach the accessibility bus ({exc}); {OCR_HINT}") from exc
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def _drop(self, conn: Any) -> None:
        """Forget a broken connection (if it is still the current one) and close its socket."""
        with self._lock:
            if self._conn is conn:
                self._conn = None
        try:
            conn.close()
        except OSError:
            logger.debug("closing a broken accessibility bus connection failed", exc_info=True)

    def _call(
        self, ref: Ref, interface: str, method: str, signature: str | None = None, body: tuple[Any, ...] = ()
    ) -> Any:
        from jeepney import DBusAddress, new_method_call

        conn = self._connect()
        addr = DBusAddress(ref.path, bus_name=ref.bus, interface=interface)
        msg = new_method_call(addr, method, signature, body) if signature else new_method_call(addr, method)
        try:
            reply = conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT_S)
        except TimeoutError as exc:  # an OSError too, but the bus is fine: one application is busy
            raise ToolError(f"the application did not answer the accessibility call {method}") from exc
        except (OSError, EOFError) as exc:
            # The bus went away (at-spi-bus-launcher died or was restarted). The socket stays broken, so it is
            # dropped: the next call asks the session bus for the accessibility bus again and connects anew.
            self._drop(conn)
            raise NotAvailableError(
                f"the connection to the accessibility bus was lost ({type(exc).__name__}: {exc}); it is opened "
                f"again at the next call; {OCR_HINT}"
            ) from exc
        if _is_error(reply):
            raise _DBusError(str(reply.header.fields.get(4, "error")), reply.body)
        return reply.body

    def _prop(self, ref: Ref, interface: str, name: str) -> Any:
        body = self._call(ref, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, name))
        return body[0][1]  # a variant: (signature, value)

    def registry_available(self) -> None:
        """Raise NotAvailableError unless the registry answers."""
        with self._lock:
            try:
                self._call(Ref(REGISTRY, ROOT_PATH), IFACE_ACCESSIBLE, "GetChildren")
            except _DBusError as exc:
                raise NotAvailableError(f"the AT-SPI registry does not answer ({exc}); {OCR_HINT}") from exc

    # -- tree -----------------------------------------------------------------------------------------------
    def applications(self) -> list[Ref]:
        try:
            children = self._call(Ref(REGISTRY, ROOT_PATH), IFACE_ACCESSIBLE, "GetChildren")[0]
        except _DBusError as exc:
            raise NotAvailableError(f"the AT-SPI registry does not answer ({exc}); {OCR_HINT}") from exc
        return [Ref(bus, path) for bus, path in children]

    def app_pid(self, app: Ref) -> int | None:
        try:
            body = self._call(
                Ref("org.freedesktop.DBus", "/org/freedesktop/DBus"),
                "org.freedesktop.DBus",
                "GetConnectionUnixProcessID",
                "s",
                (app.bus,),
            )
            return int(body[0])
        except (_DBusError, ToolError):
            return None

    def children(self, ref: Ref) -> list[Ref]:
        try:
            return [Ref(bus, path) for bus, path in self._call(ref, IFACE_ACCESSIBLE, "GetChildren")[0]]
        except _DBusError:
            return []

    def describe(self, ref: Ref, depth: int = 0, path: str = "") -> UIElement:
        role = self._safe(lambda: str(self._call(ref, IFACE_ACCESSIBLE, "GetRoleName")[0]), "")
        name = self._safe(lambda: str(self._prop(ref, IFACE_ACCESSIBLE, "Name")), "")
        description = self._safe(lambda: str(self._prop(ref, IFACE_ACCESSIBLE, "Description")), "")
        states = self._safe(lambda: decode_states(self._call(ref, IFACE_ACCESSIBLE, "GetState")[0]), ())
        interfaces = set(self._safe(lambda: self._call(ref, IFACE_ACCESSIBLE, "GetInterfaces")[0], []))
        box = None
        if IFACE_COMPONENT in interfaces:
            ext = self._safe(lambda: self._call(ref, IFACE_COMPONENT, "GetExtents", "u", (COORD_SCREEN,))[0], None)
            if ext is not None and ext[2] > 0 and ext[3] > 0:
                box = Rect(int(ext[0]), int(ext[1]), int(ext[2]), int(ext[3]))
        actions: tuple[str, ...] = ()
        if IFACE_ACTION in interfaces:
            actions = tuple(str(a[0]) for a in self._safe(lambda: self._call(ref, IFACE_ACTION, "GetActions")[0], []))
        value = None
        if IFACE_VALUE in interfaces:
            value = self._safe(lambda: str(self._prop(ref, IFACE_VALUE, "CurrentValue")), None)
        elif IFACE_TEXT in interfaces:
            value = self._safe(lambda: str(self._call(ref, IFACE_TEXT, "GetText", "ii", (0, -1))[0]), None)
        return UIElement(
            role=role,
            name=name,
            box=box,
            states=states,
            actions=actions,
            value=value,
            description=description,
            app=ref.bus,
            depth=depth,
            path=path,
        )

    @staticmethod
    def _safe(fn: Any, default: Any) -> Any:
        try:
            return fn()
        except _DBusError:
            return default

    def _window_root(self, pid: int | None, title: str | None) -> tuple[Ref, str]:
        """The top-level accessible of the window with this pid/title (the X adapter supplies both)."""
        apps = self.applications()
        if pid is not None:
            apps = [a for a in apps if self.app_pid(a) == pid] or []
        if not apps:
            raise NotAvailableError(
                f"the window's application (pid {pid}) exposes no accessibility tree (toolkits need AT-SPI "
                f"enabled: Qt with QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1, GTK by default); {OCR_HINT}"
            )
        frames: list[tuple[Ref, str]] = []
        for app in apps:
            for i, child in enumerate(self.children(app)):
                frames.append((child, str(i)))
        if not frames:
            raise NotAvailableError(f"the application exposes no windows to accessibility; {OCR_HINT}")
        if title:
            for ref, path in frames:
                name = self._safe(lambda ref=ref: str(self._prop(ref, IFACE_ACCESSIBLE, "Name")), "")
                if name == title:
                    return ref, path
            for ref, path in frames:
                states = self._safe(lambda ref=ref: decode_states(self._call(ref, IFACE_ACCESSIBLE, "GetState")[0]), ())
                if "active" in states:
                    return ref, path
        return frames[0]

    def _walk(self, root: Ref, root_path: str, max_depth: int) -> Iterator[tuple[Ref, int, str]]:
        stack = [(root, 0, root_path)]
        seen: set[Ref] = set()
        while stack:
            ref, depth, path = stack.pop()
            if ref in seen or ref.path == NULL_PATH:
                continue
            seen.add(ref)
            yield ref, depth, path
            if depth < max_depth:
                kids = self.children(ref)
                for i in range(len(kids) - 1, -1, -1):
                    stack.append((kids[i], depth + 1, f"{path}/{i}"))

    # -- queries --------------------------------------------------------------------------------------------
    def element_tree(
        self, pid: int | None, title: str | None, max_depth: int = 8, limit: int = MAX_ELEMENTS
    ) -> list[UIElement]:
        with self._lock:
            root, root_path = self._window_root(pid, title)
            out = []
            for ref, depth, path in self._walk(root, root_path, max_depth):
                out.append(self.describe(ref, depth, path))
                if len(out) >= limit:
                    break
            return out

    def interactive_elements(self, pid: int | None, title: str | None, limit: int = MAX_ELEMENTS) -> list[UIElement]:
        with self._lock:
            root, root_path = self._window_root(pid, title)
            out = []
            visited = 0
            for ref, depth, path in self._walk(root, root_path, 30):
                visited += 1
                if visited > limit * 20:
                    break
                el = self.describe(ref, depth, path)
                if "showing" not in el.states or el.box is None:
                    continue
                if el.role in INTERACTIVE_ROLES or (
                    el.actions and el.role not in ("frame", "window", "filler", "panel")
                ):
                    out.append(el)
                    if len(out) >= limit:
                        break
            return out

    def focused_element(self) -> UIElement | None:
        """The element with the focused state in the active window of any application (bounded search)."""
        with self._lock:
            for app in self.applications():
                for index, frame in enumerate(self.children(app)):
                    frame_states = self._safe(
                        lambda frame=frame: decode_states(self._call(frame, IFACE_ACCESSIBLE, "GetState")[0]), ()
                    )
                    if "active" not in frame_states:
                        continue
                    visited = 0
                    for ref, depth, path in self._walk(frame, str(index), 30):
                        visited += 1
                        if visited > 2000:
                            break
                        states = self._safe(
                            lambda ref=ref: decode_states(self._call(ref, IFACE_ACCESSIBLE, "GetState")[0]), ()
                        )
                        if "focused" in states:
                            return self.describe(ref, depth, path)
            return None

    def _find(
        self, pid: int | None, title: str | None, name: str, role: str | None, *, want_editable: bool = False
    ) -> _Match | None:
        """The element ``name`` means: the best ``match_rank``, first in tree order among equals. Partial names
        are only looked at closely while they could still win."""
        root, root_path = self._window_root(pid, title)
        wanted = name.strip().casefold()
        best: tuple[int, Ref, UIElement] | None = None
        candidates: list[UIElement] = []
        visited = 0
        for ref, depth, path in self._walk(root, root_path, 30):
            visited += 1
            if visited > 4000:
                break
            el_name = self._safe(lambda ref=ref: str(self._prop(ref, IFACE_ACCESSIBLE, "Name")), "")
            if not el_name:
                continue
            folded = el_name.casefold()
            exact = folded == wanted
            if not exact and (wanted not in folded or (best is not None and not want_editable)):
                continue
            el = self.describe(ref, depth, path)
            if role and el.role != role:
                continue
            candidates.append(el)
            rank = match_rank(el, exact, want_editable)
            if best is None or rank < best[0]:
                best = (rank, ref, el)
            if rank == 0:
                break
        return None if best is None else _Match(best[1], best[2], candidates)

    def _text(self, ref: Ref) -> str | None:
        """The element's whole text through the Text interface, or None when it has none."""
        try:
            return str(self._call(ref, IFACE_TEXT, "GetText", "ii", (0, -1))[0])
        except (_DBusError, ToolError):
            return None

    def _set_text(self, match: _Match, name: str | None, value: str) -> InteractResult:
        """Set the text and read it back; ``name`` is what the element was looked up by (None: by its number)."""
        ref, el = match.ref, match.element
        before = self._text(ref)
        try:
            refused = not self._call(ref, IFACE_EDITABLE, "SetTextContents", "s", (value,))[0]
            problem = "the application refused it" if refused else None
        except _DBusError as exc:
            problem = f"the application refused it ({exc})"
        if problem is None:
            after = self._text(ref)
            deadline = time.monotonic() + READ_BACK_S
            while after is not None and after == before != value and time.monotonic() < deadline:
                time.sleep(0.05)
                after = self._text(ref)
            problem = set_text_problem(value, before, after, el.role)
        if problem is None:
            return InteractResult(True, "success", f"text set in {el.role} {el.name!r}", el)
        failed = f"setting the text of {el.role} {el.name!r} had no effect: {problem}."
        if name is None:  # the model chose this very element: no other element to point to
            return InteractResult(True, "error", failed, el)
        hint = "" if is_editable(el) else " Give the role of the field (role='text') or its number from observe_screen."
        return InteractResult(
            True, "error", f"{failed} {name!r} matched: {describe_matches(match.candidates)}.{hint}", el
        )

    def interact(
        self, pid: int | None, title: str | None, name: str, action: ElementAction, value: str | None, role: str | None
    ) -> InteractResult:
        with self._lock:
            hit = self._find(pid, title, name, role, want_editable=action == "set_text")
            if hit is None:
                return InteractResult(False, "error", f"no accessible element named {name!r} in the window")
            return self._act(hit, name, action, value)

    def interact_exact(self, element: UIElement, action: ElementAction, value: str | None) -> InteractResult:
        """Act on the very element ``element`` describes (an earlier ``interactive_elements``/``element_tree``
        result), found again by its application and path, never on another one of the same name.

        The element is checked to still have its role, name and box; when the tree changed (the window closed,
        moved, or its contents were rebuilt) nothing is done and the message asks to look again.
        """
        with self._lock:
            ref = self._resolve(element)
            found = None if ref is None else self.describe(ref, element.depth, element.path)
            if ref is None or found is None or not same_element(element, found):
                return InteractResult(False, "error", stale_message(element, found))
            return self._act(_Match(ref, found, [found]), None, action, value)

    def _resolve(self, element: UIElement) -> Ref | None:
        """The object at ``element.path`` (child indices from its application) in its application, or None."""
        steps = element.path.split("/") if element.path else []
        if not element.app or not steps or not all(step.isdigit() for step in steps):
            return None
        ref = next((app for app in self.applications() if app.bus == element.app), None)
        for step in steps:
            if ref is None:
                return None
            kids = self.children(ref)
            ref = kids[int(step)] if int(step) < len(kids) else None
        return ref

    def _act(self, hit: _Match, name: str | None, action: ElementAction, value: str | None) -> InteractResult:
        ref, el = hit.ref, hit.element
        try:
            if action in ("invoke", "click", "toggle", "select", "expand", "collapse"):
                wanted = {"toggle": "toggle", "select": "select", "expand": "expand", "collapse": "collapse"}
                index = None
                if action in wanted and wanted[action] in [a.lower() for a in el.actions]:
                    index = [a.lower() for a in el.actions].index(wanted[action])
                if index is None:
                    index = pick_press_action(el.actions)
                if index is None:
                    return InteractResult(True, "error", f"{el.role} {el.name!r} has no actions", el)
                ok = bool(self._call(ref, IFACE_ACTION, "DoAction", "i", (index,))[0])
                return InteractResult(True, "success" if ok else "error", f"did {el.actions[index]!r}", el)
            if action == "set_text":
                if value is None:
                    return InteractResult(True, "error", "set_text needs a value", el)
                return self._set_text(hit, name, value)
            if action == "focus":
                ok = bool(self._call(ref, IFACE_COMPONENT, "GrabFocus")[0])
                return InteractResult(True, "success" if ok else "error", "focused" if ok else "refused", el)
        except _DBusError as exc:
            return InteractResult(True, "error", f"the application refused {action}: {exc}", el)
        return InteractResult(True, "error", f"unknown action {action!r}", el)


class _DBusError(Exception):
    def __init__(self, name: str, body: Any) -> None:
        detail = body[0] if body and isinstance(body[0], str) else ""
        super().__init__(f"{name}: {detail}" if detail else name)


def _is_error(reply: Any) -> bool:
    from jeepney import MessageType

    return bool(reply.header.message_type == MessageType.error)
