"""The phone web app in headless Chromium at phone size, against a real ``contop serve``: History keeps what it
stored, text that would hide part of a command is shown escaped, keys refused under Away Mode's lock are each told,
forgetting a desktop is asked first, and a hung desktop still lets the app open from its cache.

Most tests drive the app through the test-only fake transport (``tests/web/fake_transport.js``), which replays
the desktop's messages; the last one uses the real server and the real service worker.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from contop.testing.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing
from contop.testing.server import ServerProcess

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing())),
]

FAKE_TRANSPORT = (Path(__file__).parents[1] / "web" / "fake_transport.js").read_text(encoding="utf-8")
FAKE_PAYLOAD = {
    "v": 1,
    "t": "fake-token",
    "d": ":".join(["3F", "A0", "9C", "11"] * 8),
    "h": "192.168.1.20",
    "p": 8000,
    "e": "2030-01-01T00:00:00Z",
    "c": "permanent",
}
SPOOF = "cp a b # \u202eevil\u202c"  # shown raw, it reads "cp a b # live"
SPOOF_SHOWN = "cp a b # \\u202eevil\\u202c"
HIDING = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\r\x1b"


def fragment(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return "p=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("web-fixes") / "home").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield b
        finally:
            b.close()


def phone(browser: Browser, *, fake: bool = True) -> tuple[BrowserContext, list[str]]:
    """A phone-sized page context; its list collects the script errors any of its pages raise."""
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        service_workers="block" if fake else "allow",
    )
    ctx.set_default_timeout(10_000)
    if fake:
        ctx.add_init_script(FAKE_TRANSPORT)
    errors: list[str] = []
    ctx.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
    return ctx, errors


def open_fake_session(ctx: BrowserContext, server: ServerProcess) -> Page:
    page = ctx.new_page()
    page.goto(f"{server.base_url}/#{fragment(FAKE_PAYLOAD)}")
    expect(page.locator("#screen-session")).to_be_visible()
    return page


def emit(page: Page, type_: str, payload: dict[str, Any]) -> str:
    return str(page.evaluate("([t, p]) => window.__fake.emit(t, p)", [type_, payload]))


def last_sent(page: Page, type_: str) -> dict[str, Any]:
    return dict(page.evaluate("t => window.__fake.last(t)", type_))


def stored_entries(page: Page, record_id: str) -> list[dict[str, Any]]:
    records = json.loads(page.evaluate("localStorage.getItem('contop.history.v1') || '[]'"))
    return next(r["entries"] for r in records if r["id"] == record_id)


def kinds(entries: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in entries]


def run_with_steps_and_an_approval(page: Page, text: str, session_id: str) -> None:
    page.locator("#intent-input").fill(text)
    page.locator("#btn-send").tap()
    emit(
        page,
        "agent_progress",
        {"step": 1, "tool": "execute_cli", "detail": "Running: ls ~/reports", "status": "running"},
    )
    emit(page, "tool_result", {"tool": "execute_cli", "status": "success", "stdout": "q3.pdf\n", "duration_ms": 40})
    emit(page, "agent_progress", {"step": 1, "tool": "execute_cli", "status": "completed"})
    emit(
        page,
        "agent_progress",
        {"step": 2, "tool": "execute_cli", "detail": "Running: cp q3.pdf /mnt", "status": "running"},
    )
    emit(
        page,
        "agent_confirmation_request",
        {"tool": "execute_cli", "command": "cp q3.pdf /mnt", "reason": "writes_outside", "timeout_s": 60},
    )
    page.locator("#btn-approve").tap()
    emit(page, "tool_result", {"tool": "execute_cli", "status": "success", "stdout": "", "duration_ms": 12})
    emit(page, "agent_progress", {"step": 2, "tool": "execute_cli", "status": "completed"})
    emit(
        page,
        "agent_result",
        {"answer": "Copied q3.pdf.", "steps_taken": 2, "duration_ms": 900, "session_id": session_id},
    )
    expect(page.locator(".result")).to_have_count(1)


def test_reopening_a_session_from_history_keeps_its_steps_approvals_and_outputs(
    server: ServerProcess, browser: Browser
) -> None:
    ctx, errors = phone(browser)
    page = open_fake_session(ctx, server)
    record_id = page.evaluate("localStorage.getItem('contop.history.active.v1')")
    run_with_steps_and_an_approval(page, "Copy the Q3 report", "srv-1")
    page.wait_for_function(
        "id => (JSON.parse(localStorage.getItem('contop.history.v1') || '[]').find(r => r.id === id)?.entries || [])"
        ".some(e => e.kind === 'result')",
        arg=record_id,
    )
    before = stored_entries(page, record_id)
    assert kinds(before) == ["user", "step", "confirm", "step", "result"], kinds(before)

    page.locator("#chip-new").tap()
    page.locator("#btn-history").tap()
    page.locator("#history-list .session-card", has_text="Copy the Q3 report").tap()
    expect(page.locator(".msg-user")).to_have_text("Copy the Q3 report")
    page.wait_for_timeout(1200)  # past the app's save delay (500 ms)
    assert stored_entries(page, record_id) == before, "opening it must not change what was stored"

    # Continued: what follows is added after all it had.
    page.locator("#intent-input").fill("And the Q4 one")
    page.locator("#btn-send").tap()
    emit(
        page, "agent_result", {"answer": "Copied q4.pdf.", "steps_taken": 1, "duration_ms": 300, "session_id": "srv-1"}
    )
    page.wait_for_function(
        "id => JSON.parse(localStorage.getItem('contop.history.v1')).find(r => r.id === id).entries.length > 5",
        arg=record_id,
    )
    page.wait_for_timeout(700)
    after = stored_entries(page, record_id)
    assert after[: len(before)] == before
    assert kinds(after[len(before) :]) == ["user", "result"]
    assert after[2]["command"] == "cp q3.pdf /mnt" and after[2]["decision"] == "approved"
    assert after[1]["result"]["stdout"] == "q3.pdf\n"
    # A reload shows the whole thread again: the steps and the approval are there.
    page.reload()
    expect(page.locator("#thread [data-kind='step']")).to_have_count(2)
    expect(page.locator("#thread [data-kind='confirm']")).to_have_count(1)
    expect(page.locator("#thread .result")).to_have_count(2)
    ctx.close()
    assert not errors, errors


def test_text_that_would_hide_part_of_a_command_is_shown_escaped_everywhere(
    server: ServerProcess, browser: Browser
) -> None:
    ctx, errors = phone(browser)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("Copy a to b")
    page.locator("#btn-send").tap()
    emit(page, "agent_progress", {"step": 1, "tool": "execute_cli", "detail": f"Running: {SPOOF}", "status": "running"})
    emit(
        page,
        "agent_confirmation_request",
        {
            "tool": "execute_cli",
            "command": SPOOF,
            "reason": "destructive_command",
            "voice_message": f"Run {SPOOF}?",
            "timeout_s": 60,
        },
    )
    expect(page.locator("#confirm-modal")).to_be_visible()
    expect(page.locator("#confirm-command")).to_have_text(SPOOF_SHOWN)
    expect(page.locator("#confirm-message")).to_have_text(f"Run {SPOOF_SHOWN}?")
    page.locator("#btn-deny").tap()
    emit(page, "agent_status", {"status_type": "connection_warning", "message": f"Still waiting on {SPOOF}"})
    emit(page, "security_alert", {"reason": "blocked", "message": f"Blocked {SPOOF}"})
    expect(page.locator("[data-banner='security']")).to_contain_text(f"Blocked {SPOOF_SHOWN}")
    expect(page.locator("[data-banner='status']")).to_contain_text(f"Still waiting on {SPOOF_SHOWN}")
    expect(page.locator("#thread [data-kind='confirm']")).to_contain_text(f"Run {SPOOF_SHOWN}?")
    expect(page.locator("#thread [data-kind='step'] .st-detail")).to_have_text(f"Running: {SPOOF_SHOWN}")
    expect(page.locator("#thread [data-kind='alert']")).to_contain_text(f"Blocked {SPOOF_SHOWN}")
    shown = page.evaluate("document.getElementById('app').innerText")
    assert not any(ch in shown for ch in HIDING), [hex(ord(ch)) for ch in HIDING if ch in shown]
    ctx.close()
    assert not errors, errors


def test_every_refused_key_and_text_under_away_mode_is_told_and_the_text_kept(
    server: ServerProcess, browser: Browser
) -> None:
    refusal = (
        "Away Mode is on: the desk's keyboard is locked, so keys and text would go into the lock screen's PIN field."
    )
    ctx, errors = phone(browser)
    page = open_fake_session(ctx, server)
    toast = page.locator("#toast")

    def refuse_last() -> None:
        page.evaluate("document.getElementById('toast').hidden = true")
        ref = last_sent(page, "manual_control")["id"]
        emit(page, "error", {"code": "not_available", "message": refusal, "ref_id": ref})
        expect(toast).to_be_visible()
        expect(toast).to_have_text(refusal)

    page.locator("#btn-manual").tap()
    page.locator("#btn-keys").tap()
    emit(page, "away_mode_status", {"away_mode": True, "overlay_active": True})
    for text in ["hello", "second try"]:
        page.locator("#type-input").fill(text)
        page.locator("#type-form button").tap()
        assert last_sent(page, "manual_control")["payload"] == {"action": "type", "text": text}
        refuse_last()
        expect(page.locator("#type-input")).to_have_value(text)  # given back, not lost
    page.locator("#key-grid [data-keys='enter']").tap()
    refuse_last()
    # While the lock holds the desk, the box says so before anything is sent.
    expect(page.locator("#type-input")).to_have_attribute("placeholder", "Desk locked: unlock it to type")

    # Unlocked: the box says so no more, and a refusal of the pointer is told again.
    emit(page, "away_mode_status", {"away_mode": False, "overlay_active": False})
    expect(page.locator("#type-input")).to_have_attribute("placeholder", "Type on the desktop…")
    assert "manual" not in page.evaluate("window.contop.state.unavailable")
    page.locator("#btn-right").tap()
    refuse_last()
    # Typed text the desktop takes leaves the box.
    page.locator("#type-input").fill("accepted")
    page.locator("#type-form button").tap()
    expect(page.locator("#type-input")).to_have_value("")
    ctx.close()
    assert not errors, errors


def test_forgetting_a_desktop_is_asked_first(server: ServerProcess, browser: Browser) -> None:
    ctx, errors = phone(browser)
    page = open_fake_session(ctx, server)
    pairings = "Object.keys(JSON.parse(localStorage.getItem('contop.pairings.v1') || '{}')).length"
    ask = page.locator("#ask-modal")
    page.locator("#btn-settings").tap()
    page.locator("#btn-forget").tap()
    expect(ask).to_be_visible()
    expect(ask).to_contain_text("new QR code")
    page.locator("#btn-ask-cancel").tap()
    expect(ask).to_be_hidden()
    assert page.evaluate(pairings) == 1
    page.locator("#set-paired button[aria-label^='Forget']").tap()
    expect(ask).to_be_visible()
    page.keyboard.press("Escape")
    expect(ask).to_be_hidden()
    expect(page.locator("#sheet-settings")).to_be_visible()  # Escape answered the question only
    assert page.evaluate(pairings) == 1
    assert page.evaluate("window.contop.state.conn.status") == "connected"
    page.locator("#btn-forget").tap()
    page.locator("#btn-ask-ok").tap()
    expect(page.locator("#screen-welcome")).to_be_visible()
    assert page.evaluate(pairings) == 0
    ctx.close()
    assert not errors, errors


def test_a_hung_desktop_still_lets_the_app_open_and_say_so(tmp_path: Path, browser: Browser) -> None:
    """The desktop's server stops answering (SIGSTOP) while its port stays open: the page and its modules come from
    the service worker's cache after a short wait, and the app says it can't reach the desktop."""
    with ServerProcess(tmp_path / "home") as srv:
        url = srv.pair()["url"]
        ctx, errors = phone(browser, fake=False)
        page = ctx.new_page()
        page.goto(f"{srv.base_url}/#{url.split('#', 1)[1]}")
        page.wait_for_function("['connected', 'failed'].includes(window.contop.state.conn.status)", timeout=30_000)
        page.wait_for_function("!!navigator.serviceWorker.controller", timeout=15_000)
        page.wait_for_function("caches.open('contop-shell-v2').then(c => c.keys()).then(k => k.length >= 20)")
        assert srv.proc is not None
        os.kill(srv.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            page.reload(timeout=20_000)
            expect(page.locator("#connect-error-title")).to_have_text("Can't reach the desktop", timeout=30_000)
            assert time.monotonic() - started < 30
            expect(page.locator("#btn-retry")).to_be_visible()
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)
        ctx.close()
        assert not errors, errors
