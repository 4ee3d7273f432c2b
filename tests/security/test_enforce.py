"""GuardedToolset routing with the real gate, real tools, a real sandbox and audit file, and a fake Confirmer."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from contop.core.defaults import DEFAULT_DESTRUCTIVE_PATTERNS, DEFAULT_FORBIDDEN_COMMANDS, default_restricted_paths
from contop.core.errors import NotAvailableError, ToolError
from contop.security.audit import AuditLog, verify_file
from contop.security.enforce import FORCE_HOST_REASON, ConfirmationRequest, GateLists, GuardedToolset
from contop.security.sandbox import BubblewrapBackend
from contop.tools.cli import execute_cli
from contop.tools.context import ToolContext
from contop.tools.history import get_action_history

_BWRAP = BubblewrapBackend()
needs_bwrap = pytest.mark.skipif(not _BWRAP.available(), reason="bubblewrap unusable here")

SAFE = "echo hello"
BLOCKED = "ls -d /root"  # a restricted path: block


def destructive(path: Path) -> str:
    return f"rm -f '{path}'"


class FakeConfirmer:
    """Answers every request with ``answer`` (or never, when ``hang``) and remembers what it was asked."""

    def __init__(self, answer: bool = True, *, hang: bool = False) -> None:
        self.answer = answer
        self.hang = hang
        self.requests: list[ConfirmationRequest] = []
        self.cancelled = False

    async def confirm(self, request: ConfirmationRequest) -> bool:
        self.requests.append(request)
        if self.hang:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        return self.answer


class DisconnectingConfirmer:
    async def confirm(self, request: ConfirmationRequest) -> bool:
        raise ConnectionError("data channel closed")


async def system_info(ctx: ToolContext) -> dict[str, Any]:
    """Stands in for a host tool that fails unexpectedly."""
    raise RuntimeError("disk on fire")


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return ToolContext(
        session_id="sess-1",
        state_dir=tmp_path / "state",
        home=str(tmp_path / "home"),
        cwd=str(tmp_path / "work"),
        user_prompt="do things",
    )


@pytest.fixture
async def audit(ctx: ToolContext) -> Any:
    log = AuditLog(ctx.state_dir / "logs")
    yield log
    await log.aclose()


def make_toolset(
    ctx: ToolContext, audit: AuditLog, confirmer: Any = None, *, sandbox: Any = None, timeout: float = 5
) -> GuardedToolset:
    def lists() -> GateLists:
        return GateLists(
            restricted_paths=tuple(default_restricted_paths(str(ctx.state_dir))),
            forbidden_commands=DEFAULT_FORBIDDEN_COMMANDS,
            destructive_patterns=DEFAULT_DESTRUCTIVE_PATTERNS,
        )

    tools = {"execute_cli": execute_cli, "get_action_history": get_action_history, "system_info": system_info}
    return GuardedToolset(
        tools, lists=lists, confirmer=confirmer, audit=audit, sandbox=sandbox, confirm_timeout=timeout
    )


async def audit_lines(audit: AuditLog) -> list[dict[str, Any]]:
    await audit.flush()
    files = sorted(audit.logs_dir.glob("session-*.jsonl"))
    for path in files:
        assert verify_file(path).ok
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


async def test_safe_runs_on_host_with_audit_and_history(ctx: ToolContext, audit: AuditLog) -> None:
    confirmer = FakeConfirmer()
    toolset = make_toolset(ctx, audit, confirmer)
    outcome = await toolset.call("execute_cli", {"command": SAFE}, ctx, call_id="c1")
    assert outcome.status == "success" and outcome.executed_on == "host"
    assert outcome.decision is not None and outcome.decision.verdict == "safe"
    assert outcome.result["stdout"] == "hello\n"
    assert confirmer.requests == []
    lines = await audit_lines(audit)
    assert [(e["event"], e["call_id"]) for e in lines] == [("tool_start", "c1"), ("tool_end", "c1")]
    assert lines[0]["decision"] == "safe" and lines[0]["classified_command"] == SAFE
    assert lines[1]["execution_result"] == "success" and lines[1]["route"] == "host"
    assert lines[1]["user_prompt"] == "do things" and lines[1]["session_id"] == "sess-1"
    record = ctx.history.recent()[-1]
    assert record.tool == "execute_cli" and record.status == "success" and record.summary == "hello"


async def test_confirm_approved_runs(ctx: ToolContext, audit: AuditLog, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("x")
    confirmer = FakeConfirmer(True)
    outcome = await make_toolset(ctx, audit, confirmer).call(
        "execute_cli", {"command": destructive(victim)}, ctx, call_id="c2"
    )
    assert outcome.decision is not None and outcome.decision.verdict == "confirm"
    assert outcome.status == "success" and not victim.exists()
    (request,) = confirmer.requests
    assert request.tool == "execute_cli" and request.detail == destructive(victim)
    assert request.timeout == 5 and not request.force_host and request.reason


async def test_confirm_denied_skips(ctx: ToolContext, audit: AuditLog, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("x")
    outcome = await make_toolset(ctx, audit, FakeConfirmer(False)).call(
        "execute_cli", {"command": destructive(victim)}, ctx, call_id="c3"
    )
    assert outcome.status == "rejected" and victim.exists()
    assert outcome.for_model()["status"] == "rejected"
    wire = outcome.as_dict()
    assert wire["status"] == "rejected" and wire["decision"] == "confirm" and wire["call_id"] == "c3"
    json.dumps(wire)
    assert ctx.history.recent()[-1].status == "rejected"
    lines = await audit_lines(audit)
    assert lines[-1]["execution_result"] == "rejected" and lines[-1]["route"] == "none"


async def test_confirm_timeout_and_disconnect_reject(ctx: ToolContext, audit: AuditLog, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("x")
    hanging = FakeConfirmer(hang=True)
    started = time.monotonic()
    outcome = await make_toolset(ctx, audit, hanging, timeout=0.3).call(
        "execute_cli", {"command": destructive(victim)}, ctx, call_id="c4"
    )
    assert outcome.status == "rejected" and victim.exists() and hanging.cancelled
    assert time.monotonic() - started < 3
    outcome = await make_toolset(ctx, audit, DisconnectingConfirmer()).call(
        "execute_cli", {"command": destructive(victim)}, ctx, call_id="c5"
    )
    assert outcome.status == "rejected" and victim.exists()
    refusing = FakeConfirmer(answer=False)
    outcome = await make_toolset(ctx, audit, refusing).call(
        "execute_cli", {"command": destructive(victim)}, ctx, call_id="c6"
    )
    assert outcome.status == "rejected" and outcome.message.startswith("The user did not approve this call")


class SelfTimingConfirmer:
    """Keeps the timeout itself and tells the user it expired, as the phone session does."""

    def __init__(self) -> None:
        self.expired = False

    async def confirm(self, request: Any) -> bool:
        try:
            await asyncio.wait_for(asyncio.Event().wait(), request.timeout)
        except TimeoutError:
            self.expired = True  # the session sends agent_status confirmation_expired here
        return False


async def test_the_confirmer_times_out_itself_so_the_user_hears_the_approval_expired(
    ctx: ToolContext, audit: AuditLog, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("x")
    confirmer = SelfTimingConfirmer()
    outcome = await make_toolset(ctx, audit, confirmer, timeout=0.3).call(
        "execute_cli", {"command": destructive(victim)}, ctx, call_id="c7"
    )
    assert outcome.status == "rejected" and victim.exists()
    assert confirmer.expired  # not cancelled by a deadline of the gate's own at the same moment
    # The model hears that nobody answered, not that the user said no.
    assert outcome.message.startswith("Nobody answered the approval request within 0 s"), outcome.message


@needs_bwrap
async def test_block_goes_to_sandbox_without_asking(ctx: ToolContext, audit: AuditLog) -> None:
    confirmer = FakeConfirmer(True)
    outcome = await make_toolset(ctx, audit, confirmer, sandbox=_BWRAP).call(
        "execute_cli", {"command": BLOCKED}, ctx, call_id="c6"
    )
    assert outcome.decision is not None and outcome.decision.verdict == "block"
    assert outcome.executed_on == "sandbox" and outcome.backend == "bubblewrap"
    assert outcome.result["backend"] == "bubblewrap"
    assert "/root" in outcome.result["stderr"]  # the sandbox has no /root
    assert "sandbox" in outcome.for_model()["sandbox_reason"]
    assert confirmer.requests == []
    lines = await audit_lines(audit)
    assert lines[-1]["route"] == "sandbox" and lines[-1]["backend"] == "bubblewrap"


@needs_bwrap
async def test_a_sandboxed_command_says_when_its_timeout_was_corrected(ctx: ToolContext, audit: AuditLog) -> None:
    outcome = await make_toolset(ctx, audit, FakeConfirmer(True), sandbox=_BWRAP).call(
        "execute_cli", {"command": BLOCKED, "timeout": 1e9}, ctx, call_id="c6t"
    )
    assert outcome.executed_on == "sandbox"
    assert "at most 600 s" in outcome.result["note"]


async def test_block_without_sandbox_is_refused(ctx: ToolContext, audit: AuditLog) -> None:
    confirmer = FakeConfirmer(False)
    outcome = await make_toolset(ctx, audit, confirmer).call("execute_cli", {"command": BLOCKED}, ctx, call_id="c7")
    assert outcome.status == "blocked" and outcome.executed_on == "none" and outcome.result is None
    (request,) = confirmer.requests
    assert request.force_host and request.reason == FORCE_HOST_REASON
    assert "without a sandbox" in request.voice_message
    assert ctx.history.recent()[-1].status == "blocked"
    no_confirmer = await make_toolset(ctx, audit).call("execute_cli", {"command": BLOCKED}, ctx, call_id="c8")
    assert no_confirmer.status == "blocked"


async def test_block_force_host_approved_runs_on_host(ctx: ToolContext, audit: AuditLog) -> None:
    outcome = await make_toolset(ctx, audit, FakeConfirmer(True)).call(
        "execute_cli", {"command": BLOCKED}, ctx, call_id="c9"
    )
    assert outcome.status == "success" and outcome.executed_on == "host"
    assert outcome.result["stdout"] == "/root\n"
    lines = await audit_lines(audit)
    assert lines[-1]["force_host"] is True and lines[-1]["decision"] == "block" and lines[-1]["route"] == "host"


async def test_unknown_tool_is_refused(ctx: ToolContext, audit: AuditLog) -> None:
    confirmer = FakeConfirmer(True)
    outcome = await make_toolset(ctx, audit, confirmer).call("format_disk", {}, ctx, call_id="c10")
    assert outcome.status == "blocked" and "Unknown tool" in outcome.message
    assert confirmer.requests == []
    lines = await audit_lines(audit)
    assert [e["event"] for e in lines] == ["tool_start", "tool_end"]


@pytest.mark.parametrize(
    "args",
    [{}, {"command": SAFE, "bogus": 1}, {"command": SAFE, "timeout": "soon"}, {"command": ["not", "a", "string"]}],
)
async def test_bad_arguments_are_a_clear_outcome(ctx: ToolContext, audit: AuditLog, args: dict[str, Any]) -> None:
    outcome = await make_toolset(ctx, audit).call("execute_cli", args, ctx, call_id="c11")
    assert outcome.status == "invalid_args"
    assert "execute_cli" in outcome.message
    assert ctx.history.recent()[-1].status == "error"


async def test_arguments_are_coerced_to_their_types(ctx: ToolContext, audit: AuditLog) -> None:
    outcome = await make_toolset(ctx, audit).call("execute_cli", {"command": SAFE, "timeout": "7"}, ctx, call_id="c12")
    assert outcome.status == "success"


async def test_tool_exceptions_become_error_outcomes(ctx: ToolContext, audit: AuditLog) -> None:
    toolset = make_toolset(ctx, audit)
    crashed = await toolset.call("system_info", {}, ctx, call_id="c13")
    assert crashed.status == "error" and "disk on fire" in crashed.message
    refused = await toolset.call("get_action_history", {"limit": 0}, ctx, call_id="c14")
    assert refused.status == "error" and refused.message == str(ToolError("limit must be at least 1"))
    history = await toolset.call("get_action_history", {"limit": 5}, ctx, call_id="c15")
    assert history.status == "success"
    assert [a["tool"] for a in history.result["actions"]] == ["system_info", "get_action_history"]


async def test_a_missing_capability_says_what_to_install_without_a_traceback(
    ctx: ToolContext, audit: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    async def needs_extra(ctx: ToolContext) -> dict[str, Any]:
        raise NotAvailableError("Reading .xls workbooks needs the xlrd package (pip install xlrd).")

    toolset = make_toolset(ctx, audit)
    toolset._tools["system_info"] = needs_extra
    with caplog.at_level(logging.ERROR):
        outcome = await toolset.call("system_info", {}, ctx, call_id="c16")
    assert outcome.status == "error"
    assert outcome.message == "Reading .xls workbooks needs the xlrd package (pip install xlrd)."  # no class name
    assert not [r for r in caplog.records if r.exc_info], "a missing extra is not a crash"


async def test_cancellation_kills_the_command_and_is_audited(ctx: ToolContext, audit: AuditLog) -> None:
    marker = f"300.{secrets.randbelow(90000) + 10000}"
    toolset = make_toolset(ctx, audit)
    task = asyncio.create_task(toolset.call("execute_cli", {"command": f"sleep {marker}"}, ctx, call_id="c16"))
    deadline = time.monotonic() + 5
    while not _running(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 2
    while _running(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _running(marker)
    lines = await audit_lines(audit)
    assert lines[-1]["event"] == "tool_end" and lines[-1]["voice_message"] == "cancelled"


async def test_every_call_is_audited_in_one_valid_chain(ctx: ToolContext, audit: AuditLog, tmp_path: Path) -> None:
    toolset = make_toolset(ctx, audit, FakeConfirmer(False))
    victim = tmp_path / "v"
    victim.write_text("x")
    calls = [
        ("execute_cli", {"command": SAFE}),
        ("execute_cli", {"command": destructive(victim)}),
        ("execute_cli", {"command": BLOCKED}),
        ("nope", {}),
        ("execute_cli", {"bogus": True}),
    ]
    for i, (name, args) in enumerate(calls):
        await toolset.call(name, args, ctx, call_id=f"k{i}")
    lines = await audit_lines(audit)
    assert len(lines) == 2 * len(calls)
    for i in range(len(calls)):
        events = [e["event"] for e in lines if e["call_id"] == f"k{i}"]
        assert events == ["tool_start", "tool_end"]
    assert len(ctx.history) == len(calls)


def _running(marker: str) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if marker in cmdline and state[state.rfind(")") + 2] != "Z":
                return True
    return False


async def test_a_walking_tool_skips_the_restricted_paths_the_gate_judged_with(ctx: ToolContext, tmp_path: Path) -> None:
    from contop.tools.files import find_files

    vault = tmp_path / "work" / "vault"
    vault.mkdir()
    (vault / "plan.txt").write_text("the plan\n")
    (tmp_path / "work" / "plan.txt").write_text("the plan\n")
    toolset = GuardedToolset(
        {"find_files": find_files}, lists=lambda: GateLists(restricted_paths=(str(vault),)), audit=None
    )
    outcome = await toolset.call("find_files", {"pattern": "*.txt", "search_text": "plan"}, ctx, call_id="f1")
    assert outcome.status == "success" and outcome.decision is not None and outcome.decision.verdict == "safe"
    assert str(vault) not in outcome.result["stdout"]
    assert str(tmp_path / "work" / "plan.txt") in outcome.result["stdout"]
    assert outcome.result["skipped_protected"] == 1


async def test_a_catalogue_tool_this_desktop_lacks_says_what_to_use_instead(ctx: ToolContext, audit: AuditLog) -> None:
    toolset = make_toolset(ctx, audit, FakeConfirmer(True))
    outcome = await toolset.call(
        "execute_browser", {"action": "navigate", "url": "https://example.com"}, ctx, call_id="b1"
    )
    assert outcome.status == "blocked" and "not available on this desktop" in outcome.message
    assert "execute_gui" in outcome.message
    outcome = await toolset.call("convert_document", {"input_path": "a.docx"}, ctx, call_id="b2")
    assert "office-documents skill" in outcome.message


async def test_nothing_runs_while_the_audit_log_cannot_be_written(ctx: ToolContext, tmp_path: Path) -> None:
    import errno

    class FullDisk(AuditLog):
        full = True

        def _write(self, entry: Any) -> None:
            if self.full:
                raise OSError(errno.ENOSPC, "No space left on device")
            super()._write(entry)

    audit = FullDisk(ctx.state_dir / "logs")
    try:
        made = tmp_path / "made.txt"
        toolset = make_toolset(ctx, audit, FakeConfirmer(True))
        outcome = await toolset.call("execute_cli", {"command": f"touch {made}"}, ctx, call_id="full-1")
        assert outcome.status == "blocked" and "audit log cannot be written" in outcome.message
        assert "No space left on device" in outcome.message and not made.exists()
        audit.full = False  # space freed: the next call runs, and is recorded
        outcome = await toolset.call("execute_cli", {"command": f"touch {made}"}, ctx, call_id="full-2")
        assert outcome.status == "success" and made.exists()
        assert [e["call_id"] for e in await audit_lines(audit) if e["event"] == "tool_start"] == ["full-2"]
    finally:
        await audit.aclose()
