"""Control groups capping what one sandboxed command may take in all: memory and processes.

The rlimits bubblewrap's shell sets count per process (256 MiB of address space each, up to 100 processes), so a
command could still take 25 GB between its processes, or more through the kernel (socket buffers), and, when the
server does not run as root, fork without any bound. A cgroup counts them together, kernel memory included.

Used where the server may create cgroups below its own in the cgroup v1 ``memory`` and ``pids`` hierarchies (a
root server, as in most containers). cgroup v2 is not supported yet: its "no internal processes" rule means the
server would first have to move itself into a leaf of a delegated group. Elsewhere the sandbox runs with its
rlimits only, and ``describe()`` says so. Blocking file system work: call it from a thread.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from contop.core.processes import pid_alive

PREFIX = "contop-sandbox-"


@dataclass(slots=True)
class CallGroups:
    """The cgroups of one sandboxed command: join them by writing its pid to each of ``procs``."""

    dirs: list[Path] = field(default_factory=list)

    @property
    def procs(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def memory_exhausted(self) -> bool:
        """Whether the memory cap was reached (so a SIGKILL was the kernel's OOM killer)."""
        for folder in self.dirs:
            try:
                if (folder / "memory.oom_control").exists():  # the memory group (v1)
                    control = dict(line.split() for line in (folder / "memory.oom_control").read_text().splitlines())
                    return int(control.get("oom_kill", "0")) > 0
            except (OSError, ValueError):
                return False
        return False

    def remove(self, wait: float = 2.0) -> None:
        """Remove the groups once their processes are gone (a killed process takes a moment to leave)."""
        deadline = time.monotonic() + wait
        for folder in self.dirs:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break  # left behind, empty or nearly: a later server start removes it (sweep)
                    time.sleep(0.02)


class SandboxCgroups:
    """Where this server may create per-command cgroups, found once from ``/proc/self/cgroup``."""

    def __init__(self, root: str = "/sys/fs/cgroup", self_cgroup: str = "/proc/self/cgroup") -> None:
        self.root = Path(root)
        self.parents: dict[str, Path] = {}  # controller ("memory", "pids") -> our cgroup folder
        self.problem = ""
        try:
            lines = Path(self_cgroup).read_text().splitlines()
        except OSError as exc:
            self.problem = f"cannot read {self_cgroup}: {exc}"
            return
        v1 = {}
        unified = None
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, path = parts
            for controller in controllers.split(","):
                if controller in ("memory", "pids"):
                    v1[controller] = self.root / controller / path.lstrip("/")
            if controllers == "":
                unified = self.root / path.lstrip("/")
        if set(v1) == {"memory", "pids"} and all(_writable(p) for p in v1.values()):
            self.parents = v1
        elif unified is not None and (self.root / "cgroup.controllers").exists():
            self.problem = "cgroup v2 is not supported yet for per-command groups"
        else:
            self.problem = "no writable memory and pids cgroups"
        self.sweep()

    @property
    def available(self) -> bool:
        return bool(self.parents)

    def sweep(self) -> None:
        """Remove the groups a server that is gone left behind (killed before it could). Groups are named after
        the server's pid: another live server's, just made and not yet joined (so empty), are left alone."""
        for parent in self.parents.values():
            for folder in parent.glob(PREFIX + "*"):
                owner = folder.name[len(PREFIX) :].split("-", 1)[0]
                if owner.isdigit() and pid_alive(int(owner)):
                    continue
                with contextlib.suppress(OSError):
                    folder.rmdir()

    def create(self, memory_bytes: int, pids: int) -> CallGroups:
        """Fresh groups for one command with these caps; raises OSError when they cannot be made."""
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        groups = CallGroups()
        try:  # cgroup v1, the only one supported (see the module's docstring)
            memory = self.parents["memory"] / name
            memory.mkdir()
            groups.dirs.append(memory)
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():  # swap too, where accounted
                with contextlib.suppress(OSError):
                    (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            procs = self.parents["pids"] / name
            procs.mkdir()
            groups.dirs.append(procs)
            (procs / "pids.max").write_text(str(pids))
        except OSError:
            groups.remove(wait=0)
            raise
        return groups


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)
