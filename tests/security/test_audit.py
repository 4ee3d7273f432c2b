"""The audit log on real files: schema, permissions, rotation, hash chain, tamper detection, redaction, CLI."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from contop.cli import audit as audit_cli
from contop.security.audit import (
    GENESIS_HASH,
    REDACTED,
    AuditEntry,
    AuditLog,
    Redactor,
    line_hash,
    log_path,
    verify_file,
)

SEED_FIELDS = {
    "timestamp", "session_id", "user_prompt", "classified_command", "tool_used", "execution_result",
    "voice_message", "duration_ms",
}  # fmt: skip


class Clock:
    def __init__(self, moment: dt.datetime) -> None:
        self.now = moment

    def __call__(self) -> dt.datetime:
        return self.now


def entries(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def write_some(logs: Path, count: int = 5, **kwargs: object) -> Path:
    clock = Clock(dt.datetime(2026, 3, 27, 23, 59, tzinfo=dt.UTC))
    async with AuditLog(logs, clock=clock) as log:
        log.record(AuditEntry(event="session_start", session_id="s1"))
        for i in range(count):
            log.record(
                AuditEntry(
                    event="tool_start",
                    session_id="s1",
                    tool_used="execute_cli",
                    classified_command=f"echo {i}",
                    decision="safe",
                    route="host",
                    call_id=str(i),
                )
            )
            log.record(AuditEntry(event="tool_end", session_id="s1", tool_used="execute_cli",
                                  classified_command=f"echo {i}", execution_result="success", duration_ms=i,
                                  call_id=str(i)))  # fmt: skip
    return log_path(logs, dt.date(2026, 3, 27))


async def test_lines_schema_chain_and_permissions(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    path = await write_some(logs)
    lines = entries(path)
    assert len(lines) == 11
    assert lines[0]["prev_hash"] == GENESIS_HASH and lines[0]["event"] == "session_start"
    for line in lines:
        assert SEED_FIELDS | {"decision", "route", "event", "prev_hash"} <= line.keys()
    assert lines[1]["timestamp"] == "2026-03-27T23:59:00.000Z"
    raw = path.read_bytes().split(b"\n")
    assert lines[1]["prev_hash"] == line_hash(raw[0])
    assert verify_file(path).ok and verify_file(path).lines == 11
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700


async def test_daily_rotation_uses_utc_date(tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2026, 3, 27, 23, 59, 59, tzinfo=dt.UTC))
    async with AuditLog(tmp_path, clock=clock) as log:
        log.record(AuditEntry(event="tool_start", session_id="a"))
        await log.flush()
        # 01:00 on the 28th in UTC+2 is 23:00 UTC on the 27th: files follow the UTC date.
        clock.now = dt.datetime(2026, 3, 28, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        log.record(AuditEntry(event="tool_end", session_id="a"))
        clock.now = dt.datetime(2026, 3, 28, 0, 0, 1, tzinfo=dt.UTC)
        log.record(AuditEntry(event="tool_start", session_id="b"))
    first, second = log_path(tmp_path, dt.date(2026, 3, 27)), log_path(tmp_path, dt.date(2026, 3, 28))
    assert [e["session_id"] for e in entries(first)] == ["a", "a"]
    assert [e["session_id"] for e in entries(second)] == ["b"]
    assert entries(second)[0]["prev_hash"] == GENESIS_HASH
    assert verify_file(first).ok and verify_file(second).ok


async def test_restart_continues_the_chain(tmp_path: Path) -> None:
    path = await write_some(tmp_path, count=1)
    path2 = await write_some(tmp_path, count=1)
    assert path == path2
    assert len(entries(path)) == 6
    assert verify_file(path).ok


async def test_edit_delete_reorder_truncate_are_detected(tmp_path: Path) -> None:
    path = await write_some(tmp_path)
    original = path.read_bytes()
    lines = original.split(b"\n")[:-1]

    edited = bytearray(original)
    edited[original.index(b"echo 2")] = ord(b"E")  # one byte, in line 6
    path.write_bytes(bytes(edited))
    assert verify_file(path).first_bad_line == 7

    path.write_bytes(b"\n".join(lines[:3] + lines[4:]) + b"\n")  # delete line 4
    result = verify_file(path)
    assert not result.ok and result.first_bad_line == 4

    path.write_bytes(b"\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + b"\n")  # swap lines 2 and 3
    assert verify_file(path).first_bad_line == 2

    path.write_bytes(b"\n".join(lines[1:]) + b"\n")  # first line removed
    assert verify_file(path).first_bad_line == 1

    path.write_bytes(original[: len(original) // 2])  # cut in the middle of a line
    assert not verify_file(path).ok

    path.write_bytes(original)
    assert verify_file(path).ok


async def test_cli_verify(tmp_path: Path) -> None:
    path = await write_some(tmp_path)
    ok = subprocess.run([sys.executable, "-m", "contop.cli.audit", "verify", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:2] + lines[3:]))
    bad = subprocess.run(
        [sys.executable, "-m", "contop.cli.audit", "verify", str(path)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "line 3" in bad.stdout
    assert "line 2 was changed, or lines before line 3 were removed or moved" in bad.stdout  # where to look
    assert audit_cli.main(["verify", str(tmp_path / "missing.jsonl")]) == 2  # cannot read: not "tampered"


async def test_secrets_are_redacted(tmp_path: Path) -> None:
    pairing_token = "pt_9f8e7d6c5b4a3f2e1d0c9b8a"
    log = AuditLog(tmp_path, secrets=lambda: [pairing_token, "short"])
    log.redact.add("admin-token-0123456789abcdef")
    log.record(AuditEntry(
        event="tool_start", session_id="s", user_prompt=f"use token {pairing_token}",
        classified_command="curl -H 'Authorization: Bearer admin-token-0123456789abcdef' "
        "-d sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ123",
        extra={"args": {"key": "AIzaSyA1234567890abcdefghijklmnopqrstu"}},
    ))  # fmt: skip
    await log.aclose()
    text = next(tmp_path.glob("session-*.jsonl")).read_text()
    for secret in (pairing_token, "admin-token-0123456789abcdef", "sk-ABCDEFGHIJ", "AIzaSyA123"):
        assert secret not in text
    assert text.count(REDACTED) == 4


async def test_logger_errors_never_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    log = AuditLog(blocker / "logs")
    with caplog.at_level(logging.ERROR, logger="contop.security.audit"):
        log.record(AuditEntry(event="tool_start", session_id="s"))
        await log.flush()
        await log.aclose()
        await log.aclose()  # idempotent
        log.record(AuditEntry(event="tool_end", session_id="s"))  # after close: dropped, not raised
    assert any("write failed" in r.getMessage() for r in caplog.records)
    assert any("closed" in r.getMessage() for r in caplog.records)


async def test_empty_file_verifies(tmp_path: Path) -> None:
    empty = tmp_path / "session-2026-01-01.jsonl"
    empty.write_bytes(b"")
    assert verify_file(empty).ok


async def test_session_events(tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC))
    async with AuditLog(tmp_path, clock=clock) as log:
        log.session_start("s9", device="Pixel", connection_type="permanent")
        log.session_end("s9", duration_ms=1234, total_commands=3, errors=1)
    start, end = entries(log_path(tmp_path, dt.date(2026, 5, 1)))
    assert start["event"] == "session_start" and start["device"] == "Pixel"
    assert end["event"] == "session_end" and end["total_commands"] == 3 and end["duration_ms"] == 1234


async def test_failing_secret_provider_still_redacts_known_values(tmp_path: Path) -> None:
    def broken() -> list[str]:
        raise RuntimeError("settings unreadable")

    log = AuditLog(tmp_path, secrets=broken)
    log.redact.add("known-secret-value-123")
    log.record(AuditEntry(event="tool_start", session_id="s", classified_command="echo known-secret-value-123"))
    await log.aclose()
    text = next(tmp_path.glob("session-*.jsonl")).read_text()
    assert "known-secret-value-123" not in text and REDACTED in text


def test_cli_without_an_action_names_it_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        audit_cli.main([])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "required: ACTION" in err and "audit_action" not in err


async def test_a_line_cut_short_by_a_full_disk_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    from types import SimpleNamespace

    from contop.security import audit as audit_module

    log = AuditLog(tmp_path / "logs")
    log.record(AuditEntry(event="tool_start", session_id="s", tool_used="a"))
    await log.flush()

    def half_write(fd: int, data: bytes) -> int:
        return os.write(fd, data[: len(data) // 2])  # the disk filled up mid-line

    fake_os = SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    fake_os.write = half_write
    monkeypatch.setattr(audit_module, "os", fake_os)
    log.record(AuditEntry(event="tool_start", session_id="s", tool_used="b"))
    await log.flush()
    assert log.failure is not None and "bytes written" in log.failure
    monkeypatch.undo()
    log.record(AuditEntry(event="tool_start", session_id="s", tool_used="c"))
    await log.aclose()
    assert log.failure is None
    (path,) = sorted((tmp_path / "logs").glob("session-*.jsonl"))
    assert verify_file(path).ok  # no torn line: the chain still verifies
    assert [json.loads(line)["tool_used"] for line in path.read_text().splitlines()] == ["a", "c"]


async def test_each_entry_says_whether_it_was_written_whatever_came_after(tmp_path: Path) -> None:
    import asyncio
    import errno

    class BigLinesFail(AuditLog):
        def _write(self, entry: AuditEntry) -> None:  # a nearly full disk: only small lines still fit
            if entry.tool_used == "big":
                raise OSError(errno.ENOSPC, "No space left on device")
            super()._write(entry)

    log = BigLinesFail(tmp_path / "logs")
    big = log.record(AuditEntry(event="tool_start", session_id="s", tool_used="big"))
    small = log.record(AuditEntry(event="tool_start", session_id="s", tool_used="small"))
    assert await asyncio.wrap_future(small) is None
    assert log.failure is None  # the latest write worked...
    assert "No space left" in str(await asyncio.wrap_future(big))  # ...but the big entry's caller still knows
    await log.aclose()


def test_key_shapes_are_whole_words_only() -> None:
    """The redactor also cleans what the phone sees of a run (tool output, answers): names that merely contain a
    key's prefix stay readable."""
    redact = Redactor()
    key = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0k1L2"
    assert redact(f"OPENAI_API_KEY={key} and ({key})") == "OPENAI_API_KEY=[REDACTED] and ([REDACTED])"
    for text in (
        "ls: flask-app-deployment-config.yaml",
        "task-3f2a1b4c-9d8e-4f7a-b6c5 done",
        "desk-0123456789abcdefghij",
    ):
        assert redact(text) == text


