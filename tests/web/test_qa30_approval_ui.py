"""QA round 30, the phone's screen against a real ``contop serve`` and real WebRTC in headless Chromium: an approval
still open when the link drops (the phone froze, the page was reloaded) is told the same way, as not answered and
not run, never as expired before its time ran out, and the desktop says the step did not run."""

# ruff: noqa: F811 - the fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.test_ui import _frozen, _scripted_phone, browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

DECISION = ".note.confirm .decision"
LOST = "The connection to the phone was lost while it waited for your approval, so it did not run."
# The phone's renderer is suspended this long: longer than the desktop's 6 s acknowledgement timeout, so the
# desktop gives the link up, as with a phone that froze the app (QA froze it for 10 s).
FREEZE_S = 10


def _steps(work: Path) -> list[dict[str, Any]]:
    return [
        {"tool": "execute_cli", "args": {"command": "echo first"}},
        {"tool": "execute_cli", "args": {"command": f"cd {work} && echo 'b = 2' > pyproject.toml"}},
        {"text": "Written."},
    ]


def _ask(page: Page) -> None:
    page.locator("#intent-input").fill("Write the project file")
    page.locator("#btn-send").tap()
    expect(page.locator("#confirm-modal")).to_be_visible(timeout=30_000)


def _told_not_run(page: Page, project: Path) -> None:
    page.wait_for_function("!window.contop.state.running", timeout=40_000)
    decision = page.locator(DECISION)
    expect(decision).to_contain_text("Not answered — the link dropped; not run")
    assert "Expired" not in decision.inner_text()
    expect(page.locator("#confirm-modal")).to_be_hidden()
    step = page.locator("[data-kind='step'][data-status='stopped']")
    expect(step).to_have_count(1)
    expect(step).to_contain_text(LOST)
    thread = page.locator("#thread").inner_text()
    assert "The step waiting for your approval (execute_cli) did not run." in thread
    assert "stopped before it finished" not in thread.lower()
    assert project.read_text() == "a = 1\n", "the command asked about ran"


@pytest.mark.parametrize("drop", ["freeze", "reload"])
def test_an_approval_lost_with_the_link_is_told_not_run(tmp_path: Path, browser: Browser, drop: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    project = work / "pyproject.toml"
    project.write_text("a = 1\n")
    with _scripted_phone(tmp_path, browser, _steps(work)) as (_srv, page):
        _ask(page)
        if drop == "freeze":
            with _frozen(browser):
                time.sleep(FREEZE_S)
        else:
            page.reload()
        _told_not_run(page, project)
