"""``ApiClient`` against a real server behind a relay that closes kept-alive connections like uvicorn does."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from contop.desktop.api import KEEPALIVE_EXPIRY_S, ApiClient, Unreachable, worth_retrying
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
