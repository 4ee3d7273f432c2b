"""The phone app in headless Chromium (fake transport, see test_ui.py) for a reviewer's findings: a running task
keeps its conversation, one request at a time, drafts survive a reload, Markdown answers, the approval dialog in
landscape, focus in dialogs, and how skipped steps and restored answers read."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from contop.testing.server import ServerProcess
from tests.web import test_ui as ui
from tests.web.test_ui import LANDSCAPE, close, emit, open_fake_session, phone, sent, shot, state

# The same module-scoped fixtures as test_ui.py: one server and one browser for this file's tests.
server = ui.server
browser = ui.browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def _start_run(page: Page, text: str = "Clean the build folders") -> None:
    page.locator("#intent-input").fill(text)
    page.locator("#btn-send").tap()
    emit(
        page,
        "agent_progress",
        {"step": 1, "tool": "execute_cli", "detail": "Running: sleep 60", "status": "running"},
    )
    expect(page.locator("#btn-stop")).to_be_visible()


def _finish(page: Page, answer: str = "Finished.", status: str = "completed") -> None:
    emit(page, "agent_result", {"answer": answer, "status": status, "steps_taken": 1, "duration_ms": 900})
    expect(page.locator("#btn-stop")).to_be_hidden()


def test_new_and_history_wait_while_a_task_runs(server: ServerProcess, browser: Browser) -> None:
    """New (or reopening a session) during a run hid Stop and "Working" while the desktop went on, and the run's
    later steps and answer landed in the new conversation."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    _start_run(page, "Earlier question")
    _finish(page)
    page.locator("#chip-new").tap()
    _start_run(page)

    # aria-disabled (not disabled): still focusable and tappable, to say why it waits.
    page.locator("#chip-new").tap(force=True)
    expect(page.locator("#toast")).to_contain_text("Stop the current task first")
    expect(page.locator("#chip-new")).to_have_attribute("aria-disabled", "true")
    assert len(sent(page, "new_session")) == 1, "only the New tapped before the run"
    expect(page.locator("#btn-stop")).to_be_visible()
    expect(page.locator(".msg-user")).to_have_text("Clean the build folders")

    page.locator("#btn-history").tap()
    page.locator(".session-card", has_text="Earlier question").tap()
    expect(page.locator("#toast")).to_contain_text("Stop the current task first")
    page.locator("#btn-history-new").tap(force=True)
    expect(page.locator("#sheet-history")).to_be_visible()
    page.locator("#sheet-history .sheet-close").tap()
    expect(page.locator(".msg-user")).to_have_text("Clean the build folders")
    assert state(page)["running"] is True

    _finish(page, "All clean.")
    expect(page.locator(".result .res-answer")).to_have_text("All clean.")
    expect(page.locator("#chip-new")).to_have_attribute("aria-disabled", "false")
    page.locator("#chip-new").tap()
    expect(page.locator("#thread-empty")).to_be_visible()
    close(ctx)


def test_no_second_request_while_one_runs(server: ServerProcess, browser: Browser) -> None:
    """Send showed next to Stop once text was typed: it cleared the box, added a bubble, got "A task is already
    running" and left a step spinning forever."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    _start_run(page)
    page.locator("#intent-input").fill("And one more thing")
    expect(page.locator("#btn-send")).to_be_hidden()
    placeholder = "Task running · Stop it or wait to send more"
    expect(page.locator("#intent-input")).to_have_attribute("placeholder", placeholder)
    page.locator("#intent-input").press("Enter")
    expect(page.locator("#toast")).to_contain_text("A task is running")
    assert len(sent(page, "user_intent")) == 1
    expect(page.locator("#intent-input")).to_have_value("And one more thing")
    expect(page.locator(".msg-user")).to_have_count(1)
    _finish(page)
    expect(page.locator("#btn-send")).to_be_enabled()
    close(ctx)


def test_a_draft_survives_a_reload(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("Half-written request about the\nlogs")
    page.reload()
    expect(page.locator("#screen-session")).to_be_visible()
    expect(page.locator("#intent-input")).to_have_value("Half-written request about the\nlogs")
    # Sent, it is gone for good.
    page.locator("#btn-send").tap()
    _finish(page)
    page.reload()
    expect(page.locator("#screen-session")).to_be_visible()
    expect(page.locator("#intent-input")).to_have_value("")
    close(ctx)


MARKDOWN_ANSWER = """# Disk report

