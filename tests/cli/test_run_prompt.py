"""What `contop run` asks when the desktop wants an approval: a sentence, never the request's internal code."""

from __future__ import annotations

import pytest

from contop.cli.run import _ask_user


async def test_a_force_host_request_is_asked_with_its_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    payload = {
        "tool": "find_files",
        "command": '{"path": "/tmp"}',
        "reason": "blocked_force_host",
        "voice_message": "This was blocked (find_files searches a protected location ~/.ssh) and cannot run "
        "in the sandbox. Approving runs it on this computer without a sandbox.",
    }
    assert await _ask_user(payload, quiet=False) is False  # stdin is not a terminal here: the answer is no
    err = capsys.readouterr().err
    assert "blocked_force_host" not in err
    assert "Approve find_files: " in err and "Approving runs it on this computer without a sandbox." in err


async def test_a_gate_reason_is_shown_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    payload = {"tool": "execute_cli", "command": "rm -rf build", "reason": "deletes files recursively (rm -rf build)"}
    assert await _ask_user(payload, quiet=False) is False
    assert (
        "Approve execute_cli: rm -rf build (deletes files recursively (rm -rf build))? [y/N] no"
        in capsys.readouterr().err
    )
