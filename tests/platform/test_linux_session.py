"""Clipboard, idle time and keep-awake on the real X session."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from contop.testing.xsession import XSession

pytestmark = pytest.mark.x11


@pytest.mark.parametrize("text", ["plain ascii", "héllo wörld — ünïcödé ✓ 日本語\nsecond line\ttab", ""])
def test_clipboard_round_trip(linux_adapter: Any, text: str) -> None:
    t0 = time.monotonic()
    linux_adapter.clipboard_write(text)
    assert time.monotonic() - t0 < 2.5  # xclip stays alive to own the selection; the write must not wait for it
    assert linux_adapter.clipboard_read() == text


def test_clipboard_with_xsel(xsession: XSession) -> None:
    from contop.platform.linux.clipboard import XClipboard

    clip = XClipboard(xsession.display)
    clip._xclip = None  # force the xsel path
    clip.write("via xsel ✓")
    assert clip.read() == "via xsel ✓"


def test_the_clipboard_helper_does_not_inherit_the_servers_secrets(
    xsession: XSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contop.platform.linux.clipboard import XClipboard

    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-clipboard")
    monkeypatch.setenv("CONTOP_HOME", "/fake/state")
    XClipboard(xsession.display).write("owned by xclip")  # xclip stays alive as the selection's owner
    owners = []
    for entry in os.listdir("/proc"):
        try:
            if Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].endswith(b"xclip"):
                owners.append(Path(f"/proc/{entry}/environ").read_bytes())
        except (OSError, ValueError):
            continue
    assert owners
    for environ in owners:
        assert b"sk-fake-clipboard" not in environ and b"/fake/state" not in environ


def test_idle_time_grows_and_resets_on_input(linux_adapter: Any) -> None:
    linux_adapter.move_mouse(10, 10)
    first = linux_adapter.idle_seconds()
    assert first < 0.5
    time.sleep(0.6)
    later = linux_adapter.idle_seconds()
    assert later >= first + 0.5
    linux_adapter.move_mouse(20, 20)
    assert linux_adapter.idle_seconds() < 0.3


def test_keep_awake_turns_the_screen_saver_off_and_restores_it(xsession: XSession, linux_adapter: Any) -> None:
    from Xlib import display

    d = display.Display(xsession.display)
    try:
        d.set_screen_saver(600, 600, 1, 1)
        d.sync()
        linux_adapter.set_keep_awake(True)
        assert d.get_screen_saver().timeout == 0
        assert "x-screensaver-off" in linux_adapter.keep_awake_mechanisms
        linux_adapter.set_keep_awake(True)  # idempotent
        linux_adapter.set_keep_awake(False)
        assert d.get_screen_saver().timeout == 600
        assert linux_adapter.keep_awake_mechanisms == []
    finally:
        d.close()


def test_keep_awake_takes_the_screensaver_inhibitor_when_a_desktop_offers_one(
    xsession: XSession, linux_adapter: Any
) -> None:
    """A fake org.freedesktop.ScreenSaver on the private session bus sees Inhibit, then UnInhibit with the cookie."""
    import threading

    from jeepney import HeaderFields, MessageType, message_bus, new_method_return
    from jeepney.io.blocking import open_dbus_connection

    calls: list[tuple[str, tuple[Any, ...]]] = []
    conn = open_dbus_connection(bus=xsession.env["DBUS_SESSION_BUS_ADDRESS"])
    reply = conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.ScreenSaver"), timeout=5)
    assert reply.body[0] == 1  # primary owner
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                msg = conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            calls.append((member, tuple(msg.body)))
            conn.send(new_method_return(msg, "u", (4242,)) if member == "Inhibit" else new_method_return(msg))

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        linux_adapter.set_keep_awake(True, reason="running a task")
        assert "org.freedesktop.ScreenSaver" in linux_adapter.keep_awake_mechanisms
        linux_adapter.set_keep_awake(False)
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls == [("Inhibit", ("Contop", "running a task")), ("UnInhibit", (4242,))]
    finally:
        stop.set()
        server.join(5)
        conn.close()
