"""QA round 28, the phone's screen: headless Chromium against a real ``contop serve``, the desktop's messages replayed
by the test-only fake transport (one test runs a real scripted model instead)."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from contop.testing.server import ServerProcess
from tests.web.test_ui import (  # noqa: F401
    PORTRAIT,
    _scripted_phone,
    _wait_reply,
    browser,
    centre,
    close,
    emit,
    open_fake_session,
    phone,
    sent,
    server,
    shot,
    state,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def test_a_double_tap_on_send_does_not_stop_the_task_it_started(server: ServerProcess, browser: Browser) -> None:
    """Stop appears where Send was: the second tap of a double tap lands on it and must not stop the task."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("list my downloads")
    x, y = centre(page, "#btn-send")
    page.touchscreen.tap(x, y)
    page.wait_for_timeout(120)
    page.touchscreen.tap(x, y)
    expect(page.locator("#btn-stop")).to_be_visible()
    page.wait_for_timeout(100)
    assert len(sent(page, "user_intent")) == 1
    assert sent(page, "execution_stop") == [], "the second tap stopped the task it had just started"
    assert state(page)["running"] is True and state(page)["stopping"] is False
    # A moment later Stop works as ever.
    expect(page.locator("#btn-stop")).to_be_enabled()
    page.locator("#btn-stop").tap()
    assert len(sent(page, "execution_stop")) == 1
    close(ctx)


RETRY = "Away Mode could not put the lock screen back up (no display). It stays on and tries again in {} s."


