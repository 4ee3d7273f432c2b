"""The audit chain across restarts: a last line of any length, a line a crash left cut short, and what
``contop audit verify`` says (and exits with) about each, on real files and a real ``contop serve``."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contop.cli import audit as audit_cli
from contop.client.client import ContopClient
from contop.core.messages import AgentConfirmationResponse, ConfirmationResponsePayload, UserIntent, UserIntentPayload
from contop.security import audit as audit_module
from contop.security.audit import GENESIS_HASH, RESUMED_AFTER_CUT, AuditEntry, AuditLog, last_line, verify_file
from contop.testing.server import ServerProcess

BIG = 1_200_000  # over the 1 MiB the writer once read back to find the last line
FRAGMENT = b'{"event":"tool_start","session_id":"s","tool_used":"execute_cli","classified_comm'


class Clock:
    def __init__(self, moment: dt.datetime) -> None:
        self.now = moment

    def __call__(self) -> dt.datetime:
        return self.now


CLOCK = Clock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.UTC))


async def write(logs: Path, *commands: str) -> Path:
    """One writer's life: start, log ``commands``, stop (as one server run does)."""
    async with AuditLog(logs, clock=CLOCK) as log:
        for command in commands:
            log.record(
                AuditEntry(event="tool_start", session_id="s", tool_used="execute_cli", classified_command=command)
            )
    return logs / "session-2026-04-02.jsonl"


def cli(*paths: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "contop", "audit", "verify", *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


# --- the last line, however long ---------------------------------------------------------------------------------


async def test_a_last_line_over_a_mebibyte_continues_the_chain_after_a_restart(tmp_path: Path) -> None:
    path = await write(tmp_path, "echo small", "x" * BIG)
    assert len(path.read_bytes().split(b"\n")[1]) > 1_048_576
    await write(tmp_path, "echo after the restart")
    result = verify_file(path)
    assert result.ok and result.lines == 3, result
    done = cli(path)
    assert (done.returncode, done.stdout.strip()) == (0, f"{path}: OK (3 lines, chain intact)"), done


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 3 * 65536 + 7])
def test_last_line_hashes_exactly_the_last_line(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.jsonl"
    rng = random.Random(size)
    first = bytes(rng.choice(b"abc") for _ in range(70_000))
    last = bytes(rng.choice(b"xyz") for _ in range(size))
    path.write_bytes(first + b"\n" + last + b"\n")
    assert last_line(path) == (hashlib.sha256(last).hexdigest(), False)
    path.write_bytes(last + b"\n")  # the only line
    assert last_line(path) == (hashlib.sha256(last).hexdigest(), False)
    path.write_bytes(first + b"\n" + last)  # no newline: cut short (unless nothing follows the newline)
    expected = (hashlib.sha256(last).hexdigest(), True) if size else (hashlib.sha256(first).hexdigest(), False)
    assert last_line(path) == expected


def test_last_line_of_no_file_or_an_empty_one_is_genesis(tmp_path: Path) -> None:
    assert last_line(tmp_path / "missing.jsonl") == (GENESIS_HASH, False)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert last_line(tmp_path / "empty.jsonl") == (GENESIS_HASH, False)


# --- a line cut short by a crash ---------------------------------------------------------------------------------


async def test_a_writer_after_a_crash_starts_a_new_line_and_verify_reports_the_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = await write(tmp_path, "echo 1", "echo 2")
    with path.open("ab") as fh:
        fh.write(FRAGMENT)  # the server died in the middle of its third line
    with caplog.at_level(logging.WARNING, logger="contop.security.audit"):
        await write(tmp_path, "echo 3", "echo 4")
    assert any("ends in the middle of a line" in r.getMessage() for r in caplog.records)
    lines = path.read_bytes().split(b"\n")
    assert lines[2] == FRAGMENT and lines[-1] == b""  # the fragment is left as it was, on a line of its own
    resumed, after = json.loads(lines[3]), json.loads(lines[4])
    assert resumed["classified_command"] == "echo 3" and resumed[RESUMED_AFTER_CUT] is True
    assert resumed["prev_hash"] == hashlib.sha256(FRAGMENT).hexdigest()
    assert RESUMED_AFTER_CUT not in after  # only the first line after the cut says so

    result = verify_file(path)
    assert (result.ok, result.first_bad_line, result.cut_lines, result.lines) == (False, None, (3,), 5)
    done = cli(path)
    assert done.returncode == 1
    assert f"{path}: CUT SHORT: line 3 was left unfinished by a writer that stopped mid-write" in done.stdout
    assert "TAMPERED" not in done.stdout and "OK" not in done.stdout

    await write(tmp_path, "echo 5")  # yet another restart: nothing more to mend
    assert verify_file(path).cut_lines == (3,) and verify_file(path).lines == 6


async def test_a_whole_line_that_lost_only_its_newline_is_reported_too(tmp_path: Path) -> None:
    path = await write(tmp_path, "echo 1", "echo 2")
    path.write_bytes(path.read_bytes()[:-1])
    assert verify_file(path).cut_lines == (2,)  # cut at the end: until a writer comes, the last line is the cut
    await write(tmp_path, "echo 3")
    result = verify_file(path)
    assert (result.ok, result.first_bad_line, result.cut_lines, result.lines) == (False, None, (2,), 3)


async def test_a_fragment_not_explained_by_the_next_line_is_tampering(tmp_path: Path) -> None:
    path = await write(tmp_path, "echo 1", "echo 2", "echo 3")
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], FRAGMENT, *lines[2:]]))  # line 2 replaced by garbage
    result = verify_file(path)
    assert (result.first_bad_line, result.reason) == (2, "not a JSON line")
    marked = json.loads(lines[2]) | {RESUMED_AFTER_CUT: True}  # a mark alone does not do: the hash must match
    path.write_bytes(b"\n".join([lines[0], FRAGMENT, json.dumps(marked).encode(), b""]))
    assert verify_file(path).first_bad_line == 2


