"""The runner in-process over the fake CLI: a cancelled call ends in SIGKILL of the group, however it is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from contop.proxy import runner as runner_module
from contop.proxy.providers import SPECS
from contop.proxy.runner import KILL_GRACE_S, CliRunner, Limits
from tests.proxy.fakecli import install_fake
from tests.proxy.proxyproc import gone, wait_gone

pytestmark = pytest.mark.timeout(60)


async def test_a_cancel_during_the_kill_grace_still_kills_the_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, record = tmp_path / "script.json", tmp_path / "record"
    script.write_text(json.dumps([{"sleep": 50, "ignore_term": True, "child": True}]))
    monkeypatch.setenv("FAKE_CLI_SCRIPT", str(script))
    monkeypatch.setenv("FAKE_CLI_RECORD", str(record))
    started: list[asyncio.subprocess.Process] = []
    real_start = runner_module._start

    async def start(*args: Any) -> asyncio.subprocess.Process:
        started.append(await real_start(*args))
        return started[-1]

    monkeypatch.setattr(runner_module, "_start", start)
    runner = CliRunner(SPECS["anthropic"], Limits(), str(install_fake(tmp_path / "bin", "anthropic")))
    call = runner.start("hi", None)
    while not (record / "call-0.json").exists():
        await asyncio.sleep(0.05)
    pids = [pid for key, pid in json.loads((record / "call-0.json").read_text()).items() if key.endswith("pid")]
    call.cancel()  # the client left: SIGTERM, which this CLI ignores, then the grace
    await asyncio.sleep(KILL_GRACE_S / 4)
    assert not any(gone(pid) for pid in pids)
    call.cancel()  # and now the server stops too (asyncio.run cancels what is left)
    with pytest.raises(asyncio.CancelledError):
        await call
    # Its exit was awaited: one still pending when the loop closes leaves asyncio taking it for a running process
    assert started[0].returncode is not None
    try:
        assert await asyncio.to_thread(wait_gone, pids, KILL_GRACE_S / 2), "the CLI survived the second cancel"
    finally:
        await runner.aclose()
        for pid in pids:  # whatever a failure left behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