STREAM_TEXTS = (
    "The key in settings.json is sk-proj-a1B2c3D4e5F6g7H8i9J0k1L2, keep it safe.",
    "local key: my-local-PASSWORD-1234 (and again my-local-PASSWORD-1234)",
    "Gemini AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q ends here",
    "ls: flask-app-deployment-config.yaml task-3f2a1b4c-9d8e-4f7a-b6c5 desk-0123456789abcdefghij sk",
    "short s k sk- AI gh x: no key at all, just words ending in s",
)


@pytest.mark.parametrize("text", STREAM_TEXTS)
def test_a_key_split_across_streamed_pieces_is_hidden(text: str) -> None:
    """A model's answer reaches the phone piece by piece: wherever the pieces break, the phone never sees a key
    or part of one, and the joined pieces read exactly as the whole answer redacted at once."""
    redact = Redactor(lambda: ["my-local-PASSWORD-1234"])
    whole = redact(text)
    for first in range(len(text) + 1):
        for second in (first, min(len(text), first + 1), min(len(text), first + 7)):
            stream = redact.stream()
            pieces = [stream.feed(text[:first]), stream.feed(text[first:second]), stream.feed(text[second:])]
            pieces.append(stream.flush())
            assert "".join(pieces) == whole, (first, second, pieces)
            for piece in pieces:
                for fragment in ("a1B2c3D4", "PASSWORD", "SyA1b2C3"):
                    assert fragment not in piece