async def test_a_full_disk_right_after_a_cut_leaves_the_fragment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = await write(tmp_path, "echo 1")
    with path.open("ab") as fh:
        fh.write(FRAGMENT)
    before = path.read_bytes()

    def half_write(fd: int, data: bytes) -> int:
        return os.write(fd, data[: len(data) // 2])

    log = AuditLog(tmp_path, clock=CLOCK)
    fake_os = SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    fake_os.write = half_write
    monkeypatch.setattr(audit_module, "os", fake_os)
    log.record(AuditEntry(event="tool_start", session_id="s", classified_command="echo refused"))
    await log.flush()
    assert log.failure is not None and path.read_bytes() == before
    monkeypatch.undo()
    log.record(AuditEntry(event="tool_start", session_id="s", classified_command="echo 2"))
    await log.aclose()
    result = verify_file(path)
    assert (result.first_bad_line, result.cut_lines, result.lines) == (None, (2,), 3)


# --- what verify says and exits with -----------------------------------------------------------------------------


async def test_verify_exit_status_tells_not_intact_from_unreadable(tmp_path: Path) -> None:
    good = await write(tmp_path / "a", "echo 1", "echo 2", "echo 3")
    missing = tmp_path / "missing.jsonl"
    bad = await write(tmp_path / "b", "echo 1", "echo 2", "echo 3")
    lines = bad.read_bytes().split(b"\n")
    bad.write_bytes(b"\n".join(lines[2:]))  # the first two lines removed

    assert audit_cli.main(["verify", str(good)]) == 0
    unreadable = cli(good, missing)
    assert unreadable.returncode == 2 and f"{missing}: cannot read" in unreadable.stderr
    assert cli(good, missing, bad).returncode == 1  # a file not intact matters more than one that cannot be read
    tampered = cli(bad)
    assert tampered.returncode == 1
    assert (
        f"{bad}: TAMPERED at line 1: line 1 does not start the chain (lines may have been removed from the start "
        "of the file, or line 1 was changed)"
    ) in tampered.stdout


def test_verify_says_an_empty_file_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / "session-2026-01-01.jsonl"
    empty.write_bytes(b"")
    done = cli(empty)
    assert (done.returncode, done.stdout.strip()) == (0, f"{empty}: OK (empty file: 0 lines)")


# --- a real server, restarted ------------------------------------------------------------------------------------


def tool_call(command: str) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": str(uuid.uuid4()),
        "payload": {"tool": "execute_cli", "args": {"command": command}},
    }


async def phone_session(server: ServerProcess, *commands: str, intent: str = "") -> None:
    """Pair a phone, run ``commands`` as direct tool calls, then ``intent`` through the agent (confirmations denied:
    the call is audited either way)."""
    paired = await asyncio.to_thread(server.pair, connection_type="temp")
    client = ContopClient(paired["url"], device_id=f"phone-{uuid.uuid4().hex[:8]}", video=False)
    await client.connect()
    try:
        for command in commands:
            reply = await client.request(tool_call(command), expect_type="tool_result", timeout=30)
            assert reply.to_dict()["payload"]["status"] == "success", reply.to_dict()
        if intent:
            client.send(UserIntent(payload=UserIntentPayload(text=intent)))
            async with asyncio.timeout(90):
                async for message in client.messages():
                    if message.type == "agent_confirmation_request":
                        no = ConfirmationResponsePayload(approved=False, request_id=message.id)
                        client.send(AgentConfirmationResponse(payload=no))
                    if message.type == "agent_result":
                        break
    finally:
        await client.aclose()


def session_log(home: Path) -> Path:
    (path,) = (home / "logs").glob("session-*.jsonl")
    return path


@pytest.mark.slow
async def test_a_restarted_server_continues_the_chain_after_a_huge_line_and_after_a_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    steps = tmp_path / "script.json"
    target = tmp_path / "notes.txt"
    target.write_text("old\n")
    edit = {"file_path": str(target), "old_string": "old", "new_string": "y" * BIG}
    steps.write_text(json.dumps([{"tool": "edit_file", "args": edit}, {"text": "edited"}]))
    server = ServerProcess(home, env={"CONTOP_EXECUTION_MODEL": f"scripted:{steps}"})

    await asyncio.to_thread(server.start)
    try:
        await phone_session(server, "echo before", intent="make the notes long")
    finally:
        await asyncio.to_thread(server.stop)
    path = session_log(home)
    assert max(len(line) for line in path.read_bytes().split(b"\n")) > 1_048_576
    assert path.read_bytes().endswith(b"}\n")

    await asyncio.to_thread(server.start)  # 2. a restart after a last line over 1 MiB
    try:
        await phone_session(server, "echo after the restart")
    finally:
        await asyncio.to_thread(server.stop)
    done = cli(path)
    assert done.returncode == 0 and "chain intact" in done.stdout, done.stdout

    intact = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(FRAGMENT)  # 3. as a server killed in the middle of a write leaves it
    cut_line = intact.count(b"\n") + 1
    await asyncio.to_thread(server.start)
    try:
        await phone_session(server, "echo after the crash")
    finally:
        await asyncio.to_thread(server.stop)
    assert "ends in the middle of a line" in server.log()
    assert path.read_bytes().startswith(intact + FRAGMENT + b"\n{")
    done = cli(path)
    assert done.returncode == 1, done.stdout
    assert f"CUT SHORT: line {cut_line} was left unfinished" in done.stdout and "TAMPERED" not in done.stdout
