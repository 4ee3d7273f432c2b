"""The phone web app while another device's task runs on the same desktop (``state_update.desk_busy``): headless
Chromium against a real ``contop serve``, the desktop's messages replayed by the test-only fake transport."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from contop.testing.server import ServerProcess
from tests.web.test_ui import browser, close, emit, open_fake_session, phone, sent, server, shot, state  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

BUSY = "A task from Pixel 7 is running on this desktop; wait for its answer or stop it from that device."
WAIT = "A task from Pixel 7 is running on this desktop. Wait for its answer to take control."


def test_another_devices_task_makes_manual_control_and_requests_wait(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    manual = page.locator("#btn-manual")
    manual.tap()
    expect(page.locator("#manual-panel")).to_be_visible()

    # Another phone's task starts: manual mode ends here, and the button waits, naming that phone.
    emit(page, "state_update", {"ai_state": "idle", "desk_busy": {"device": "Pixel 7"}})
    expect(page.locator("#manual-panel")).to_be_hidden()
    expect(page.locator("#toast")).to_have_text("Manual control ended: the agent is running a task from Pixel 7.")
    assert sent(page, "set_manual_mode")[-1]["payload"] == {"enabled": False}
    expect(manual).to_have_attribute("aria-disabled", "true")
    expect(manual).to_have_attribute("title", WAIT)
    n = len(sent(page, "set_manual_mode"))
    manual.tap(force=True)  # aria-disabled: still tappable, to say why
    expect(page.locator("#toast")).to_have_text(WAIT)
    assert len(sent(page, "set_manual_mode")) == n and state(page)["manual"] is False
    # The run is not this phone's: no Stop for it, and the box says whose task it is.
    expect(page.locator("#btn-stop")).to_be_hidden()
    expect(page.locator("#intent-input")).to_have_attribute(
        "placeholder", "Pixel 7 is running a task here · wait for its answer"
    )
    shot(page, "desk-busy-other-device")

    # A request sent anyway is refused by the desktop: its sentence is shown, the text goes back into the box.
    page.locator("#intent-input").fill("open the browser")
    page.locator("#btn-send").tap()
    page.wait_for_function("window.__fake.ofType('user_intent').length > 0")
    intent = sent(page, "user_intent")[-1]
    emit(page, "error", {"code": "busy", "message": BUSY, "ref_id": intent["id"]})
    expect(page.locator("#thread")).to_contain_text(BUSY)
    expect(page.locator("#intent-input")).to_have_value("open the browser")
    expect(page.locator("#btn-stop")).to_be_hidden()
    expect(page.locator("#btn-send")).to_be_visible()

    # The other task ends: manual control and the box are as before.
    emit(page, "state_update", {"ai_state": "idle", "desk_busy": None})
    expect(manual).to_have_attribute("aria-disabled", "false")
    expect(page.locator("#intent-input")).to_have_attribute("placeholder", "Ask your desktop…")
    manual.tap()
    expect(page.locator("#manual-panel")).to_be_visible()
    close(ctx)
