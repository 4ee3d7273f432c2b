"""Per-command cgroups of the sandbox: a total cap on memory and processes, on this machine's real cgroups."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest

from contop.security.cgroups import PREFIX, SandboxCgroups
from contop.security.sandbox import BubblewrapBackend, SandboxLimits

_BWRAP = BubblewrapBackend()
_CGROUPS = SandboxCgroups()
needs_both = pytest.mark.skipif(
    not (_BWRAP.available() and _CGROUPS.available),
    reason=f"needs bubblewrap and writable cgroups: {_BWRAP.describe()} / {_CGROUPS.problem}",
)

HOG = "python3 -c 'import time; b = bytearray(200 << 20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(2)'"


@needs_both
async def test_processes_together_cannot_take_more_than_the_total_cap() -> None:
    backend = BubblewrapBackend(limits=SandboxLimits(total_memory_bytes=300 << 20))
    assert "cgroup" in backend.describe()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "state" / "sandbox" / "workspace"
        # each stays under its own 256 MiB address space; three together would take 600 MiB
        result = await backend.run(
            f"for i in 1 2 3; do {HOG} & done; wait; echo waited", timeout=30, workspace=workspace
        )
    assert result["limit_hit"] == "memory", result
    assert "Killed" in result["stderr"] and "all its processes together" in result["note"]
    mine = f"{PREFIX}{os.getpid()}-*"
    for _ in range(60):  # removed in the background once its last processes have left
        if not any(list(parent.glob(mine)) for parent in _CGROUPS.parents.values()):
            break
        await asyncio.sleep(0.05)
    for parent in _CGROUPS.parents.values():
        assert not list(parent.glob(mine))  # each command's groups are removed after it


FORKER = """
import os, time
made = 0
for _ in range(40):
    try:
        pid = os.fork()
    except OSError:  # at the cap: refused at once (bash would retry, then give up and exit 254)
        break
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    made += 1
print(made, len([p for p in os.listdir("/proc") if p.isdigit()]))
"""


@needs_both
async def test_a_fork_bomb_stops_at_the_process_cap() -> None:
    backend = BubblewrapBackend(limits=SandboxLimits(nproc=20))
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "state" / "sandbox" / "workspace"
        (workspace).mkdir(parents=True)
        (workspace / "forker.py").write_text(FORKER)
        result = await backend.run("python3 forker.py", timeout=30, workspace=workspace)
    made, processes = (int(n) for n in result["stdout"].split())
    assert made < 40 and processes <= 20, result


def test_an_unusable_cgroup_tree_is_reported_not_used(tmp_path: Path) -> None:
    (tmp_path / "self").write_text("0::/user.slice/x\n")
    (tmp_path / "root").mkdir()
    cgroups = SandboxCgroups(root=str(tmp_path / "root"), self_cgroup=str(tmp_path / "self"))
    assert not cgroups.available and "no writable memory and pids cgroups" in cgroups.problem
    (tmp_path / "root" / "cgroup.controllers").write_text("memory pids\n")  # a cgroup v2 system
    cgroups = SandboxCgroups(root=str(tmp_path / "root"), self_cgroup=str(tmp_path / "self"))
    assert not cgroups.available and "cgroup v2 is not supported yet" in cgroups.problem


@needs_both
def test_a_sweep_leaves_another_live_servers_fresh_groups_alone() -> None:
    import os
    import subprocess

    other = subprocess.Popen(["sleep", "30"])  # stands for another server, alive
    try:
        parent = next(iter(_CGROUPS.parents.values()))
        theirs = parent / f"{PREFIX}{other.pid}-abc"
        gone = parent / f"{PREFIX}{2**22 + 12345}-abc"  # a pid no process has here
        theirs.mkdir()
        gone.mkdir()
        SandboxCgroups()  # a new server starts, and sweeps
        assert theirs.exists() and not gone.exists()
    finally:
        other.kill()
        other.wait()
        for folder in (theirs, gone):
            if folder.exists():
                os.rmdir(folder)