Your **home** folder uses *most* of the space. Run `du -sh ~` to check.

```bash
du -sh ~/* | sort -h | tail -n 50 | awk '{print $1, $2}' | column -t | cat -n
```

| Folder | Size |
|--------|-----:|
| Videos | 40 GB |

See [the guide](https://example.com/disk) or [this](javascript:alert(1)).

<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>"""


def test_answers_render_markdown_safely(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("What fills my disk?")
    page.locator("#btn-send").tap()
    _finish(page, MARKDOWN_ANSWER)
    answer = page.locator(".result .res-answer")
    expect(answer.locator(".md-h")).to_have_text("Disk report")
    expect(answer.locator("strong")).to_have_text("home")
    expect(answer.locator("em")).to_have_text("most")
    expect(answer.locator("pre.md-code")).to_contain_text("du -sh ~/*")
    expect(answer.locator("table td").first).to_have_text("Videos")
    link = answer.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/disk")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    assert answer.locator("img, script").count() == 0
    assert page.evaluate("window.__pwned") is None
    expect(answer).to_contain_text('<img src=x onerror="window.__pwned = 1">')
    assert "**" not in answer.inner_text()
    # The code block scrolls sideways inside the card instead of widening it.
    box = page.locator(".result").bounding_box()
    code = answer.locator("pre.md-code").bounding_box()
    assert box and code and code["x"] + code["width"] <= box["x"] + box["width"] + 1
    assert answer.locator("pre.md-code").evaluate("el => getComputedStyle(el).overflowX") == "auto"
    shot(page, "r-markdown-answer")
    close(ctx)


PLAN = "\n".join(f"{i}. Step number {i} of the plan, with enough words to wrap on a phone." for i in range(1, 16))


def test_landscape_approval_keeps_its_buttons_on_screen(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True, viewport=LANDSCAPE)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("Tidy my projects")
    page.locator("#btn-send").tap()
    emit(
        page,
        "agent_confirmation_request",
        {
            "tool": "plan",
            "command": PLAN,
            "reason": "plan_approval",
            "voice_message": "Here is my plan. Shall I go ahead?",
        },
    )
    for sel in ["#btn-approve", "#btn-deny", "#btn-confirm-stop"]:
        expect(page.locator(sel)).to_be_in_viewport(ratio=1)
    shot(page, "r-landscape-plan-approval")
    page.locator("#btn-approve").tap()
    # The plan stays in the thread after the answer: what was approved is the plan itself.
    note = page.locator("[data-kind='confirm']")
    expect(note).to_contain_text("Here is my plan. Shall I go ahead?")
    expect(note.locator(".confirm-plan li")).to_have_count(15)
    expect(note.locator(".decision")).to_have_text("Approved")
    close(ctx)


def _inside(page: Page, dialog: str) -> bool:
    return bool(page.evaluate("id => document.getElementById(id).contains(document.activeElement)", dialog))


def _focused(page: Page) -> Any:
    return page.evaluate(
        "(() => { const a = document.activeElement; return a ? (a.id || a.closest('[id]')?.id || a.tagName) : null })()"
    )


def test_dialogs_take_focus_trap_tab_and_give_it_back(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#btn-history").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#sheet-history")).to_be_visible()
    assert _inside(page, "sheet-history")
    for _ in range(12):
        page.keyboard.press("Tab")
        assert _inside(page, "sheet-history"), _focused(page)
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
        assert _inside(page, "sheet-history"), _focused(page)
    tabs = page.locator("#history-range button")
    expect(tabs.first).to_have_attribute("role", "tab")
    expect(page.locator("#history-range [data-range='all']")).to_have_attribute("aria-selected", "true")
    page.locator("#history-range [data-range='today']").click()
    expect(page.locator("#history-range [data-range='today']")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#history-range [data-range='all']")).to_have_attribute("aria-selected", "false")
    page.keyboard.press("Escape")
    expect(page.locator("#sheet-history")).to_be_hidden()
    assert _focused(page) == "btn-history", "focus back on the button that opened the sheet"

    # The approval dialog: focus inside (not on Approve), Tab stays in, Escape neither answers nor closes it.
    page.locator("#intent-input").fill("Delete the logs")
    page.locator("#btn-send").tap()
    emit(
        page,
        "agent_confirmation_request",
        {"tool": "execute_cli", "command": "rm -r ~/logs", "reason": "destructive_command", "voice_message": "Delete?"},
    )
    expect(page.locator("#confirm-modal")).to_be_visible()
    assert _inside(page, "confirm-modal")
    assert _focused(page) != "btn-approve"
    for _ in range(6):
        page.keyboard.press("Tab")
        assert _inside(page, "confirm-modal"), _focused(page)
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-modal")).to_be_visible()
    assert sent(page, "agent_confirmation_response") == []
    page.locator("#btn-deny").click()
    expect(page.locator("#confirm-modal")).to_be_hidden()
    close(ctx)


def test_a_denied_step_reads_as_skipped_after_its_approval(server: ServerProcess, browser: Browser) -> None:
    """A denied or expired step showed a red ✕ "Failed · step 1" (and the question's wait as its run time)."""
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("Delete /tmp/somefile")
    page.locator("#btn-send").tap()
    step = {"step": 1, "tool": "execute_cli", "detail": "Running: rm -r /tmp/somefile", "status": "running"}
    emit(page, "agent_progress", step)
    emit(
        page,
        "agent_confirmation_request",
        {"tool": "execute_cli", "command": "rm -r /tmp/somefile", "reason": "destructive_command", "timeout_s": 60},
    )
    page.locator("#btn-deny").tap()
    emit(page, "tool_result", {"tool": "execute_cli", "status": "rejected", "stdout": "", "stderr": ""})
    emit(
        page,
        "agent_progress",
        {**step, "detail": "Not approved, so it was skipped.", "status": "failed", "duration_ms": 60000},
    )
    _finish(page, "I did not delete it.")
    kinds = page.locator("#thread > [data-kind]").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds.index("confirm") < kinds.index("step"), kinds
    card = page.locator("#thread .step")
    expect(card).to_have_attribute("data-status", "skipped")
    expect(card.locator(".st-step")).to_have_text("Skipped · not approved · step 1")
    expect(card).not_to_contain_text("1 min")
    shot(page, "r-denied-step")
    close(ctx)


def test_the_new_chip_stays_reachable_and_chips_show_in_landscape(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    long_name = "openrouter:some-provider/an-extremely-long-model-name-that-goes-on-and-on-v2-instruct-preview"
    emit(page, "state_update", {"models": [{"id": "m1", "label": long_name}]})
    expect(page.locator("#chip-model-label")).to_have_text(long_name)
    expect(page.locator("#chip-new")).to_be_in_viewport(ratio=1)
    page.set_viewport_size(LANDSCAPE)
    expect(page.locator("#chip-new")).to_be_visible()
    expect(page.locator("#chip-new")).to_be_in_viewport(ratio=1)
    shot(page, "r-landscape-chips")
    close(ctx)


def test_a_reopened_session_says_how_each_run_ended(server: ServerProcess, browser: Browser) -> None:
    ctx = phone(browser, fake=True)
    page = open_fake_session(ctx, server)
    page.locator("#intent-input").fill("List my files")
    page.locator("#btn-send").tap()
    _finish(page, "The model failed, so I stopped.", "failed")
    page.locator("#chip-new").tap()
    page.locator("#btn-history").tap()
    page.locator(".session-card", has_text="List my files").tap()
    card = page.locator(".result.restored")
    expect(card.locator(".res-head")).to_have_text("Failed")
    expect(card).to_have_attribute("data-status", "failed")
    close(ctx)
