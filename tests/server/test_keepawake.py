"""Keep-awake: turning it off undoes what turning it on did (a fake adapter), and on a real X session the screen
saver timeout comes back after "off" and after the server stops."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from contop.client.client import ContopClient
from contop.core.errors import NotAvailableError
from contop.core.settings import Settings
from contop.server.keepawake import HostKeepAwake
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession
from tests.platform.conftest import xsession  # noqa: F401 - fixture


class FakeAdapter:
    def __init__(self, display: str | None = None) -> None:
        self.display = display
        self.calls: list[Any] = []

    def set_keep_awake(self, on: bool) -> None:
        self.calls.append(on)

    def keep_awake_undo(self) -> dict[str, Any] | None:
        return {"saver": [600, 0, 1, 1]}

    def undo_keep_awake(self, record: dict[str, Any]) -> str:
        self.calls.append(("undo", record))
        return "restored"

    def close(self) -> None:
        self.calls.append("close")


def test_while_on_a_record_says_what_to_put_back_and_the_next_server_does(tmp_path: Path) -> None:
    record = tmp_path / "keep-awake.json"
    opened: list[FakeAdapter] = []

    def open_adapter(display: str | None) -> Any:
        opened.append(FakeAdapter(display))
        return opened[-1]

    host = HostKeepAwake(open_adapter, record_path=record)
    assert host.recover() is None and opened == []  # nothing was left: no adapter opened
    host.apply(True)
    assert json.loads(record.read_text())["undo"] == {"saver": [600, 0, 1, 1]}
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    host.apply(False)
    assert not record.exists()  # turned off properly: nothing to put back

    host.apply(True)  # ... and the server is killed here: the next one finds the record
    after_crash = HostKeepAwake(open_adapter, record_path=record)
    said = after_crash.recover()
    assert said is not None and "restored" in said
    assert opened[-1].calls == [("undo", {"saver": [600, 0, 1, 1]}), "close"]
    assert not record.exists()

    record.write_text("{half")
    said = HostKeepAwake(open_adapter, record_path=record).recover()
    assert said is not None and "unreadable" in said and not record.exists()


def test_a_keep_awake_record_that_is_a_folder_is_removed_only_when_empty_and_the_log_says_so(tmp_path: Path) -> None:
    record = tmp_path / "keep-awake.json"
    record.mkdir()
    said = HostKeepAwake(FakeAdapter, record_path=record).recover()
    assert said is not None and said.startswith("an unreadable keep-awake.json was removed") and not record.exists()
    (record / "notes").mkdir(parents=True)
    said = HostKeepAwake(FakeAdapter, record_path=record).recover()
    assert said == (
        f"{record} cannot be read ([Errno 21] Is a directory: '{record}') nor removed (Directory not empty): "
        "remove it by hand"
    )
    assert record.exists()


def test_off_releases_what_on_acquired() -> None:
    opened: list[FakeAdapter] = []

    def open_adapter(display: str | None) -> Any:
        opened.append(FakeAdapter(display))
        return opened[-1]

    host = HostKeepAwake(open_adapter)
    assert host.apply(False) == "keep-awake off" and opened == []  # nothing was on: nothing to open
    assert host.apply(True) == "keep-awake on" and host.on
    assert host.apply(True) == "keep-awake on" and len(opened) == 1  # already on: the same adapter holds it
    assert host.apply(False) == "keep-awake off" and not host.on
    assert opened[0].calls == [True, False, "close"]
    host.listener(Settings(keep_host_awake=False), Settings(keep_host_awake=True))
    assert len(opened) == 2 and opened[1].calls == [True]
    asyncio.run(host.aclose())
    assert opened[1].calls == [True, False, "close"] and not host.on


def test_a_desktop_that_refuses_is_reported_not_raised() -> None:
    def no_desktop(display: str | None) -> Any:
        raise NotAvailableError("no display")

    host = HostKeepAwake(no_desktop)
    assert host.apply(True) == "keep-awake not applied: no display" and not host.on

    class Refusing(FakeAdapter):
        def set_keep_awake(self, on: bool) -> None:
            raise RuntimeError("D-Bus said no")

    refusing = Refusing()
    host = HostKeepAwake(lambda _display: refusing)  # type: ignore[arg-type,return-value]
    assert host.apply(True) == "keep-awake not applied: RuntimeError: D-Bus said no"
    assert refusing.calls == ["close"] and not host.on


def _saver_timeout(display: str) -> int:
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        return int(d.get_screen_saver().timeout)
    finally:
        d.close()


def _set_saver_timeout(display: str, timeout: int) -> None:
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        ss = d.get_screen_saver()
        d.set_screen_saver(timeout, ss.interval, ss.prefer_blanking, ss.allow_exposures)
        d.sync()
    finally:
        d.close()


@pytest.mark.x11
@pytest.mark.slow
async def test_keep_awake_off_lets_the_desktop_sleep_again(xsession: XSession, tmp_path: Path) -> None:
    env = {"DISPLAY": xsession.display, "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"]}
    before = _saver_timeout(xsession.display)
    _set_saver_timeout(xsession.display, 600)
    server = await asyncio.to_thread(ServerProcess(tmp_path / "home", env=env).start)
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="keep-awake-phone", video=False) as client:

            async def control(action: str) -> dict[str, Any]:
                message = {"type": "device_control", "id": f"ka-{action}", "payload": {"action": action}}
                reply = await client.request(message, expect_type="device_control_result", timeout=15)
                return reply.payload.model_dump()

            assert (await control("keep_awake_on"))["keep_host_awake"] is True
            assert _saver_timeout(xsession.display) == 0
            assert (await control("keep_awake_off"))["keep_host_awake"] is False
            assert _saver_timeout(xsession.display) == 600
            assert (await control("keep_awake_off"))["status"] == "success"
            assert _saver_timeout(xsession.display) == 600
            await control("keep_awake_on")
            assert _saver_timeout(xsession.display) == 0
        assert await asyncio.to_thread(server.stop) == 0
        assert _saver_timeout(xsession.display) == 600  # a stopped server keeps nothing awake
    finally:
        await asyncio.to_thread(server.stop)
        _set_saver_timeout(xsession.display, before)


@pytest.mark.x11
@pytest.mark.slow
async def test_a_server_killed_holding_keep_awake_does_not_leave_the_screen_saver_off(
    xsession: XSession, tmp_path: Path
) -> None:
    env = {"DISPLAY": xsession.display, "DBUS_SESSION_BUS_ADDRESS": xsession.env["DBUS_SESSION_BUS_ADDRESS"]}
    before = _saver_timeout(xsession.display)
    _set_saver_timeout(xsession.display, 600)
    home = tmp_path / "home"
    server = await asyncio.to_thread(ServerProcess(home, env=env).start)
    try:
        url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
        async with ContopClient(url, device_id="keep-awake-phone", video=False) as client:
            message = {"type": "device_control", "id": "ka-on", "payload": {"action": "keep_awake_on"}}
            await client.request(message, expect_type="device_control_result", timeout=15)
        assert _saver_timeout(xsession.display) == 0
        await asyncio.to_thread(server.stop, signal.SIGKILL)
        assert _saver_timeout(xsession.display) == 0  # nobody could turn it off

        # The setting is still on, so the next server keeps the desktop awake again, and off means 600 s again.
        await asyncio.to_thread(server.start)
        assert _saver_timeout(xsession.display) == 0
        assert "keep-awake left on by a server that stopped" in server.log()
        settings = server.request("GET", "/api/settings").json()
        server.request("PUT", "/api/settings", json={**settings, "keep_host_awake": False}).raise_for_status()
        assert _saver_timeout(xsession.display) == 600
        assert not (home / "keep-awake.json").exists()
    finally:
        await asyncio.to_thread(server.stop)
        _set_saver_timeout(xsession.display, before)
