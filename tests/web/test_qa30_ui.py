"""QA round 30, the phone web app in headless Chromium against a real ``contop serve`` (the desktop's messages
replayed by the test-only fake transport): a finger held on the manual panel while manual mode ends elsewhere, and
the desktop's own reason for a missing picture."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from contop.testing.server import ServerProcess
from tests.web.test_ui import (  # noqa: F401
    FAKE_PAYLOAD,
    browser,
    centre,
    close,
    emit,
    fragment,
    open_fake_session,
    phone,
    sent,
    server,
    state,
    touch,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def _task_from_another_phone(page: Page) -> None:
    emit(page, "state_update", {"ai_state": "idle", "desk_busy": {"device": "Pixel 7"}})


def _own_task(page: Page) -> None:
    emit(page, "state_update", {"ai_state": "executing"})


def _replaced(page: Page) -> None:
    """The link ends for good (another tab of this phone connected): the session screen, and its panel, go."""
    page.evaluate("window.__fake.serverClose(4002)")


GEMINI = [{"id": "gemini:x", "label": "Gemini"}]

# Where the finger is put down, for how long, what ends manual mode meanwhile, and the models the desktop offers
# (their names move the chips). In portrait L sits over the model chip (which opens Settings when there are models
# to choose from), the scroll buttons over Thinking or New, Keys over New with the default label; "picture" is the
# corner of the picture where the round Manual button comes back.
CASES: list[tuple[str, int, Callable[[Page], None], list[dict[str, str]]]] = [
    ("#btn-left", 200, _task_from_another_phone, GEMINI),
    ("#btn-left", 1400, _task_from_another_phone, GEMINI),  # past the long press: a drag had begun
    ("#btn-scroll-down", 600, _task_from_another_phone, GEMINI),
    ("#btn-scroll-up", 600, _own_task, GEMINI),
    ("#btn-keys", 300, _own_task, []),
    ("picture", 300, _own_task, []),
    ("#btn-left", 300, _replaced, GEMINI),
]


@pytest.mark.parametrize(
    ("where", "held_ms", "end", "models"),
    CASES,
    ids=["left-tap", "left-drag", "scroll-down", "scroll-up-own-task", "keys", "picture", "left-link-replaced"],
)
def test_a_finger_lifted_after_manual_mode_ended_taps_nothing(
    server: ServerProcess,
    browser: Browser,
    where: str,
    held_ms: int,
    end: Callable[[Page], None],
    models: list[dict[str, str]],
) -> None:
    """QA: holding L (or a scroll button) when another phone's task ended manual mode, the lift clicked what the
    composer put under the finger: the model chip opened Settings, the Thinking chip turned Extended thinking on,
    Done sat over New. A gesture begun on the panel, or on the picture in manual mode, ends with nothing once
    manual mode has ended; nothing more of it reaches the desktop, and a held button is let go first."""
    ctx = phone(browser, fake=True)
    try:
        page = open_fake_session(ctx, server)
        emit(page, "state_update", {"ai_state": "idle", "models": models})
        round_button = centre(page, "#btn-manual")
        page.locator("#btn-manual").tap()
        expect(page.locator("#manual-panel")).to_be_visible()
        before = page.evaluate("window.__fake.sent.length")
        x, y = round_button if where == "picture" else centre(page, where)
        touch(page, "touchStart", [(x, y)])
        page.wait_for_timeout(held_ms // 2)
        end(page)
        expect(page.locator("#manual-panel")).to_be_hidden()
        toast = page.locator("#toast").inner_text()
        page.wait_for_timeout(held_ms - held_ms // 2)
        under = page.evaluate(
            "([x, y]) => { const el = document.elementFromPoint(x, y); return el?.closest('button')?.id ?? '' }",
            [x, y],
        )
        touch(page, "touchEnd", [])
        page.wait_for_timeout(400)  # the click, if any, comes after the lift

        s = state(page)
        assert s["thinking"] is False, f"the lift over #{under} turned Extended thinking on"
        for sheet in ("#sheet-settings", "#sheet-layout", "#sheet-history", "#info-modal", "#ask-modal"):
            expect(page.locator(sheet)).to_be_hidden()
        expect(page.locator("#toast")).to_have_text(toast)  # nothing else to say: no tap was taken
        assert s["manual"] is (end is _replaced)  # kept (hidden) over a lost link, as before
        types = [m["type"] for m in page.evaluate("window.__fake.sent")[before:]]
        assert "new_session" not in types, f"the lift over #{under} started a new conversation"
        if end is _replaced:
            return
        # Nothing reaches the desktop once manual mode was switched off there, not even a button let go: that went
        # before, as the long press of L had pressed it.
        off = types.index("set_manual_mode")
        assert "manual_control" not in types[off + 1 :], types
        actions = [m["payload"]["action"] for m in sent(page, "manual_control")]
        if "scroll" in where:
            assert actions and set(actions) == {"scroll"}, actions
        else:
            assert actions == (["mouse_down", "mouse_up"] if held_ms > 1000 else []), actions
        # The panel works as before once manual mode is back, and so do the chips once it is gone.
        emit(page, "state_update", {"ai_state": "idle", "desk_busy": None})
        page.locator("#btn-manual").tap()
        expect(page.locator("#manual-panel")).to_be_visible()
        expect(page.locator("#btn-left")).to_have_class("key big")
        page.locator("#btn-left").tap()
        assert sent(page, "manual_control")[-1]["payload"]["action"] == "click"
        page.locator("#btn-manual-done").tap()
        expect(page.locator("#composer")).to_be_visible()
        page.locator("#chip-thinking").tap()
        assert state(page)["thinking"] is True, "a tap on a chip after the panel closed must still work"
    finally:
        close(ctx)


def test_the_desktops_reason_for_no_picture_stays_while_it_holds(server: ServerProcess, browser: Browser) -> None:
    """QA: a phone that connected while the desktop's X server was down showed the desktop's reason, then 12 s later
    the vaguer "No picture from the desktop yet…". The desktop's reason stays until it says the screen is back (the
    picture comes back by itself); from then the placeholder waits for the first frame."""
    ctx = phone(browser, fake=True)
    ctx.add_init_script("window.__fake.noVideo = true")  # the desktop has no frame to send
    try:
        page = ctx.new_page()
        page.goto(f"{server.base_url}/#{fragment(FAKE_PAYLOAD)}")
        page.wait_for_function("window.contop && window.contop.state.conn.status === 'connected'")
        placeholder = page.locator("#video-placeholder")
        expect(placeholder).to_have_text("Waiting for the desktop's screen…")
        reason = (
            "The live screen stopped: the display ':61' cannot be reached. On the desktop, start an X session "
            "(or set DISPLAY). Trying again every few seconds."
        )
        emit(page, "agent_status", {"status_type": "video_unavailable", "message": reason})
        expect(placeholder).to_have_text(reason)
        page.wait_for_timeout(13_000)  # past the 12 s after which a phone without a picture guesses why
        expect(placeholder).to_be_visible()
        expect(placeholder).to_have_text(reason)

        emit(page, "agent_status", {"status_type": "video_resumed", "message": "The live screen is back."})
        expect(placeholder).to_have_text("Waiting for the desktop's screen…")
    finally:
        close(ctx)
