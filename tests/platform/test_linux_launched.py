"""The launched-window watch on Xvfb: which top-level window a set of processes shows, with and without a window
manager; the decision rules on their own."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from contop.platform.linux.launched import OpenedWindow, TopLevel, WindowWatch, shows, window_owner
from contop.testing.xsession import XSession, start_xsession

pytestmark = pytest.mark.x11


def test_window_owner_uses_the_resource_base() -> None:
    owners = {0x400000: 11, 0x600000: 22}
    assert window_owner(0x400031, owners, 0x1FFFFF) == 11
    assert window_owner(0x600000, owners, 0x1FFFFF) == 22
    assert window_owner(0x800005, owners, 0x1FFFFF) is None


def test_what_counts_as_an_opened_window() -> None:
    assert shows(TopLevel(1, managed=True, viewable=False, override_redirect=False))  # iconic, but managed
    assert shows(TopLevel(1, managed=False, viewable=True, override_redirect=False))  # no window manager
    assert not shows(TopLevel(1, managed=False, viewable=True, override_redirect=True))  # a menu or tooltip
    assert not shows(TopLevel(1, managed=False, viewable=False, override_redirect=False))  # never mapped


def test_app_name_falls_back_to_the_title() -> None:
    assert OpenedWindow(1, 5, "Hello", "xmessage").app == "xmessage"
    assert OpenedWindow(1, 5, "Hello", "").app == "Hello"
    assert OpenedWindow(1, 5, "", "").app == "pid 5"


async def _watch_finds(session: XSession, title: str) -> None:
    proc = session.spawn("xmessage", ["xmessage", "-title", title, "launched-window test"])
    watch = WindowWatch(session.display, lambda pid: pid == proc.pid, first_poll_s=0.05, poll_s=0.05)
    others = WindowWatch(session.display, lambda pid: False, first_poll_s=0.05, poll_s=0.05)
    try:
        found = await asyncio.wait_for(watch.found, 10)
        assert found.pid == proc.pid
        assert found.title == title
        assert found.process_name == "xmessage"
        await asyncio.sleep(0.3)
        assert not others.found.done()  # a window of someone else is no window of ours
    finally:
        await watch.aclose()
        await others.aclose()
        proc.terminate()
        proc.wait(5)


async def test_finds_the_window_the_window_manager_manages(xsession: XSession) -> None:
    await _watch_finds(xsession, "managed one")


async def test_finds_a_mapped_root_window_without_a_window_manager() -> None:
    session = start_xsession("640x480x24", window_manager=False, dbus=False)
    try:
        await _watch_finds(session, "bare one")
    finally:
        session.close()


async def test_a_connection_without_a_window_is_not_reported(xsession: XSession) -> None:
    # xprop -spy keeps an X connection open and never maps a window.
    proc = subprocess.Popen(
        ["xprop", "-root", "-spy", "_NET_ACTIVE_WINDOW"],
        env=xsession.child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watch = WindowWatch(xsession.display, lambda pid: pid == proc.pid, first_poll_s=0.05, poll_s=0.05)
    try:
        await asyncio.sleep(1.0)
        assert not watch.found.done()
    finally:
        await watch.aclose()
        proc.terminate()
        proc.wait(5)


async def test_no_display_reports_nothing_and_closes_at_once() -> None:
    watch = WindowWatch(":9876", lambda pid: True, first_poll_s=0.01, poll_s=0.01)
    await asyncio.sleep(0.2)
    assert not watch.found.done()
    started = time.monotonic()
    await watch.aclose()
    await watch.aclose()
    assert time.monotonic() - started < 0.5
