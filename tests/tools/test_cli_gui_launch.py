"""execute_cli launching GUI apps on a real X server: the call returns once the app's window is up and the app
keeps running; commands without a window are waited for (and timed out) as before."""
# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from pathlib import Path

import pytest
from Xlib import display as xdisplay

from contop.testing.xsession import XSession
from contop.tools.cli import execute_cli
from contop.tools.context import ToolContext

from .x11 import desk_env, xctx, xsession  # noqa: F401 - fixtures

pytestmark = pytest.mark.x11


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def pgid_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[2])


async def kill_tree(pgid: int) -> None:
    """Kill what the command left running, and wait until its shell, our child, is reaped: its asyncio transport
    must close while this test's loop still runs."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pgid}").exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)


def window_exists(session: XSession, window_id: int) -> bool:
    d = xdisplay.Display(session.display)
    try:
        d.create_resource_object("window", window_id).get_attributes()
        return True
    except Exception:
        return False
    finally:
        d.close()


async def test_a_gui_app_is_left_running_once_its_window_is_up(xctx: ToolContext, desk_env: XSession) -> None:
    title = f"hello-{secrets.token_hex(4)}"
    started = time.monotonic()
    result = await execute_cli(xctx, f"echo before; xmessage -title {title} hello")
    elapsed = time.monotonic() - started
    window = result.get("window")
    assert window is not None, result
    try:
        assert elapsed < 5, result
        assert result["status"] == "success"
        assert result["exit_code"] is None and result["timed_out"] is False
        assert result["stdout"] == "before\n"
        assert window["title"] == title and window["app"] == "xmessage"
        assert f"xmessage opened a window (pid {window['pid']}) and keeps running" in result["note"]
        assert "xmessage" in result["voice_message"]
        await asyncio.sleep(1.0)
        assert alive(window["pid"])
        assert window_exists(desk_env, window["id"])
        # The shell that started it may go away: the app stays (it gets no SIGHUP).
        shell = pgid_of(window["pid"])
        os.kill(shell, signal.SIGHUP)
        await asyncio.sleep(0.5)
        assert not alive(shell)
        assert alive(window["pid"])
    finally:
        await kill_tree(pgid_of(window["pid"]) if alive(window["pid"]) else window["pid"])


async def test_a_left_running_app_may_keep_writing(xctx: ToolContext, desk_env: XSession) -> None:
    # Unread, its pipe would fill up; closed, the next write would kill the writer with SIGPIPE.
    result = await execute_cli(
        xctx, "xmessage writer & while :; do echo tick; printf '%01000d' 0 >&2; sleep 0.01; done"
    )
    window = result.get("window")
    assert window is not None, result
    shell = pgid_of(window["pid"])
    try:
        assert result["status"] == "success" and "tick" in result["stdout"]
        await asyncio.sleep(1.5)  # about 150 KB more on stderr: far more than a pipe holds
        assert alive(shell) and alive(window["pid"])
    finally:
        await kill_tree(shell)


async def test_commands_without_a_window_behave_as_before(xctx: ToolContext, desk_env: XSession) -> None:
    started = time.monotonic()
    quick = await execute_cli(xctx, "echo hi")
    assert quick["stdout"] == "hi\n" and quick["status"] == "success" and "window" not in quick
    assert time.monotonic() - started < 1

    slow = await execute_cli(xctx, "sleep 5", timeout=1)
    assert slow["timed_out"] is True and slow["status"] == "error" and "window" not in slow

    # An X client that never maps a window is no GUI app either.
    spy = await execute_cli(xctx, "xprop -root -spy _NET_ACTIVE_WINDOW", timeout=1.5)
    assert spy["timed_out"] is True and "window" not in spy


async def test_no_display_changes_nothing(xctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY")
    result = await execute_cli(xctx, "xmessage hello", timeout=5)
    assert result["status"] == "error" and result["exit_code"] != 0 and "window" not in result


async def test_cd_before_a_gui_app_still_moves_the_session(
    xctx: ToolContext, desk_env: XSession, tmp_path: Path
) -> None:
    target = tmp_path / "project dir"
    target.mkdir()
    result = await execute_cli(xctx, f"cd '{target}' && xmessage -title cwd-{secrets.token_hex(3)} hi")
    window = result.get("window")
    assert window is not None, result
    try:
        assert result["cwd"] == str(target) and xctx.cwd == str(target)
        after = await execute_cli(xctx, "pwd")
        assert after["stdout"] == f"{target}\n"
    finally:
        await kill_tree(pgid_of(window["pid"]))
