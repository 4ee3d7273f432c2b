"""execute_cli with real bash processes: output, caps, cwd, prompts, timeouts, cancellation, no orphans."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

import pytest

from contop.testing.loop import loop_ticks
from contop.tools.cli import (
    MAX_OUTPUT_BYTES,
    choose_shell,
    execute_cli,
    group_members,
    looks_like_prompt,
    run_process,
    shell_argv,
)
from contop.tools.context import ToolContext

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")


def processes_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if marker in cmdline and stat[stat.rfind(")") + 2] != "Z":
            found.append(int(entry))
    return found


async def wait_gone(marker: str, within: float = 2.0) -> list[int]:
    deadline = time.monotonic() + within
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


def unique_sleep() -> str:
    """A sleep duration that doubles as a marker to find the process in /proc (e.g. ``300.48213``)."""
    return f"300.{secrets.randbelow(90000) + 10000}"


async def test_result_shape_and_streams(ctx: ToolContext) -> None:
    result = await execute_cli(ctx, "echo out; echo err >&2; exit 3")
    assert result["stdout"] == "out\n"
    assert result["stderr"] == "err\n"
    assert result["exit_code"] == 3
    assert result["status"] == "error"
    assert result["backend"] == "host"
    assert result["timed_out"] is False and result["truncated"] is False
    assert isinstance(result["duration_ms"], int)
    assert {"voice_message", "note", "cwd", "interactive_prompt_detected"} <= result.keys()
    ok = await execute_cli(ctx, "true")
    assert ok["status"] == "success" and ok["exit_code"] == 0


async def test_runs_in_session_cwd_and_cd_persists(ctx: ToolContext, tmp_path: Path) -> None:
    assert (await execute_cli(ctx, "pwd"))["stdout"].strip() == ctx.cwd
    target = tmp_path / "dir with space"
    target.mkdir()
    first = await execute_cli(ctx, f"cd '{target}'")
    assert first["cwd"] == str(target) and ctx.cwd == str(target)
    assert (await execute_cli(ctx, "pwd"))["stdout"].strip() == str(target)
    # An explicit exit still reports where the shell ended up.
    await execute_cli(ctx, f"cd '{tmp_path}' && exit 4")
    assert ctx.cwd == str(tmp_path)
    # A directory that disappears is not kept.
    gone = tmp_path / "gone"
    gone.mkdir()
    await execute_cli(ctx, f"cd '{gone}' && rmdir '{gone}'")
    assert ctx.cwd == str(tmp_path)


async def test_missing_cwd_falls_back_to_home(ctx: ToolContext) -> None:
    ctx.cwd = "/nonexistent/contop/dir"
    assert (await execute_cli(ctx, "pwd"))["stdout"].strip() == ctx.home


async def test_output_cap_per_stream_with_note(ctx: ToolContext) -> None:
    result = await execute_cli(ctx, "head -c 200000 /dev/zero | tr '\\0' a; head -c 60000 /dev/zero | tr '\\0' b >&2")
    assert len(result["stdout"]) == MAX_OUTPUT_BYTES
    assert len(result["stderr"]) == MAX_OUTPUT_BYTES
    assert result["truncated"] is True
    assert f"dropped {200000 - MAX_OUTPUT_BYTES} bytes" in result["note"]
    assert f"dropped {60000 - MAX_OUTPUT_BYTES} bytes" in result["note"]
    assert result["exit_code"] == 0


async def test_timeout_kills_the_whole_tree(ctx: ToolContext) -> None:
    marker = unique_sleep()
    started = time.monotonic()
    result = await execute_cli(ctx, f"sleep {marker} & sleep {marker}; wait", timeout=1)
    assert result["timed_out"] is True and result["status"] == "error"
    assert time.monotonic() - started < 4
    assert await wait_gone(marker) == []


async def test_timeout_kills_processes_that_ignore_sigterm(ctx: ToolContext) -> None:
    marker = unique_sleep()
    script = (
        "trap '' TERM; "  # ignored signals are inherited by the children
        f"sleep {marker} & "
        f"python3 -c 'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)' {marker} & "
        "wait"
    )
    result = await execute_cli(ctx, script, timeout=1)
    assert result["timed_out"] is True
    assert await wait_gone(marker) == []


@pytest.mark.parametrize(
    "moved",
    [
        "set -m; sleep {marker} & wait",  # a job-control shell puts each job in a process group of its own
        "python3 -c 'import os, time; os.setpgid(0, 0); time.sleep(300)' {marker} & wait",
    ],
)
async def test_timeout_and_cancel_kill_children_that_moved_to_their_own_process_group(
    ctx: ToolContext, moved: str
) -> None:
    marker = unique_sleep()
    result = await execute_cli(ctx, moved.format(marker=marker), timeout=1)
    assert result["timed_out"] is True
    assert await wait_gone(marker) == []
    marker = unique_sleep()
    task = asyncio.create_task(execute_cli(ctx, moved.format(marker=marker)))
    deadline = time.monotonic() + 5
    while not processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the child has moved by now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(marker) == []


async def test_cancellation_kills_group_and_reraises(ctx: ToolContext) -> None:
    marker = unique_sleep()
    task = asyncio.create_task(execute_cli(ctx, f"sleep {marker} & sleep {marker}; wait"))
    deadline = time.monotonic() + 5
    while len(processes_with(marker)) < 3 and time.monotonic() < deadline:  # bash and two sleeps
        await asyncio.sleep(0.05)
    assert len(processes_with(marker)) == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(marker) == []


async def test_prompt_detected_when_command_reads_stdin(ctx: ToolContext) -> None:
    # bash prints no prompt text when stdin is not a terminal: the detection sees the blocked read itself.
    started = time.monotonic()
    result = await execute_cli(ctx, 'read -p "Continue? " x; echo "answer=[$x]"')
    assert result["interactive_prompt_detected"] is True
    assert "answer=[]" in result["stdout"]
    assert 4.5 < time.monotonic() - started < 10
    assert "waited for input" in result["note"]


async def test_prompt_detected_from_prompt_text() -> None:
    result = await run_process(
        ["bash", "-c", "printf 'Overwrite file? [y/N] '; read -r a <&0; echo done"], timeout=10, stall_seconds=0.5
    )
    assert result.interactive_prompt_detected is True
    assert result.stdout.endswith("done\n")


async def test_tty_requirement_is_reported_at_once(ctx: ToolContext) -> None:
    started = time.monotonic()
    result = await execute_cli(ctx, "echo 'sudo: a terminal is required to read the password' >&2; exit 1")
    assert result["interactive_prompt_detected"] is True
    assert "needs a terminal" in result["note"]
    assert time.monotonic() - started < 2


async def test_quiet_command_is_not_a_prompt() -> None:
    result = await run_process(["bash", "-c", "sleep 1.2; echo finished"], timeout=10, stall_seconds=0.4)
    assert result.interactive_prompt_detected is False
    assert result.stdout == "finished\n"


async def test_event_loop_keeps_running(ctx: ToolContext) -> None:
    async with loop_ticks(0.05) as ticks:
        await execute_cli(ctx, "sleep 1")
    assert ticks.count >= 10


async def test_endless_output_neither_starves_the_loop_nor_grows_memory(ctx: ToolContext) -> None:
    async with loop_ticks(0.05) as ticks:
        result = await execute_cli(ctx, "yes", timeout=1.5)
    assert result["timed_out"] is True and result["truncated"] is True
    assert len(result["stdout"]) == MAX_OUTPUT_BYTES
    assert ticks.count >= 15


async def test_background_process_does_not_hold_the_call(ctx: ToolContext) -> None:
    marker = unique_sleep()
    started = time.monotonic()
    result = await execute_cli(ctx, f"sleep {marker} & echo started")
    assert result["stdout"] == "started\n"
    assert time.monotonic() - started < 3
    # It keeps running (a launched app must survive the call); clean it up ourselves.
    pids = processes_with(marker)
    assert pids
    for pid in pids:
        os.kill(pid, 9)
    assert await wait_gone(marker) == []


async def test_empty_command(ctx: ToolContext) -> None:
    result = await execute_cli(ctx, "   ")
    assert result["status"] == "error" and result["exit_code"] is None


def test_group_members_sees_own_group() -> None:
    assert os.getpid() in group_members(os.getpgid(0))


def test_choose_shell_posix() -> None:
    assert choose_shell(windows=False, which=lambda name: "/usr/bin/bash").kind == "bash"


def test_choose_shell_windows_prefers_git_bash() -> None:
    git = "C:\\Program Files\\Git\\bin\\bash.exe"
    shell = choose_shell(
        windows=True, which=lambda name: name if name == git else None, env={"ProgramFiles": "C:\\Program Files"}
    )
    assert shell.kind == "git-bash" and shell.executable == git


def test_choose_shell_windows_ignores_wsl_launcher_and_falls_back_to_cmd() -> None:
    wsl = "C:\\Windows\\System32\\bash.exe"
    shell = choose_shell(
        windows=True,
        which=lambda name: wsl if name.startswith("bash") else None,
        env={"COMSPEC": "C:\\Windows\\system32\\cmd.exe"},
    )
    assert shell.kind == "cmd" and shell.executable.endswith("cmd.exe")


def test_shell_argv_variants() -> None:
    bash = shell_argv(choose_shell(windows=False, which=lambda n: "/bin/bash"), "ls", "/tmp/p")
    assert bash[:2] == ["/bin/bash", "-c"] and bash[2].endswith("\nls") and "trap" in bash[2]
    cmd = shell_argv(choose_shell(windows=True, which=lambda n: None, env={}), "dir", "C:\\t\\p")
    assert cmd[0] == "cmd.exe" and cmd[-1] == 'dir & cd > "C:\\t\\p"'


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("Continue? ", True),
        ("Password:", True),
        ("Do you want to continue? [Y/n] ", True),
        ("Are you sure you want to continue connecting (yes/no/[fingerprint])? ", True),
        ("sudo: no tty present and no askpass program specified\n", True),
        ("Enter passphrase for key '/root/.ssh/id_ed25519': ", True),
        ("compiling 3 files\n", False),
        ("", False),
    ],
)
def test_looks_like_prompt(tail: str, expected: bool) -> None:
    assert looks_like_prompt(tail) is expected


async def test_the_shell_does_not_inherit_the_servers_secrets(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "admin.token").write_text("admin-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fake")
    monkeypatch.setenv("CONTOP_HOME", str(state))
    monkeypatch.setenv("CONTOP_EXECUTION_MODEL", "scripted:/x.json")
    monkeypatch.setenv("DISPLAY", ":77")
    result = await execute_cli(
        ctx,
        'echo "[$OPENAI_API_KEY][$CONTOP_HOME][$GITHUB_TOKEN][$CONTOP_EXECUTION_MODEL]"; '
        'cat "$CONTOP_HOME/admin.token"; echo "$PATH|$HOME|$DISPLAY"',
    )
    lines = result["stdout"].splitlines()
    assert lines[0] == "[][][][]"
    assert "admin-secret" not in result["stdout"]
    assert lines[-1] == f"{os.environ['PATH']}|{os.environ['HOME']}|:77"


@pytest.mark.parametrize(
    ("asked", "used", "says"),
    [(-1, 0.1, "at least 0.1 s"), (1e9, 600.0, "at most 600 s"), (float("nan"), 30.0, "not a number")],
)
async def test_a_timeout_out_of_range_is_corrected_and_said(
    ctx: ToolContext, asked: float, used: float, says: str
) -> None:
    started = time.monotonic()
    result = await execute_cli(ctx, "sleep 0.4; echo done", timeout=asked)
    took = time.monotonic() - started
    assert says in result["note"] and f"{used:g} s was used" in result["note"]
    if used == 0.1:
        assert result["timed_out"] and took < 5
    else:
        assert result["stdout"] == "done\n" and not result["timed_out"]


async def test_a_timeout_in_range_adds_no_note(ctx: ToolContext) -> None:
    result = await execute_cli(ctx, "echo ok", timeout=5)
    assert result["note"] == "" and result["stdout"] == "ok\n"
