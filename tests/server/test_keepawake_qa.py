"""Keep-awake where it used to go wrong: the phone told "on" when nothing was applied, a crash record thrown away by
a server on another display, and "off" overwriting a screen saver timeout the user set meanwhile."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.server.keepawake import HostKeepAwake
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.platform.conftest import xsession  # noqa: F401 - fixture
from tests.server.test_keepawake import FakeAdapter, _saver_timeout, _set_saver_timeout

NO_SUCH_DISPLAY = "no-such-display"  # not a display name Xlib can open (and no socket left behind trying)


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers and adapters started by the test see no display unless given one."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


async def _device_control(client: ContopClient, action: str) -> dict[str, Any]:
    message = {"type": "device_control", "id": f"ka-{action}", "payload": {"action": action}}
    reply = await client.request(message, expect_type="device_control_result", timeout=15)
    return reply.payload.model_dump()


@pytest.mark.slow
async def test_keep_awake_on_without_a_display_says_it_is_not_in_effect(no_display: None, tmp_path: Path) -> None:
    """The wish is saved (a later server with a display applies it), but the phone is not told the host is kept
    awake when nothing was applied."""
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home").start)
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="no-display-phone", video=False) as client:
            for _attempt in range(2):  # the second finds the setting on already: still not in effect
                on = await _device_control(client, "keep_awake_on")
                assert on["status"] == "error", on
                assert "not in effect" in on["message"] and "no display" in on["message"], on
                assert on["keep_host_awake"] is True  # the setting, as state_update reports it
            assert json.loads((server.home / "settings.json").read_text())["keep_host_awake"] is True
            off = await _device_control(client, "keep_awake_off")
            assert off["status"] == "success" and off["keep_host_awake"] is False, off
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.x11
@pytest.mark.slow
async def test_a_server_without_a_display_restores_what_a_killed_one_left_on_its_display(
    xsession: XSession, tmp_path: Path, no_display: None
) -> None:
    """README: "the next server puts them back", whatever display (or none) the next server itself has."""
    env = {"DISPLAY": xsession.display, "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"]}
    before = _saver_timeout(xsession.display)
    _set_saver_timeout(xsession.display, 600)
    home = tmp_path / "home"
    server = await asyncio.to_thread(ServerProcess(home, env=env).start)
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="keep-awake-phone", video=False) as client:
            assert (await _device_control(client, "keep_awake_on"))["status"] == "success"
        assert _saver_timeout(xsession.display) == 0
        await asyncio.to_thread(server.stop, signal.SIGKILL)
        assert (home / "keep-awake.json").exists()

        server.env = {}  # restarted from somewhere without DISPLAY (a service, an ssh login)
        await asyncio.to_thread(server.start)
        log = server.log()
        assert "keep-awake left on by a server that stopped" in log and "restored screen saver after 600 s" in log, log
        assert _saver_timeout(xsession.display) == 600
        assert not (home / "keep-awake.json").exists()
    finally:
        await asyncio.to_thread(server.stop)
        _set_saver_timeout(xsession.display, before)


def test_a_record_that_cannot_be_restored_yet_is_kept_for_a_later_server(tmp_path: Path, no_display: None) -> None:
    record = tmp_path / "keep-awake.json"
    held = {"display": NO_SUCH_DISPLAY, "saver": [600, 0, 1, 1], "dpms_was_enabled": True}
    record.write_text(json.dumps({"pid": 1, "undo": held}))
    said = HostKeepAwake(record_path=record).recover()  # the real adapter: that display cannot be opened
    assert said is not None and "not restored (NotAvailableError" in said and "kept in keep-awake.json" in said
    assert json.loads(record.read_text()) == {"left": [held]}

    # A server that turns keep-awake on elsewhere keeps what was left, beside its own record; off keeps it too.
    opened: list[FakeAdapter] = []

    def open_adapter(display: str | None) -> Any:
        opened.append(FakeAdapter(display))
        return opened[-1]

    host = HostKeepAwake(open_adapter, record_path=record)
    said = host.recover()
    assert said is not None and "restored" in said and "kept" not in said  # this opener reaches every display
    assert opened[-1].display == NO_SUCH_DISPLAY and opened[-1].calls == [("undo", held), "close"]
    assert not record.exists()

    record.write_text(json.dumps({"left": [held]}))
    unreachable = HostKeepAwake(lambda display: open_adapter(None) if display is None else _refuse(display),
                                record_path=record)  # fmt: skip
    assert "kept in keep-awake.json" in str(unreachable.recover())
    assert unreachable.apply(True) == "keep-awake on"
    assert json.loads(record.read_text())["left"] == [held]
    assert json.loads(record.read_text())["undo"] == {"saver": [600, 0, 1, 1]}
    assert unreachable.apply(False) == "keep-awake off"
    assert json.loads(record.read_text()) == {"left": [held]}


def _refuse(display: str) -> Any:
    from contop.core.errors import NotAvailableError

    raise NotAvailableError(f"cannot open the X display {display!r}")


@pytest.mark.x11
def test_off_keeps_a_screen_saver_timeout_the_user_set_while_it_was_on(xsession: XSession) -> None:
    """``xset s 300`` while keep-awake is on: turning it off must not bring back the 600 saved when it went on."""
    from contop.platform.linux.adapter import LinuxAdapter

    before = _saver_timeout(xsession.display)
    _set_saver_timeout(xsession.display, 600)
    adapter = LinuxAdapter(xsession.display, session_bus=xsession.env["DBUS_SESSION_BUS_ADDRESS"])
    try:
        adapter.set_keep_awake(True)
        assert _saver_timeout(xsession.display) == 0
        _set_saver_timeout(xsession.display, 300)  # the user, at the desk
        adapter.set_keep_awake(False)
        assert _saver_timeout(xsession.display) == 300

        adapter.set_keep_awake(True)  # left alone meanwhile: the saved value comes back, as before
        assert _saver_timeout(xsession.display) == 0
        adapter.set_keep_awake(False)
        assert _saver_timeout(xsession.display) == 300
    finally:
        adapter.close()
        _set_saver_timeout(xsession.display, before)
