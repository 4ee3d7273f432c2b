"""QA round 29, the phone's screen against a real ``contop serve`` and real WebRTC in headless Chromium: an answer to
an approval given over a link that is already dead, and forgetting a desktop while connected to it."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.web.test_ui import _scripted_phone, _wait_reply, browser, state  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

DECISIONS = ".note.confirm .decision"


def test_an_approval_given_over_a_dead_link_is_never_shown_as_approved(tmp_path: Path, browser: Browser) -> None:
    """The first approval goes over a live link: the desktop's reply confirms it, the card says Approved and the
    command ran. Then the desktop's server dies (SIGKILL: no goodbye on the link) while the second question is on
    screen; the phone still takes the link for open when Approve is tapped, and the channel takes the answer. The
    card must not say Approved: first that the answer is on its way, then, once the phone notices the link is gone,
    that it was not delivered and the desktop takes the step as not approved."""
    first, second = tmp_path / "victim-a", tmp_path / "victim-b"
    first.mkdir()
    second.mkdir()
    steps: list[dict[str, Any]] = [
        {"tool": "execute_cli", "args": {"command": f"rm -r {first}"}},
        {"tool": "execute_cli", "args": {"command": f"rm -r {second}"}},
        {"text": "Both gone."},
    ]
    with _scripted_phone(tmp_path, browser, steps) as (srv, page):
        page.locator("#intent-input").fill("Remove both folders")
        page.locator("#btn-send").tap()
        expect(page.locator("#confirm-modal")).to_be_visible(timeout=20_000)
        page.locator("#btn-approve").tap()
        expect(page.locator(DECISIONS)).to_have_text(["Approved"])
        expect(page.locator("#confirm-modal")).to_be_visible(timeout=20_000)  # the second question
        assert not first.exists(), "the approved command did not run"

        srv.stop(signal.SIGKILL)
        assert state(page)["conn"]["status"] == "connected", "the phone noticed the dead link too soon for this test"
        page.locator("#btn-approve").tap()
        decision = page.locator(DECISIONS).nth(1)
        expect(decision).to_have_text("Sending your approval…")
        deadline = time.monotonic() + 15
        seen = set()
        while time.monotonic() < deadline:
            seen.add(decision.inner_text())
            if "Not delivered — not approved" in seen:
                break
            time.sleep(0.05)
        assert seen <= {"Sending your approval…", "Not delivered — not approved"}, seen
        expect(decision).to_have_text("Not delivered — not approved")
        expect(page.locator(".note.confirm").nth(1)).to_contain_text("the desktop takes the step as not approved")
        assert second.is_dir(), "the command asked about ran"


def test_forgetting_a_connected_desktop_says_it_stays_paired_there_and_disconnects(
    tmp_path: Path, browser: Browser
) -> None:
    """Forget removes the pairing from the phone only: the question says the desktop still lists the phone and
    where to revoke it, and the link is closed at once (the desktop sees the phone go, not a link that died)."""
    with _scripted_phone(tmp_path, browser, [{"text": "pong"}]) as (srv, page):
        page.locator("#intent-input").fill("ping")
        page.locator("#btn-send").tap()
        _wait_reply(page, srv)
        devices = srv.request("GET", "/api/devices").json()["devices"]
        assert [d["connected"] for d in devices] == [True]
        name = devices[0]["device_name"]

        page.locator("#btn-settings").tap()
        page.locator("#btn-forget").tap()
        ask = page.locator("#ask-message")
        expect(ask).to_contain_text("from this phone only")
        expect(ask).to_contain_text(f"The desktop still lists “{name}” as paired.")
        expect(ask).to_contain_text(f"go to Devices and choose Revoke next to “{name}”")
        expect(ask).to_contain_text("This phone disconnects now.")
        page.locator("#btn-ask-ok").tap()
        expect(page.locator("#screen-welcome")).to_be_visible()
        assert page.evaluate("Object.keys(JSON.parse(localStorage.getItem('contop.pairings.v1') || '{}'))") == []

        # The desktop learns at once (well before its 6 s heartbeat timeout) and keeps the device paired.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            devices = srv.request("GET", "/api/devices").json()["devices"]
            if not devices[0]["connected"]:
                break
            time.sleep(0.1)
        assert [(d["device_name"], d["connected"]) for d in devices] == [(name, False)], devices
        assert "connection lost (the phone acknowledged nothing" not in srv.log()