def test_streamed_pieces_join_to_the_whole_text_redacted_whatever_the_text() -> None:
    """Texts made of key prefixes, known values' pieces and near-misses, cut at random places (seeded)."""
    secrets = ["my-local-PASSWORD-1234", "sk-ant-api03-ZZZZyyyyXXXXwwww1234", "abcdabcdab"]
    redact = Redactor(lambda: secrets)
    atoms = "s k - sk- A AIza gh p_ xox b- a . x Z 1 _ my-lo cal- PASSWORD-1234 abcd ab sk-ant-api03- é [".split()
    atoms += [" ", "\n", "ZZZZyyyyXXXXwwww1234"]
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 30)))
        cuts = sorted(rng.randint(0, len(text)) for _ in range(rng.randint(0, 5)))
        stream, pieces, done = redact.stream(), [], 0
        for cut in [*cuts, len(text)]:
            pieces.append(stream.feed(text[done:cut]))
            done = cut
        pieces.append(stream.flush())
        assert "".join(pieces) == redact(text), (text, cuts, pieces)


def test_a_streamed_piece_is_passed_on_at_once_when_it_cannot_be_a_key() -> None:
    stream = Redactor(lambda: ["my-local-PASSWORD-1234"]).stream()
    assert stream.feed("Opening the file now.") == "Opening the file now."
    assert stream.feed(" The key is my-lo") == " The key is "  # the start of the local key waits
    assert stream.feed("cal-PASSWORD-1234.") == "[REDACTED]."
    assert stream.feed(" Then sk-") == " Then "
    assert stream.flush() == "sk-"


def test_a_secret_cut_short_in_a_reason_is_hidden_too() -> None:
    """QA: the gate's reason quotes a command cut at 50 characters; a key cut there went to the phone and the audit
    log as its start ("echo sk-qa31-SECRETKEY-…"), which neither the whole-value match nor the key pattern saw."""
    from contop.security.decision import GateContext
    from contop.security.findings import shorten
    from contop.security.gate import classify_command

    secret = "qa31-SECRETKEY-0123456789abcdef"
    redact = Redactor(lambda: [secret])
    command = f"env | grep -c -i api_key; echo {secret} done"
    reason = classify_command(command, GateContext(cwd="/tmp", home="/tmp/h", state_dir="/tmp/h/s")).reason
    assert "qa31-SECR" in reason and "…" in reason  # the gate quotes the start of it
    shown = redact(reason)
    assert "qa31" not in shown and REDACTED in shown, shown
    assert "SECRET" not in redact(f"nothing dangerous found ({shorten('echo sk-' + 'A' * 60, 30)})")
    assert "hunter2" not in redact(shorten("curl http://alice:hunter2hunter2@example.org/x", 28))
    # What only looks alike stays as it was.
    for text in ("ask-me later…", "echo hi…", "a task-list…", "see http://example.org/a…"):
        assert redact(text) == text
