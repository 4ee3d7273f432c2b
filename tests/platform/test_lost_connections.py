"""A display or an accessibility bus that goes away, on real processes: each test starts its own Xvfb (and AT-SPI
bus) so it can kill them. The errors say what is gone instead of an empty ``AssertionError``, an empty clipboard
or a ``BrokenPipeError``, and accessibility works again once its bus is back, without a restart."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contop.core.errors import NotAvailableError, ToolError
from contop.platform.capture import MONITORS_TTL_S, ScreenCapturer
from contop.platform.linux.clipboard import XClipboard, clipboard_failure
from contop.testing.xsession import XSession, _kill_group, _start_atspi, start_xsession
from contop.tools.context import ToolContext
from contop.tools.desktop import forget_desktop

from .conftest import wait_until_active

pytestmark = pytest.mark.x11

QT_APP = Path(__file__).with_name("qt_app.py")
QT_A11Y_ENV = {"QT_ACCESSIBILITY": "1", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}


def _unused_display() -> str:
    """A display number far above the ones X sessions pick for themselves (the lowest free one): once this test
    kills its Xvfb, no other session (another test run on the machine) takes the number over in the meantime."""
    for _ in range(50):
        number = random.randrange(3000, 6000)
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return f":{number}"
    raise AssertionError("no free display number")


@pytest.fixture
def own_session() -> Iterator[XSession]:
    """An X session of this test alone, with its AT-SPI bus: the test may kill its parts."""
    session = start_xsession("1024x768x24", atspi=True, xvfb_args=[_unused_display()])
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def tools_on(own_session: XSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ToolContext]:
    """A tool context whose desktop is ``own_session``; the cached desktop is dropped before and after."""
    forget_desktop(None)
    monkeypatch.setenv("DISPLAY", own_session.display)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", own_session.env["DBUS_SESSION_BUS_ADDRESS"])
    try:
        yield ToolContext(session_id="lost", state_dir=tmp_path / "state", home=str(tmp_path), cwd=str(tmp_path))
    finally:
        forget_desktop(None)


def _stop(session: XSession, name: str) -> None:
    proc = next(p for n, p in session._procs if n == name)
    _kill_group(name, proc)


def _start_qt_app(session: XSession, tmp_path: Path, title: str) -> Any:
    log = tmp_path / f"qt-{time.monotonic_ns()}.jsonl"
    log.touch()
    proc = session.spawn("qt-app", [sys.executable, str(QT_APP), str(log), "--title", title], QT_A11Y_ENV)
    deadline = time.monotonic() + 20
    while not any(json.loads(line)["event"] == "ready" for line in log.read_text().splitlines() if line.strip()):
        assert time.monotonic() < deadline, "the Qt app did not start"
        time.sleep(0.05)
    wait_until_active(session, title)
    return proc


def test_a_capturer_whose_display_died_says_so_on_every_call(own_session: XSession) -> None:
    capturer = ScreenCapturer(own_session.display)
    try:
        capturer.capture()
        _stop(own_session, "Xvfb")
        time.sleep(MONITORS_TTL_S + 0.1)  # the monitor list is read again from the (dead) display
        for _ in range(3):  # mss leaves its cache empty after the first failure: later calls read it again
            with pytest.raises(NotAvailableError, match=r"the X display '[^']+' cannot be reached: \S"):
                capturer.monitor_rect()
        with pytest.raises(NotAvailableError, match="no usable display"):
            capturer.capture()
    finally:
        capturer.close()


async def test_tools_on_a_display_that_died_give_a_clear_error(tools_on: ToolContext, own_session: XSession) -> None:
    from contop.tools.gui import execute_gui
    from contop.tools.screen import get_ui_context, observe_screen
    from contop.tools.windows import clipboard_read, resize_window

    first = await observe_screen(tools_on, "understanding")
    assert first["status"] == "success"
    _stop(own_session, "Xvfb")
    time.sleep(MONITORS_TTL_S + 0.1)
    calls = [
        lambda: observe_screen(tools_on, "understanding"),
        lambda: observe_screen(tools_on, "grounding"),
        lambda: execute_gui(tools_on, "move_mouse", x=5, y=5),
        lambda: execute_gui(tools_on, "click", x=5, y=5),
        lambda: resize_window(tools_on, 300, 300),
        lambda: clipboard_read(tools_on),
    ]
    for _ in range(3):  # the tools run in a pool of threads, each with its own screen connection
        for call in calls:
            with pytest.raises(ToolError) as caught:
                await call()
            message = str(caught.value)
            assert "display" in message and not message.rstrip().endswith(":"), message
    try:  # text only: says accessibility is not available, and why (or that there is no desktop at all)
        message = (await get_ui_context(tools_on))["note"]
    except ToolError as exc:
        message = str(exc)
    assert "display" in message and not message.rstrip().endswith(":"), message


def test_a_read_of_the_clipboard_without_a_display_is_an_error_not_empty_text(own_session: XSession) -> None:
    clipboard = XClipboard(own_session.display)
    assert clipboard.read() == ""  # nobody owns the clipboard yet: that is an empty clipboard
    clipboard.write("kept")
    assert clipboard.read() == "kept"
    _stop(own_session, "Xvfb")
    with pytest.raises(NotAvailableError, match="cannot be reached"):
        clipboard.read()


def test_what_a_failed_clipboard_read_means() -> None:
    assert clipboard_failure("xclip", ":5", "Error: target STRING not available\n") == ""
    assert clipboard_failure("xclip", ":5", "Error: target UTF8_STRING not available") == ""
    with pytest.raises(NotAvailableError, match=r"':5' cannot be reached.*Can't open display"):
        clipboard_failure("xclip", ":5", "Error: Can't open display: :5\n")
    with pytest.raises(NotAvailableError, match="cannot be reached"):
        clipboard_failure("xsel", ":5", "xsel: Can't open display: (null)\n: Connection refused\n")
    with pytest.raises(ToolError, match=r"reading the clipboard failed.*BadAlloc"):
        clipboard_failure("xclip", ":5", "X Error: BadAlloc")


async def test_accessibility_comes_back_with_its_bus(
    own_session: XSession, tools_on: ToolContext, tmp_path: Path
) -> None:
    from contop.platform.linux.adapter import LinuxAdapter
    from contop.tools.screen import observe_screen

    app = _start_qt_app(own_session, tmp_path, "Before the bus died")
    adapter = LinuxAdapter(own_session.display, session_bus=own_session.env["DBUS_SESSION_BUS_ADDRESS"])
    try:
        assert "Press me" in {e.name for e in adapter.get_interactive_elements()}
        seen = await observe_screen(tools_on)
        assert seen["element_source"] == "accessibility"

        _stop(own_session, "at-spi-bus-launcher")
        with pytest.raises(NotAvailableError, match="connection to the accessibility bus was lost"):
            adapter.get_interactive_elements()
        blind = await observe_screen(tools_on)  # as for an application that does not answer: OCR stands in
        assert blind["status"] == "success" and blind["fallback"] == "ocr"
        assert "accessibility bus was lost" in blind["note"]

        _start_atspi(own_session, time.monotonic() + 20)
        app.terminate()
        app.wait(5)
        app = _start_qt_app(own_session, tmp_path, "After the bus came back")
        assert adapter.capabilities()["accessibility"] is True
        assert "Press me" in {e.name for e in adapter.get_interactive_elements()}
        again = await observe_screen(tools_on)
        assert again["element_source"] == "accessibility", again.get("note")
    finally:
        adapter.close()
        app.terminate()
        app.wait(5)
