"""What `contop run` asks when the desktop wants an approval: a sentence, never the request's internal code."""

from __future__ import annotations

from typing import Any

import pytest

from contop.cli.run import _Questions


class Answers:
    """Stands in for the connection: what `contop run` sends back."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def ask(payload: dict[str, Any]) -> list[dict[str, Any]]:
    answers = Answers()
    _Questions(answers, quiet=False).add("req-1", payload)  # stdin is not a terminal here: the answer is no
    return answers.sent


async def test_a_force_host_request_is_asked_with_its_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    payload = {
        "tool": "find_files",
        "command": '{"path": "/tmp"}',
        "reason": "blocked_force_host",
        "voice_message": "This was blocked (find_files searches a protected location ~/.ssh) and cannot run "
        "in the sandbox. Approving runs it on this computer without a sandbox.",
    }
    assert [m["payload"] for m in ask(payload)] == [{"approved": False, "request_id": "req-1"}]
    err = capsys.readouterr().err
    assert "blocked_force_host" not in err
    assert "Approve find_files: " in err and "Approving runs it on this computer without a sandbox." in err


async def test_a_gate_reason_is_shown_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    payload = {"tool": "execute_cli", "command": "rm -rf build", "reason": "deletes files recursively (rm -rf build)"}
    assert [m["payload"]["approved"] for m in ask(payload)] == [False]
    assert (
        "Approve execute_cli: rm -rf build (deletes files recursively (rm -rf build))? [y/N] no"
        in capsys.readouterr().err
    )


async def test_the_question_says_how_long_the_desktop_waits(capsys: pytest.CaptureFixture[str]) -> None:
    ask({"tool": "execute_cli", "command": "rm -rf build", "reason": "deletes files", "timeout_s": 60})
    assert "(deletes files)? (the desktop waits 60 s) [y/N] no" in capsys.readouterr().err
