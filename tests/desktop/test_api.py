"""``ApiClient`` against a real server: behind a relay that closes kept-alive connections like uvicorn does, and
the requests the Settings page makes when the server comes up."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
from collections.abc import Iterator

import httpx
import pytest
from pytestqt.qtbot import QtBot

from contop.desktop.api import KEEPALIVE_EXPIRY_S, ApiClient, Unreachable, worth_retrying
from contop.desktop.pages.settings import SettingsPage
from contop.desktop.tasks import TaskRunner
from contop.testing.server import ServerProcess
from tests.desktop.closing_relay import ClosingRelay

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def relay(server: ServerProcess) -> Iterator[ClosingRelay]:
    with ClosingRelay(server.port) as relay:
        yield relay


@pytest.fixture
def api(relay: ClosingRelay, server: ServerProcess) -> Iterator[ApiClient]:
    client = ApiClient(f"http://127.0.0.1:{relay.port}", lambda: server.admin_token)
    yield client
    client.close()


def test_a_get_on_a_connection_the_server_closes_is_sent_again(api: ApiClient, relay: ClosingRelay) -> None:
    api.health()
    relay.drop_next()
    assert api.pair_status()["claimed"] is False  # the server closed the reused connection: asked again
    assert relay.dropped == 1 and relay.connections == 2


def test_only_one_retry(api: ApiClient, relay: ClosingRelay) -> None:
    relay.drop_next(5, reused_only=False)
    with pytest.raises(Unreachable, match="RemoteProtocolError"):
        api.pair_status()
    assert relay.dropped == 2  # the second failure is reported


def test_a_post_is_not_sent_twice(api: ApiClient, relay: ClosingRelay, server: ServerProcess) -> None:
    api.health()
    relay.drop_next()
    with pytest.raises(Unreachable, match="RemoteProtocolError"):
        api.pair()  # the server may have issued the code: sending it again would issue another
    assert relay.dropped == 1


def test_an_idle_connection_is_not_reused_as_long_as_the_server_keeps_it(api: ApiClient, relay: ClosingRelay) -> None:
    # uvicorn closes a connection after 5 s without a request; reusing one that old races with that close.
    api.health()
    time.sleep(KEEPALIVE_EXPIRY_S + 0.3)
    api.health()
    assert relay.connections == 2
    assert KEEPALIVE_EXPIRY_S <= 2.5  # well below the server's 5 s


def test_worth_retrying() -> None:
    lost = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    assert worth_retrying("GET", lost) and worth_retrying("put", lost) and worth_retrying("DELETE", lost)
    assert worth_retrying("GET", httpx.ReadError("Connection reset by peer"))
    assert not worth_retrying("POST", lost)
    assert not worth_retrying("GET", httpx.ConnectError("refused"))  # the server is down: say so at once
    assert not worth_retrying("GET", httpx.ReadTimeout("slow"))


def test_the_settings_page_finds_away_mode_without_a_request_the_server_logs_as_an_error(
    qtbot: QtBot, server: ServerProcess
) -> None:
    # It used to send an empty PIN change to see whether the route exists: a 422 in the server's log at every start.
    tasks = TaskRunner()
    api = ApiClient(server.base_url, lambda: server.admin_token)
    page = SettingsPage(api, tasks)
    qtbot.addWidget(page)
    try:
        page.server_ready()
        qtbot.waitUntil(lambda: page.pins_available, timeout=20_000)
        assert page.pin.isEnabled() and page.pins_note.isHidden()
        # A request that fails, as a marker: its line shows the log has the failures in it by now.
        assert server.request("GET", "/api/no-such-route").status_code == 404
        qtbot.waitUntil(lambda: "/api/no-such-route" in server.log(), timeout=10_000)
        log = server.log()
        assert "away-mode/pin" not in log
        assert " 422" not in log
        assert api.away_mode_available()
    finally:
        tasks.shutdown()
        api.close()
