"""Typing characters the keymap lacks when spare keycodes run short, on a real Xvfb + openbox: a clear refusal
instead of a hang, long texts typed in stretches whatever is already bound, and the keymap put back at shutdown."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from Xlib import XK, X, Xatom, display
from Xlib import error as xerror

from contop.core.errors import ToolError
from contop.platform.linux.adapter import LinuxAdapter
from contop.platform.linux.xinput import BINDINGS_PROPERTY, parse_binding_records
from contop.server.app import build_state
from contop.server.state import ServerConfig
from contop.server.statedir import StateDir
from contop.testing.xsession import XSession, xsession_for_tests
from contop.tools.desktop import forget_desktop, open_desktop

from .conftest import launch_recorder

pytestmark = [pytest.mark.x11, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_session() -> Iterator[XSession]:
    # A session of its own: these tests fill the keymap, and count on the fresh one's spare keycodes.
    yield from xsession_for_tests("1024x768x24")


class Keymap:
    """A second client that reads the core keymap and binds keys the way xmodmap does."""

    def __init__(self, name: str) -> None:
        self.d = display.Display(name)
        self.min_kc = self.d.display.info.min_keycode
        self.count = self.d.display.info.max_keycode - self.min_kc + 1

    def core(self) -> list[tuple[int, ...]]:
        return [tuple(row) for row in self.d.get_keyboard_mapping(self.min_kc, self.count)]

    def spares(self) -> list[int]:
        """Keycodes with nothing bound, the first one left out as the typing code leaves it out."""
        return [self.min_kc + i for i, row in enumerate(self.core()) if i > 0 and not any(row)]

    def bind(self, keycodes: Sequence[int], keysym: int) -> None:
        for kc in keycodes:
            self.d.change_keyboard_mapping(kc, [(keysym,)])
        self.d.sync()

    def record(self) -> dict[int, dict[int, int]]:
        """The bound keys Contop connections have recorded on the root window, by owner window."""
        prop = self.d.screen().root.get_full_property(self.d.intern_atom(BINDINGS_PROPERTY), Xatom.CARDINAL)
        return parse_binding_records(prop.value) if prop is not None else {}

    def window_exists(self, window: int) -> bool:
        try:
            self.d.create_resource_object("window", window).get_geometry()
        except xerror.XError:
            return False
        return True

    def close(self) -> None:
        self.d.close()


def cjk(first: int, count: int) -> str:
    return "".join(chr(first + i) for i in range(count))


def test_typing_with_no_spare_keycode_is_refused_at_once(own_session: XSession, tmp_path: Path) -> None:
    # With every keycode taken (xmodmap -e "keycode N = F20" for each empty one), typing a character the keymap
    # lacks spun a worker thread forever holding the adapter lock: nothing typed, no error, every later action
    # ignored, and the server never exited.
    keymap = Keymap(own_session.display)
    app = launch_recorder(own_session, tmp_path)
    adapter = LinuxAdapter(own_session.display)
    filled = keymap.spares()
    keymap.bind(filled, XK.string_to_keysym("F20"))
    outcome: list[BaseException | None] = []

    def type_it() -> None:
        try:
            adapter.type_text("aж")
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=type_it, name="type-with-full-keymap", daemon=True)
    try:
        adapter.click(*app.center("entry"))
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "typing with no spare keycode never returned"
        assert isinstance(outcome[0], ToolError), outcome
        assert "no spare keycode" in str(outcome[0])
        adapter.type_text("ok")  # the adapter is free again
        # "ok" alone: the "a" before the character that could not be typed was not typed either.
        app.wait_for(lambda ev: app.last_text() == "ok")
    finally:
        if not worker.is_alive():  # else it holds the adapter lock: closing would wait forever
            adapter.close()
        keymap.bind(filled, X.NoSymbol)
        keymap.close()
        app.stop()


def test_a_text_reusing_bound_characters_types_in_stretches(own_session: XSession, tmp_path: Path) -> None:
    # A first text binds every spare keycode; a second one soon after (bindings are kept for a while) needs ten of
    # those characters and as many new ones as there are spare keycodes. It was refused as "the keymap is full":
    # the stretch was sized as if the ten kept keycodes were free to re-bind.
    keymap = Keymap(own_session.display)
    before = keymap.core()
    spare = len(keymap.spares())
    assert spare > 10
    first = cjk(0x6000, spare)
    second = first[:10] + cjk(0x6100, spare)
    app = launch_recorder(own_session, tmp_path)
    adapter = LinuxAdapter(own_session.display)
    try:
        adapter.click(*app.center("entry"))
        adapter.type_text(first)
        app.wait_for(lambda ev: app.last_text() == first)
        adapter.type_text(second)
        app.wait_for(lambda ev: app.last_text() == first + second)
        adapter.close()
        assert keymap.core() == before
    finally:
        adapter.close()
        keymap.close()
        app.stop()


@pytest.mark.parametrize("use_xdotool", [False, True], ids=["xtest", "xdotool"])
def test_a_lone_surrogate_is_refused_before_anything_is_typed(
    own_session: XSession, tmp_path: Path, use_xdotool: bool
) -> None:
    # "x\ud800y" (JSON can carry half a UTF-16 pair) was typed with the surrogate as a keysym: a box glyph.
    app = launch_recorder(own_session, tmp_path)
    adapter = LinuxAdapter(own_session.display, use_xdotool=use_xdotool)
    try:
        adapter.click(*app.center("entry"))
        with pytest.raises(ToolError, match=r"U\+D800.*lone surrogate"):
            adapter.type_text("x\ud800y")
        adapter.type_text("ok")
        app.wait_for(lambda ev: app.last_text() == "ok")
    finally:
        adapter.close()
        app.stop()


def test_server_shutdown_puts_back_the_keys_typing_bound(own_session: XSession, tmp_path: Path) -> None:
    # Characters typed less than RESTORE_AFTER_S before the server stopped stayed bound to the spare keycodes for
    # good (a later server then found the keymap full): nothing closed the cached desktops at shutdown.
    keymap = Keymap(own_session.display)
    before = keymap.core()
    state = build_state(ServerConfig(state_dir=StateDir(tmp_path / "state"), host="127.0.0.1", port=8000))
    try:
        desk = open_desktop(own_session.display)
        desk.adapter.type_text(cjk(0x5100, len(keymap.spares())))
        assert keymap.core() != before
        asyncio.run(state.shutdown())
        assert keymap.core() == before
    finally:
        forget_desktop(own_session.display)
        keymap.close()


# Types some characters the keymap lacks, says so, and waits to be killed.
TYPE_AND_WAIT = """
import sys, time
from contop.platform.linux.adapter import LinuxAdapter
adapter = LinuxAdapter(sys.argv[1])
adapter.type_text(sys.argv[2])
print("typed", flush=True)
time.sleep(60)
"""


def test_keys_left_bound_by_a_killed_process_are_put_back_by_the_next(own_session: XSession) -> None:
    # A server killed (SIGKILL, a crash) within RESTORE_AFTER_S of typing left its keys bound: every restart found
    # fewer spare keycodes, down to none.
    keymap = Keymap(own_session.display)
    before = keymap.core()
    text = cjk(0x5200, 5)
    proc = subprocess.Popen(
        [sys.executable, "-c", TYPE_AND_WAIT, own_session.display, text],
        env=own_session.child_env(),
        stdout=subprocess.PIPE,
    )
    adapter: LinuxAdapter | None = None
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"typed"
        assert keymap.core() != before
        owners = list(keymap.record())
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(keymap.window_exists(w) for w in owners):  # the X server notices the closed connection later
            assert time.monotonic() < deadline, "the killed process's window outlived it"
            time.sleep(0.05)
        assert keymap.core() != before  # still bound: nothing put them back yet
        adapter = LinuxAdapter(own_session.display)
        assert keymap.core() == before
        assert len(owners) == 1
        assert keymap.record() == {}
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        if adapter is not None:
            adapter.close()
        keymap.close()


def test_keys_bound_by_a_live_connection_are_left_alone(own_session: XSession) -> None:
    # Another adapter starting on the same display (the Away Mode's, another server's) must not take the keys of
    # one that is still typing; closing puts them back and drops their record.
    keymap = Keymap(own_session.display)
    before = keymap.core()
    first = LinuxAdapter(own_session.display)
    second: LinuxAdapter | None = None
    try:
        first.type_text(cjk(0x5300, 5))
        bound = keymap.core()
        assert bound != before
        second = LinuxAdapter(own_session.display)
        assert keymap.core() == bound
        assert len(keymap.record()) == 1
        first.close()
        assert keymap.core() == before
        assert keymap.record() == {}
    finally:
        first.close()
        if second is not None:
            second.close()
        keymap.close()
