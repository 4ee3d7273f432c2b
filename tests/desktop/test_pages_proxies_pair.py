"""The Proxies and Pair pages against a real server: which proxy port gets saved, port fields out of range, a used
temporary code, the pair page when the server is gone."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from contop.desktop.api import ApiClient
from contop.desktop.pages.pair import CLAIMED, SERVER_GONE, PairPage, code_used
from contop.desktop.pages.proxies import ProxiesPage, saved_port
from contop.desktop.proxies import ProxyManager, ProxyStatus
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import NumberField
from contop.testing.server import ServerProcess
from tests.desktop.test_app import FAST_PROXIES, make_window, put_settings
from tests.desktop.test_proxies import fake, free_port
from tests.server.test_tunnel import FAKE_CLOUDFLARED, fake_bin
from tests.server.wsutil import offer, signal_once

pytestmark = pytest.mark.timeout(120)
WAIT = 20_000


def settings_url(server: ServerProcess, provider: str) -> object:
    return server.request("GET", "/api/settings").json()["provider_auth"][provider].get("proxy_url")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on, as ``python3 -m http.server PORT`` would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


class Proxies:
    """A Proxies page with fake proxies, talking to ``server`` through ``api``."""

    def __init__(self, server: ServerProcess, api: ApiClient | None = None) -> None:
        self.api = api or ApiClient(server.base_url, lambda: server.admin_token)
        self.tasks = TaskRunner()
        self.manager = ProxyManager(server.home, fake(), FAST_PROXIES)
        self.page = ProxiesPage(self.manager, self.tasks, self.api)

    def close(self) -> None:
        self.manager.stop_all()
        self.page.timer.stop()
        self.tasks.shutdown()
        self.api.close()


@pytest.fixture
def proxies(qtbot: QtBot, server: ServerProcess) -> Iterator[Proxies]:
    made = Proxies(server)
    qtbot.addWidget(made.page)
    try:
        yield made
    finally:
        made.close()


# --- the port that gets saved


def test_a_port_the_proxy_could_not_use_is_not_saved(
    proxies: Proxies, qtbot: QtBot, server: ServerProcess, taken_port: int
) -> None:
    page = proxies.page
    before = settings_url(server, "anthropic")
    page.ports["anthropic"].setValue(taken_port)
    page.start("anthropic")
    qtbot.waitUntil(lambda: "already used" in page.details["anthropic"].text(), timeout=WAIT)
    qtbot.waitUntil(lambda: "not saved" in page.message.text(), timeout=WAIT)
    assert f"Port {taken_port} is not saved for Anthropic" in page.message.text()
    proxies.tasks.wait_idle()
    assert settings_url(server, "anthropic") == before  # the server does not send conversations to that program
    assert page.saved_ports["anthropic"] == 3456

    port = free_port()  # another port, which the proxy can use: saved once it answers there
    page.ports["anthropic"].setValue(port)
    page.start("anthropic")
    qtbot.waitUntil(lambda: page.message.text().startswith(f"Port {port} saved for Anthropic"), timeout=WAIT)
    assert "Running" in page.chips["anthropic"].text()
    assert settings_url(server, "anthropic") == f"http://127.0.0.1:{port}"


def test_a_reset_since_the_page_read_the_settings_is_not_taken_for_the_saved_port(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    port = free_port()
    put_settings(server, {"proxy_auto_start": False, "provider_auth.anthropic.proxy_url": f"http://127.0.0.1:{port}"})
    win = make_window(qapp, server, ProxyManager(server.home, fake(), FAST_PROXIES))
    page = win.proxies_page
    try:
        qtbot.waitUntil(lambda: page.ports["anthropic"].value() == port, timeout=WAIT)
        # Reset by another client: this page has not heard of it when the proxy starts.
        assert server.request("POST", "/api/settings/reset").status_code == 200
        assert settings_url(server, "anthropic") in (None, "")
        page.start("anthropic")
        qtbot.waitUntil(lambda: page.message.text().startswith(f"Port {port} saved for Anthropic"), timeout=WAIT)
        assert settings_url(server, "anthropic") == f"http://127.0.0.1:{port}"

        # A reset through the Settings page: the page follows at once, field and all, for a stopped proxy.
        page.stop("anthropic")
        qtbot.waitUntil(lambda: "Stopped" in page.chips["anthropic"].text(), timeout=WAIT)
        win.tasks.run(win.api.reset_settings, win.settings._saved)
        qtbot.waitUntil(lambda: page.ports["anthropic"].value() == 3456, timeout=WAIT)
        assert page.saved_ports["anthropic"] == 3456
    finally:
        win.quit_app()
        win.api.close()


class SlowSettingsApi(ApiClient):
    """A link on which reading the settings takes a while, so that two saves overlap."""

    def get_settings(self) -> dict[str, Any]:
        data = super().get_settings()
        time.sleep(0.8)
        return data


def test_two_ports_saved_at_once_are_both_kept(qtbot: QtBot, server: ServerProcess) -> None:
    made = Proxies(server, SlowSettingsApi(server.base_url, lambda: server.admin_token))
    qtbot.addWidget(made.page)
    page = made.page
    try:
        ports = {"gemini": free_port(), "openai": free_port()}
        for provider, port in ports.items():
            page.ports[provider].setValue(port)
            page.start(provider)
        for provider in ports:
            qtbot.waitUntil(lambda p=provider: "Running" in page.chips[p].text(), timeout=WAIT)
        qtbot.waitUntil(lambda: page.message.text().startswith("Port"), timeout=WAIT)
        qtbot.waitUntil(lambda: made.tasks.wait_idle(0) and "Saving" not in page.message.text(), timeout=WAIT)
        for provider, port in ports.items():
            assert settings_url(server, provider) == f"http://127.0.0.1:{port}"
    finally:
        made.close()


def test_saved_port_from_settings() -> None:
    assert saved_port({}, "gemini") == 3457
    assert saved_port({"provider_auth": {"gemini": {"proxy_url": "http://127.0.0.1:4000"}}}, "gemini") == 4000
    assert saved_port({"provider_auth": {"gemini": {"proxy_url": "http://10.0.0.5:4000"}}}, "gemini") == 3457


# --- numbers out of range


def test_a_number_field_has_no_value_outside_its_range(qtbot: QtBot) -> None:
    field = NumberField(1024, 65535, 3456)
    qtbot.addWidget(field)
    assert field.value() == 3456 and field.problem() is None
    for text in ("99999", "0", "", "80"):
        field.setText(text)  # what the validator lets a user type (half-typed text is "intermediate")
        assert field.value() is None, text
        assert "1024 to 65535" in (field.problem() or ""), text
        assert "#b42323" in field.styleSheet()
    field.setText("65535")
    assert field.value() == 65535 and field.styleSheet() == ""
    minutes = NumberField(1, 1440, 5, "minutes")
    qtbot.addWidget(minutes)
    minutes.setText("")
    assert minutes.value() is None and minutes.problem() == "empty: enter a whole number from 1 to 1440 minutes"


@pytest.mark.parametrize("text", ["99999", "0", ""])
def test_a_port_out_of_range_starts_nothing_and_saves_nothing(
    proxies: Proxies, qtbot: QtBot, server: ServerProcess, text: str
) -> None:
    page = proxies.page
    sup = proxies.manager.supervisors["gemini"]
    page.ports["gemini"].setText(text)
    page.start("gemini")
    assert sup.status is ProxyStatus.STOPPED and sup.port == 3457
    assert "1024 to 65535" in page.details["gemini"].text()
    assert "not started" in page.details["gemini"].text()
    qtbot.wait(1600)  # two refreshes of the page: the error stays, nothing starts
    assert sup.status is ProxyStatus.STOPPED and sup.pid is None
    assert "1024 to 65535" in page.details["gemini"].text()
    proxies.tasks.wait_idle()
    assert settings_url(server, "gemini") in (None, "")
    page.ports["gemini"].setValue(free_port())  # a usable port: the error goes
    assert page.details["gemini"].text() == ""


def test_an_empty_auto_engage_field_is_not_saved_as_one_minute(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    win = make_window(qapp, server)
    page = win.settings
    try:
        qtbot.waitUntil(lambda: page.snapshot is not None, timeout=WAIT)
        label = page.errors["away_mode.auto_engage_minutes"]
        for text, says in (("", "empty"), ("0", "from 1 to 1440")):
            page.auto_engage.setText(text)
            page.save()
            assert "Fix the highlighted fields" in page.message.text()
            assert label.isVisibleTo(page) and says in label.text()
            assert server.request("GET", "/api/settings").json()["away_mode"]["auto_engage_minutes"] == 5
    finally:
        win.quit_app()
        win.api.close()


# --- the pair page


@pytest.fixture
def pair_page(qtbot: QtBot, server: ServerProcess) -> Iterator[PairPage]:
    api = ApiClient(server.base_url, lambda: server.admin_token)
    tasks = TaskRunner()
    page = PairPage(api, tasks)
    qtbot.addWidget(page)
    try:
        yield page
    finally:
        page.timer.stop()
        tasks.shutdown()
        api.close()


def test_a_used_temporary_code_is_shown_as_used(qtbot: QtBot, tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home", env=fake_bin(tmp_path, FAKE_CLOUDFLARED)) as server:
        api = ApiClient(server.base_url, lambda: server.admin_token)
        tasks = TaskRunner()
        page = PairPage(api, tasks)
        qtbot.addWidget(page)
        try:
            page.server_ready()
            qtbot.waitUntil(lambda: page.permanent.current is not None and page._net is not None, timeout=WAIT)
            page.create_temporary()
            qtbot.waitUntil(lambda: page.temporary.current is not None, timeout=WAIT)
            temp = page.temporary.current
            assert temp is not None and temp["connection_type"] == "temp"
            qtbot.waitUntil(lambda: not page._polling and not page._busy, timeout=WAIT)
            page.refresh()  # "New code" on the permanent side: the server's pairing status follows that one now
            qtbot.waitUntil(lambda: not page._busy, timeout=WAIT)

            signal_once(server.port, temp["token"], offer("phone-far", name="Far phone"))
            page.poll()
            qtbot.waitUntil(lambda: page.temporary.current is None, timeout=WAIT)
            assert "used this code" in page.temporary.image.text()
            assert not page.temporary.copy.isEnabled() and page.temporary.url.text() == ""
        finally:
            page.timer.stop()
            tasks.shutdown()
            api.close()


def test_code_used_matches_a_device_by_the_codes_expiry() -> None:
    code = {"connection_type": "temp", "expires_at": "2026-01-01T14:00:00.123456Z"}
    assert not code_used(code, [])
    assert not code_used(code, [{"connection_type": "permanent", "expires_at": "2026-01-01T14:00:00.123456Z"}])
    assert not code_used(code, [{"connection_type": "temp", "expires_at": "2026-01-01T14:00:00.000001Z"}])
    assert code_used(code, [{"connection_type": "temp", "expires_at": "2026-01-01T14:00:00.123456Z"}])
    assert not code_used({"connection_type": "temp", "expires_at": None}, [{"connection_type": "temp"}])


def test_the_pair_page_takes_its_codes_away_when_the_server_is_gone(pair_page: PairPage, qtbot: QtBot) -> None:
    page = pair_page
    page.server_ready()
    qtbot.waitUntil(lambda: page.permanent.current is not None, timeout=WAIT)
    shown = page.permanent.current
    assert shown is not None
    page.server_gone()
    assert page.permanent.current is None and page.permanent.url.text() == ""
    assert page.permanent.image.pixmap().isNull() and page.permanent.image.text() == SERVER_GONE
    assert not page.permanent.copy.isEnabled() and not page.refresh_btn.isEnabled()
    assert not page.temp_btn.isEnabled()
    assert page.status_line.text() == SERVER_GONE
    page._got_permanent(shown)  # an answer that was on its way: stale
    assert page.permanent.current is None and page.status_line.text() == SERVER_GONE

    page.server_ready()  # the server runs again
    qtbot.waitUntil(lambda: page.permanent.current is not None, timeout=WAIT)
    assert page.refresh_btn.isEnabled() and page.temp_btn.isEnabled()


def test_an_answer_without_a_url_is_an_error_shown_to_the_user(pair_page: PairPage) -> None:
    page = pair_page
    page._got_permanent({"token": "x", "expires_at": None})  # no KeyError out of the event loop
    assert page.status_line.text() == "Could not get a pairing code: the server's answer holds no pairing URL"
    assert page.permanent.current is None and page.issued == 0
    page._got_temporary({"token": "y"})
    assert page.temp_note.text() == "Could not get a temporary code: the server's answer holds no pairing URL."
    assert page.temporary.current is None and page.temp_btn.isEnabled()


def test_the_fresh_code_after_a_claim_says_so(pair_page: PairPage, qtbot: QtBot, server: ServerProcess) -> None:
    page = pair_page
    page.refresh()
    qtbot.waitUntil(lambda: page.permanent.current is not None, timeout=WAIT)
    first = page.permanent.current
    assert first is not None
    signal_once(server.port, first["token"], offer("phone-1", name="Pixel 8"))
    page.poll()
    qtbot.waitUntil(lambda: (page.permanent.current or first)["token"] != first["token"], timeout=WAIT)
    assert page.status_line.text() == CLAIMED
    qtbot.waitUntil(lambda: not page._polling and not page._busy, timeout=WAIT)
    page.poll()  # nothing new: the line stays
    qtbot.waitUntil(lambda: not page._polling, timeout=WAIT)
    assert page.status_line.text() == CLAIMED
