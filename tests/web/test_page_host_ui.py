"""A phone that opened the app by a name the desktop does not know as its own (a router's DNS name) is refused
signaling, and its browser hides why (a 403 to a WebSocket handshake): the app says what the name is and how the
desktop can allow it, instead of only "same network?"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from contop.testing.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing
from contop.testing.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))]

NAME = "desk-unknown.test"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        # The name resolves to this computer in this browser only (no /etc/hosts change).
        args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {NAME} 127.0.0.1"]
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield b
        finally:
            b.close()


def test_a_page_opened_by_a_name_the_desktop_does_not_know_says_how_to_allow_it(
    tmp_path: Path, browser: Browser
) -> None:
    with ServerProcess(tmp_path / "home") as srv:
        fragment = srv.pair()["url"].split("#", 1)[1]
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
        page = ctx.new_page()
        page.goto(f"http://{NAME}:{srv.port}/#{fragment}")
        expect(page.locator("#connect-error-title")).to_have_text("Can't reach the desktop", timeout=30_000)
        message = page.locator("#connect-error-message")
        expect(message).to_contain_text(f"opened at {NAME}")
        expect(message).to_contain_text(f"--advertise-host {NAME}")
        ctx.close()
        assert f"'http://{NAME}:{srv.port}'" in srv.log()  # the server's own line about the refused origin