def test_repeated_security_alerts_keep_one_banner_and_the_composer_on_screen(
    server: ServerProcess, browser: Browser
) -> None:
    """The desktop re-sends an alert while the lock screen stays down: one banner with the newest text and a count,
    the banner area never pushes the picture, the thread or the composer off the screen, and the lock screen back
    up clears it."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    banners = page.locator("[data-banner='security']")
    for seconds in [1, 2, 4, 8, 16, 30, 30]:
        emit(page, "security_alert", {"reason": "overlay_restart_failed", "message": RETRY.format(seconds)})
    expect(banners).to_have_count(1)
    expect(banners).to_contain_text("\N{MULTIPLICATION SIGN}7")
    expect(banners).to_contain_text(RETRY.format(30))

    # Alerts of other kinds are banners of their own, yet the area stays bounded (it scrolls).
    for reason in ["overlay_killed", "overlay_tampered", "a", "b", "c", "d"]:
        emit(page, "security_alert", {"reason": reason, "message": f"Something happened ({reason}) on the desktop."})
    expect(banners).to_have_count(7)
    shot(page, "qa28-security-alerts")
    area = page.locator("#banners").bounding_box()
    composer = page.locator("#composer").bounding_box()
    video = page.locator("#video-pane").bounding_box()
    thread = page.locator(".thread-pane").bounding_box()
    assert area and composer and video and thread
    assert area["height"] <= 230, area
    assert composer["y"] + composer["height"] <= PORTRAIT["height"] + 1, composer
    assert video["height"] >= 100 and thread["height"] >= 100, (video, thread)
    assert page.evaluate("(el => el.scrollHeight > el.clientHeight)(document.getElementById('banners'))")
    squashed = "[...document.querySelectorAll('.banner')].filter(b => b.scrollHeight > b.clientHeight + 1).length"
    assert page.evaluate(squashed) == 0, "each banner keeps the height of its text"

    # The lock screen is back: the alerts that it was down go, the others stay until dismissed.
    emit(page, "away_mode_status", {"away_mode": True, "overlay_active": True})
    expect(banners).to_have_count(5)
    expect(banners.filter(has_text="lock screen back up")).to_have_count(0)
    expect(banners.filter(has_text="overlay_killed")).to_have_count(0)
    close(ctx)


DISPLAY_GONE = "manual control is not available: the X display :61 went away: [Errno 2] No such file or directory"


def test_manual_control_refused_for_a_gone_display_says_why_until_it_works(
    server: ServerProcess, browser: Browser
) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    hint = page.locator("#manual-hint")
    toast = page.locator("#toast")
    reason = "Manual control is not available: the X display :61 went away: [Errno 2] No such file or directory."

    def tap_refused() -> None:
        n = len(sent(page, "manual_control"))
        page.touchscreen.tap(*centre(page, "#video-pane"))
        page.wait_for_function(f"window.__fake.ofType('manual_control').length > {n}")
        tap = sent(page, "manual_control")[-1]
        emit(page, "error", {"code": "not_available", "message": DISPLAY_GONE, "ref_id": tap["id"]})

    page.locator("#btn-manual").tap()
    expect(page.locator("#manual-panel")).to_be_visible()
    expect(hint).to_have_text("Tap to click · drag to point · pinch to zoom")
    tap_refused()
    expect(toast).to_have_text(reason)
    expect(hint).to_have_text(reason)
    expect(hint).to_have_class("manual-hint warn")
    shot(page, "qa28-manual-display-gone")
    # Told once: more taps refused for the same reason add no toast; the panel goes on saying why.
    page.evaluate("document.getElementById('toast').hidden = true")
    tap_refused()
    tap_refused()
    page.wait_for_timeout(200)
    expect(toast).to_be_hidden()
    expect(hint).to_have_text(reason)

    # The live screen is back: the panel is as before.
    emit(page, "agent_status", {"status_type": "video_resumed", "message": "The live screen is back."})
    expect(hint).to_have_text("Tap to click · drag to point · pinch to zoom")
    expect(hint).to_have_class("manual-hint")

    # Refused again, then a tap the desktop does not refuse (it worked): the panel is as before.
    tap_refused()
    expect(hint).to_have_text(reason)
    page.touchscreen.tap(*centre(page, "#video-pane"))
    expect(hint).to_have_text("Tap to click · drag to point · pinch to zoom", timeout=6_000)
    close(ctx)


def test_an_approval_open_across_a_reload_is_shown_once(server: ServerProcess, browser: Browser) -> None:
    """Reopened while an approval waits, the thread has that approval once: the desktop's question asked again is
    the restored one, answered there, not a second copy beside one that ends "Not answered"."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("delete the build folder")
    page.locator("#btn-send").tap()
    progress = {"step": 1, "tool": "execute_cli", "detail": "Running: rm -r build", "status": "running"}
    emit(page, "agent_progress", progress)
    request = {"tool": "execute_cli", "command": "rm -r build", "reason": "destructive_command", "timeout_s": 60}
    emit(page, "agent_confirmation_request", request, "req-reload")
    expect(page.locator("#confirm-modal")).to_be_visible()
    page.wait_for_function("(localStorage.getItem('contop.history.v1') || '').includes('req-reload')")

    page.reload()
    page.wait_for_function("window.contop && window.contop.state.conn.status === 'connected'")
    emit(page, "agent_confirmation_request", {**request, "timeout_s": 50}, "req-reload")
    expect(page.locator("#confirm-modal")).to_be_visible()
    expect(page.locator(".note.confirm")).to_have_count(1)
    page.locator("#btn-approve").tap()
    emit(page, "agent_progress", {**progress, "status": "completed", "detail": "removed"})
    emit(page, "tool_result", {"tool": "execute_cli", "status": "success", "stdout": "", "step": 1})
    emit(page, "agent_result", {"answer": "Deleted.", "status": "completed", "steps_taken": 1})
    expect(page.locator(".note.confirm .decision")).to_have_text(["Approved"])
    close(ctx)


def test_parallel_calls_of_one_tool_each_show_their_own_output(tmp_path: Path, browser: Browser) -> None:
    """Real server, scripted model with two execute_cli calls at once, the first ending first: each card shows
    the output of its own command."""
    calls = [
        {"tool": "execute_cli", "args": {"command": "echo AAA-first"}},
        {"tool": "execute_cli", "args": {"command": "sleep 1; echo BBB-second"}},
    ]
    with _scripted_phone(tmp_path, browser, [{"tools": calls}, {"text": "Both ran."}]) as (srv, page):
        page.locator("#intent-input").fill("Run both")
        page.locator("#btn-send").tap()
        _wait_reply(page, srv)
        cards = page.locator("#thread .step")
        expect(cards).to_have_count(2)
        expect(cards.nth(0).locator(".st-detail")).to_contain_text("echo AAA-first")
        expect(cards.nth(1).locator(".st-detail")).to_contain_text("echo BBB-second")
        outputs = [card.locator(".st-out pre").first.text_content() or "" for card in cards.all()]
        assert "AAA-first" in outputs[0] and "BBB-second" not in outputs[0], outputs
        assert "BBB-second" in outputs[1] and "AAA-first" not in outputs[1], outputs
