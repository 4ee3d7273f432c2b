"""Sandbox backends for commands the gate blocks: bubblewrap on Linux, Docker when an engine is running.

Each backend runs one shell command with no network, a read-only system, a private /tmp and one writable
workspace directory, under wall-time, CPU, memory and process limits, and returns the ``execute_cli`` shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from contop.security.cgroups import SandboxCgroups
from contop.tools.cli import ProcessResult, result_dict, run_process

logger = logging.getLogger(__name__)

NOBODY_UID = 65534
NOBODY_GID = 65534
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
WORKSPACE_MOUNT = "/workspace"
DOCKER_IMAGE = "python:3.12-slim"
DOCKER_LABEL = "contop.sandbox=ephemeral"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
_MEMORY_ERROR = re.compile(
    r"(MemoryError|Cannot allocate memory|out of memory|std::bad_alloc|xmalloc|mmap.*failed)", re.IGNORECASE
)
SIGXCPU = 24
SIGXFSZ = 25


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource ceilings of one sandboxed command (the Docker values of the seed, applied to both backends)."""

    memory_bytes: int = 256 * 1024 * 1024
    cpu_seconds: int = 60
    nproc: int = 100
    file_size_bytes: int = 64 * 1024 * 1024
    tmp_bytes: int = 64 * 1024 * 1024
    total_memory_bytes: int = 512 * 1024 * 1024  # all its processes together, kernel memory included (cgroup)
    cpu_share: float = 0.5  # Docker only: fraction of one CPU


@runtime_checkable
class SandboxBackend(Protocol):
    """A way to run a shell command isolated from the host."""

    name: str

    def available(self) -> bool:
        """Whether this backend works on this machine (cached after the first real check)."""
        ...

    def describe(self) -> str:
        """One human sentence for ``contop doctor`` and ``agent_status``."""
        ...

    async def run(self, command: str, *, timeout: float, workspace: Path) -> dict[str, Any]:  # noqa: ASYNC109
        """Run ``command`` with ``workspace`` as its only writable host directory; ``execute_cli`` shape."""
        ...


def default_workspace(state_dir: Path) -> Path:
    return state_dir / "sandbox" / "workspace"


# What bash prints when a command it waited for died of a signal ("/bin/bash: line 1:   7 Killed   cmd").
_SHELL_SIGNAL = re.compile(r"^\S*bash: line \d+: +\d+ (CPU time limit exceeded|File size limit exceeded|Killed)", re.M)


def _limit_hit(result: ProcessResult, limits: SandboxLimits) -> str | None:
    """Which resource limit a finished sandboxed command ran into, as far as its exit status, its duration and what
    its shell said show. A command that merely exits 152 (128 + SIGXCPU) is not a CPU limit: that one cannot
    come before the command has run for the limit's seconds."""
    if result.timed_out:
        return "wall_time"
    code = result.exit_code
    said = {m.group(1) for m in _SHELL_SIGNAL.finditer(result.stderr)}
    if "CPU time limit exceeded" in said or (
        code in (-SIGXCPU, 128 + SIGXCPU) and result.duration_ms >= limits.cpu_seconds * 1000
    ):
        return "cpu"
    if "File size limit exceeded" in said or code in (-SIGXFSZ, 128 + SIGXFSZ):
        return "file_size"
    if code not in (0, None) and _MEMORY_ERROR.search(result.stderr):
        return "memory"
    if "Killed" in said or code in (128 + 9, -9):
        return "killed"
    return None


def _limit_note(hit: str, limits: SandboxLimits) -> tuple[str, str]:
    """The note for the model and the sentence for the phone about ``hit``."""
    if hit == "cpu":
        return (f"The command used up the sandbox's CPU limit ({limits.cpu_seconds} s per process) and was stopped.",
                "The sandboxed command was stopped at its CPU time limit.")  # fmt: skip
    if hit == "file_size":
        return (f"Exit status {128 + SIGXFSZ} or its shell's message: a file written past the sandbox's "
                f"{limits.file_size_bytes >> 20} MiB file size limit stops the command that way.",
                "The sandboxed command tried to write a file over the size limit.")  # fmt: skip
    if hit == "memory":
        return (f"The command ran out of memory (the sandbox allows {limits.memory_bytes >> 20} MiB per process).",
                "The sandboxed command ran out of memory.")  # fmt: skip
    return ("The command was killed (SIGKILL). In the sandbox this happens to a process that goes past the CPU "
            f"hard limit, or when its processes together use over {limits.total_memory_bytes >> 20} MiB of "
            "memory; a command can also kill itself that way.",
            "The sandboxed command was killed.")  # fmt: skip


def _finish(
    result: ProcessResult, backend: str, workspace: Path, limits_applied: list[str], limits: SandboxLimits
) -> dict[str, Any]:
    out = result_dict(result, cwd=WORKSPACE_MOUNT, backend=backend)
    hit = _limit_hit(result, limits)
    out["limit_hit"] = hit
    out["workspace"] = str(workspace)
    out["limits_applied"] = list(limits_applied)
    if hit and hit != "wall_time":
        note, voice = _limit_note(hit, limits)
        out["note"] = (out["note"] + " " + note).strip()
        out["voice_message"] = voice
    return out


MIB = 1024 * 1024
DISK_CHECK_S = 0.25


def disk_reserve(total: int) -> int:
    """Free space a sandboxed command must leave on the disk of its workspace, which also holds the state
    directory (the audit log, tokens.json): 5% of the disk, at least 64 MiB and at most 1 GiB."""
    return max(64 * MIB, min(1024 * MIB, total // 20))


def disk_shortage(path: Path) -> str | None:
    """Why the disk holding ``path`` is too full for a sandboxed command, or None (blocking: a statvfs)."""
    st = os.statvfs(path)
    free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    reserve = disk_reserve(total)
    if free >= reserve:
        return None
    return (
        f"the disk holding the sandbox workspace has {free // MIB} MiB free and the sandbox leaves at least "
        f"{reserve // MIB} MiB (the audit log is on it too); empty {path} or free some space"
    )


async def run_within_disk(workspace: Path, run: Awaitable[ProcessResult]) -> ProcessResult | str:
    """Await ``run`` (a sandboxed process), stopping it as soon as its workspace's disk runs low.

    A command can write any number of files up to the file-size limit each: without this, one call filled the
    disk in seconds, and the audit log and tokens.json could no longer be written. Returns the result, or why it
    did not run or was stopped.
    """
    short = await asyncio.to_thread(disk_shortage, workspace)
    if short is not None:
        if inspect.iscoroutine(run):
            run.close()  # never started
        return f"Not run: {short}."
    task = asyncio.ensure_future(run)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISK_CHECK_S)
            if done:
                return task.result()
            short = await asyncio.to_thread(disk_shortage, workspace)
            if short is not None:
                return f"Stopped: {short}."
    finally:
        if not task.done():
            task.cancel()  # run_process kills the whole process group on cancellation
            await asyncio.gather(task, return_exceptions=True)


def _disk_result(message: str, backend: str, workspace: Path, limits_applied: list[str]) -> dict[str, Any]:
    result = ProcessResult(stdout="", stderr=message, exit_code=None, duration_ms=0, timed_out=False,
                           truncated=False, interactive_prompt_detected=False, notes=[message])  # fmt: skip
    out = _finish(result, backend, workspace, limits_applied, SandboxLimits())
    out["status"], out["limit_hit"] = "error", "disk"
    out["voice_message"] = "The sandboxed command was stopped: the disk is nearly full."
    return out


def _prepare_workspace(workspace: Path, owner: int | None) -> Path:
    workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
    if owner is not None:
        os.chown(workspace, owner, owner)
    os.chmod(workspace, 0o700)
    return workspace.resolve()


# --- bubblewrap ---------------------------------------------------------------------------------------------


def tasks_of(uid: int) -> int:
    """How many processes and threads run with real user id ``uid`` on this machine (blocking: reads /proc).

    RLIMIT_NPROC counts them all, not only the sandbox's: a daemon or a container running as ``nobody`` would
    otherwise use up the sandbox's allowance."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                status = fh.read(4096)
        except OSError:
            continue  # gone meanwhile
        uid_at, threads_at = status.find(b"\nUid:"), status.find(b"\nThreads:")
        if uid_at < 0 or threads_at < 0:
            continue
        with contextlib.suppress(ValueError, IndexError):
            if int(status[uid_at + 5 :].split()[0]) == uid:
                count += int(status[threads_at + 9 :].split()[0])
    return count


def limits_script(limits: SandboxLimits, *, nproc: int | None) -> str:
    """Shell prologue applying the rlimits inside the sandbox, then exec'ing the user command given as ``$1``.

    Each limit is applied separately so one the kernel refuses does not stop the others. ``nproc`` is the
    RLIMIT_NPROC to set (None: none).
    """
    parts = [
        f"ulimit -v {limits.memory_bytes // 1024}",
        # Both limits first (a hard limit below an unlimited soft one is refused), then the soft one below it: the
        # soft limit sends SIGXCPU (reported as "cpu"), the hard one, which the command cannot raise, SIGKILL.
        f"ulimit -t {limits.cpu_seconds + 5}",
        f"ulimit -S -t {limits.cpu_seconds}",
        f"ulimit -f {limits.file_size_bytes // 1024}",  # bash counts 1024-byte blocks (512 only in POSIX mode)
    ]
    if nproc is not None:
        parts.append(f"ulimit -u {nproc}")
    limits_part = "; ".join(p + " 2>/dev/null" for p in parts)
    return f'{limits_part}; cd {WORKSPACE_MOUNT} || exit 126; exec /bin/bash -c "$1"'


def bwrap_argv(
    command: str,
    *,
    bwrap: str,
    workspace: str,
    limits: SandboxLimits,
    as_root: bool,
    setpriv: str | None,
    system_dirs: list[tuple[str, str, str]],
    masks: Sequence[tuple[str, str]] = (),
    seccomp_fd: int | None = None,
    others_tasks: int = 0,
) -> list[str]:
    """The full argv of one bubblewrap run. Pure. ``others_tasks``: the processes and threads already running as
    ``nobody`` (``tasks_of``), added to the sandbox's process limit when it runs as nobody.

    ``system_dirs`` items are ``("symlink", path, target)`` or ``("ro-bind", path, path)``; ``masks`` are
    ``(source, path)`` files bound read-only over host files the sandbox must not read (accounts, sudoers).
    As root, bubblewrap creates no useful user namespace (it would map only uid 0), so every other namespace is
    unshared explicitly and the command drops to ``nobody`` inside with ``setpriv``; the real uid is then
    unprivileged on the host, which also makes RLIMIT_NPROC count.
    """
    argv = [bwrap]
    if as_root:
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        argv += ["--unshare-all"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "contop-sandbox", "--cap-drop", "ALL"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    drop = as_root and setpriv is not None
    if drop:
        # Only what setpriv needs to become nobody; changing to a non-zero uid clears every capability.
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    for kind, path, target in system_dirs:
        argv += ["--symlink", target, path] if kind == "symlink" else ["--ro-bind", path, path]
    for source, path in masks:
        argv += ["--ro-bind", source, path]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]  # noqa: S108 - private tmpfs
    # POSIX shared memory and semaphores (Python's multiprocessing): a private one, counted like /tmp
    argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm"]  # noqa: S108 - private
    # No --chdir: as root with capabilities dropped, bwrap itself may not enter a workspace owned by nobody.
    argv += ["--bind", workspace, WORKSPACE_MOUNT]
    # HOME on the private /tmp: what one call leaves in ~ (a Python .pth, shell start files) dies with it.
    argv += ["--clearenv", "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", "/tmp"]  # noqa: S108
    argv += ["--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", "/tmp", "--"]  # noqa: S108 - the private one
    if drop and setpriv is not None:
        argv += [setpriv, f"--reuid={NOBODY_UID}", f"--regid={NOBODY_GID}", "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--"]
    nproc = limits.nproc + others_tasks if drop else None  # what others run as nobody does not count against it
    argv += ["/bin/bash", "-c", limits_script(limits, nproc=nproc), "contop-sandbox", command]
    return argv


# Host files replaced inside the sandbox: account databases become a two-line stand-in, secrets become empty.
_ACCOUNT_STAND_INS = {
    "/etc/passwd": "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/workspace:/usr/sbin/nologin\n",
    "/etc/group": "root:x:0:\nnogroup:x:65534:\n",
}
_ACCOUNT_STAND_INS["/etc/passwd-"] = _ACCOUNT_STAND_INS["/etc/passwd"]  # the backups name the real accounts too
_ACCOUNT_STAND_INS["/etc/group-"] = _ACCOUNT_STAND_INS["/etc/group"]
_ACCOUNT_STAND_INS["/etc/hostname"] = "contop-sandbox\n"
_EMPTIED = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers", "/etc/machine-id")


def host_masks(overlay_dir: Path) -> list[tuple[str, str]]:
    """Write the stand-in files into ``overlay_dir`` and list what to bind over which host file."""
    overlay_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    masks: list[tuple[str, str]] = []
    for path, content in _ACCOUNT_STAND_INS.items():
        if os.path.isfile(path):
            stand_in = overlay_dir / Path(path).name
            if not stand_in.exists() or stand_in.read_text() != content:
                stand_in.write_text(content)
                stand_in.chmod(0o644)
            masks.append((str(stand_in), path))
    # A regular empty file: bwrap binds with nodev, so /dev/null itself could not be opened there.
    empty = overlay_dir / "empty"
    if not empty.exists():
        empty.write_bytes(b"")
        empty.chmod(0o644)
    masks.extend((str(empty), path) for path in _EMPTIED if os.path.isfile(path))
    return masks


SECCOMP_FD = 9
_background_removals: set[asyncio.Future[None]] = set()  # cgroup removals still running (kept referenced)


def write_seccomp_filter(overlay_dir: Path) -> Path | None:
    """The seccomp filter for this machine in ``overlay_dir`` (rewritten when it changed), or None without one."""
    from contop.security.seccomp import program

    code = program()
    if code is None:
        return None
    path = overlay_dir / "seccomp.bpf"
    if not path.exists() or path.read_bytes() != code:
        partial = overlay_dir / f".seccomp.bpf.{secrets.token_hex(4)}"  # two first runs never see half a file
        partial.write_bytes(code)
        partial.chmod(0o644)
        os.replace(partial, path)
    return path


def host_system_dirs() -> list[tuple[str, str, str]]:
    """How the host's system directories appear in the sandbox (symlinks kept as symlinks)."""
    dirs: list[tuple[str, str, str]] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            dirs.append(("symlink", path, os.readlink(path)))
        elif os.path.isdir(path):
            dirs.append(("ro-bind", path, path))
    return dirs


class BubblewrapBackend:
    """Linux namespaces via ``bwrap``: no daemon, ~ms startup."""

    name = "bubblewrap"

    def __init__(self, *, limits: SandboxLimits | None = None, bwrap: str | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._bwrap = bwrap or shutil.which("bwrap")
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self._setpriv = shutil.which("setpriv") if self._as_root else None
        self._available: bool | None = None
        self._problem = ""
        self.limits_applied: list[str] = []
        self._cgroups: SandboxCgroups | None = None
        self._cgroup_problem = ""
        self._nproc_set: int | None = None  # the RLIMIT_NPROC the last argv() gives the command

    def argv(self, command: str, workspace: Path) -> list[str]:
        """The argv for ``command``: bwrap, started by a shell that opens the seccomp filter on descriptor
        ``SECCOMP_FD`` for it (no descriptor to pass through the event loop). Writes the account stand-ins and the
        filter next to the workspace (blocking, small)."""
        assert self._bwrap is not None
        overlay = workspace.parent / ".sandbox-etc"
        masks = host_masks(overlay)
        filter_path = write_seccomp_filter(overlay)
        others = tasks_of(NOBODY_UID) if self._owner() is not None else 0
        argv = bwrap_argv(
            command,
            bwrap=self._bwrap,
            workspace=str(workspace),
            limits=self.limits,
            as_root=self._as_root,
            setpriv=self._setpriv,
            system_dirs=host_system_dirs(),
            masks=masks,
            seccomp_fd=SECCOMP_FD if filter_path is not None else None,
            others_tasks=others,
        )
        self._nproc_set = self.limits.nproc + others if self._owner() is not None else None
        # The shell joins the command's cgroups (paths in CONTOP_SANDBOX_CGROUPS: bwrap clears the environment
        # after it) before anything of the command runs, then becomes bwrap.
        join = (
            'for g in $CONTOP_SANDBOX_CGROUPS; do echo $$ > "$g" || '
            '{ echo "contop: could not join the sandbox cgroup $g" >&2; exit 125; }; done; '
        )
        if filter_path is None:
            return ["/bin/sh", "-c", join + 'exec "$@"', "contop-sandbox", *argv]
        opens = f'f=$1; shift; exec "$@" {SECCOMP_FD}<"$f"'
        return ["/bin/sh", "-c", join + opens, "contop-sandbox", str(filter_path), *argv]

    def available(self) -> bool:
        if self._available is None:
            self._available = self._probe()
        return self._available

    def _probe(self) -> bool:
        """Run a real sandbox once: namespaces may be forbidden (containers, sysctls, AppArmor)."""
        if not sys.platform.startswith("linux"):
            self._problem = "bubblewrap is Linux only"
            return False
        if self._bwrap is None:
            self._problem = "bwrap is not installed (apt install bubblewrap)"
            return False
        if self._as_root and self._setpriv is None:
            # As root, bubblewrap's namespaces map only uid 0: without setpriv to become nobody inside, the command
            # would run as root, able to read every root-only file of the system folders it sees.
            self._problem = (
                "the server runs as root and setpriv (util-linux) is not installed, so a sandboxed command could "
                "not drop to nobody (install util-linux, or run the server as a normal user)"
            )
            return False
        import tempfile

        with tempfile.TemporaryDirectory(prefix="contop-sbprobe-") as tmp:
            ws = _prepare_workspace(Path(tmp) / "ws", self._owner())
            probe = "id -u; ulimit -v; ulimit -t; ulimit -f; ulimit -u; ulimit -H -t"
            try:
                done = subprocess.run(
                    self.argv(probe, ws), capture_output=True, text=True, timeout=5, env={"PATH": SANDBOX_PATH}
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                self._problem = f"bwrap could not start: {exc}"
                return False
        if done.returncode != 0:
            self._problem = f"bwrap failed ({done.returncode}): {done.stderr.strip()[:300]}"
            return False
        values = done.stdout.split()
        names = ("memory (RLIMIT_AS)", "cpu (RLIMIT_CPU)", "file size (RLIMIT_FSIZE)", "processes (RLIMIT_NPROC)")
        expected = (
            str(self.limits.memory_bytes // 1024),
            str(self.limits.cpu_seconds),
            str(self.limits.file_size_bytes // 1024),
        )
        self.limits_applied = [n for n, v, e in zip(names, values[1:4], expected, strict=False) if v == e]
        nproc = values[4] if len(values) > 4 else ""
        if self._nproc_set is not None and nproc == str(self._nproc_set):  # a limit of our own, not an inherited one
            self.limits_applied.append(names[3])
        if "cpu (RLIMIT_CPU)" in self.limits_applied and values[5:6] != [str(self.limits.cpu_seconds + 5)]:
            self.limits_applied.remove("cpu (RLIMIT_CPU)")  # a soft limit alone can be raised by the command
        if values and values[0] != "0":
            self.limits_applied.append(f"uid {values[0]} inside")
        cgroups = SandboxCgroups()
        if cgroups.available:
            self._cgroups = cgroups
            self.limits_applied.append("total memory and processes (cgroup v1)")
        else:
            self._cgroup_problem = cgroups.problem
        return True

    def _owner(self) -> int | None:
        return NOBODY_UID if self._as_root and self._setpriv else None

    def describe(self) -> str:
        if not self.available():
            return f"bubblewrap unavailable: {self._problem}"
        user = "as nobody" if self._owner() is not None else "in a user namespace"
        from contop.security.seccomp import program

        filtered = ", no new namespaces (seccomp)" if program() is not None else ""
        uncapped = f" (no cgroup for a total cap: {self._cgroup_problem})" if self._cgroup_problem else ""
        return (
            f"bubblewrap sandbox {user}: no network, read-only system, private /tmp, one workspace{filtered}; "
            f"limits: wall time, {', '.join(self.limits_applied) or 'no rlimits'}{uncapped}"
        )

    async def run(self, command: str, *, timeout: float, workspace: Path) -> dict[str, Any]:  # noqa: ASYNC109
        if not self.available():
            raise RuntimeError(self.describe())
        ws = await asyncio.to_thread(_prepare_workspace, workspace, self._owner())
        argv = await asyncio.to_thread(self.argv, command, ws)
        env = {"PATH": SANDBOX_PATH}
        groups = None
        if self._cgroups is not None and self._cgroups.available:
            try:
                groups = await asyncio.to_thread(
                    self._cgroups.create, self.limits.total_memory_bytes, self.limits.nproc
                )
            except OSError as exc:  # fail closed: the caps are part of what the sandbox promises
                raise RuntimeError(f"could not create the sandbox's cgroups: {exc}") from exc
            env["CONTOP_SANDBOX_CGROUPS"] = " ".join(str(p) for p in groups.procs)
        try:
            result = await run_within_disk(ws, run_process(argv, cwd="/", env=env, timeout=timeout))
        finally:
            exhausted = groups is not None and await asyncio.to_thread(groups.memory_exhausted)
            if groups is not None:  # in the background: the command's last processes may take a moment to leave
                _background_removals.add(asyncio.get_running_loop().run_in_executor(None, groups.remove))
                for done in [f for f in _background_removals if f.done()]:
                    _background_removals.discard(done)
        if isinstance(result, str):
            return _disk_result(result, self.name, ws, self.limits_applied)
        out = _finish(result, self.name, ws, self.limits_applied, self.limits)
        if exhausted and out["limit_hit"] in (None, "killed", "memory"):
            out["limit_hit"] = "memory"
            out["note"] = (out["note"] + " The sandbox memory limit (all its processes together) was reached.").strip()
            out["voice_message"] = "The sandboxed command hit its memory limit."
        return out


# --- Docker ---------------------------------------------------------------------------------------------------


def docker_argv(
    command: str, *, docker: str, workspace: str, name: str, limits: SandboxLimits, image: str = DOCKER_IMAGE
) -> list[str]:
    """The ``docker run`` argv with the hardening of the seed table. Pure."""
    return [
        docker, "run", "--rm", "-i",
        "--name", name,
        "--network", "none",
        "--memory", f"{limits.memory_bytes // (1024 * 1024)}m",
        "--memory-swap", f"{limits.memory_bytes // (1024 * 1024)}m",
        "--cpus", f"{limits.cpu_share:g}",
        "--pids-limit", str(limits.nproc),
        "--read-only",
        "--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.tmp_bytes // (1024 * 1024)}m",  # noqa: S108
        "--security-opt", "no-new-privileges",
        "--user", "nobody",
        "--cap-drop", "ALL",
        "--label", DOCKER_LABEL,
        "--env", f"PATH={SANDBOX_PATH}", "--env", "HOME=/tmp", "--env", "LANG=C.UTF-8",
        "--volume", f"{workspace}:{WORKSPACE_MOUNT}:rw",
        "--workdir", WORKSPACE_MOUNT,
        image, "/bin/sh", "-c", command,
    ]  # fmt: skip


def _docker_client_env() -> dict[str, str]:
    """Only what the docker client needs to find its engine: never the server's secrets."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
    return {k: v for k, v in os.environ.items() if k in keep}


class DockerBackend:
    """A short-lived hardened container per command (needs a running Docker engine)."""

    name = "docker"

    def __init__(self, *, limits: SandboxLimits | None = None, docker: str | None = None, image: str = DOCKER_IMAGE):
        self.limits = limits or SandboxLimits()
        self.image = image
        self._docker = docker or shutil.which("docker")
        self._available: bool | None = None
        self._problem = ""

    def available(self) -> bool:
        if self._available is None:
            self._available = self._probe()
        return self._available

    def _probe(self) -> bool:
        if self._docker is None:
            self._problem = "the docker CLI is not installed"
            return False
        try:
            done = subprocess.run(
                [self._docker, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                text=True,
                timeout=2,
                env=_docker_client_env(),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self._problem = f"no Docker engine answered within 2 s ({type(exc).__name__})"
            return False
        if done.returncode != 0 or not done.stdout.strip():
            self._problem = "no Docker engine is running"
            return False
        return True

    def describe(self) -> str:
        if not self.available():
            return f"Docker unavailable: {self._problem}"
        return (
            f"Docker sandbox ({self.image}): no network, read-only root, user nobody, all capabilities dropped, "
            f"{self.limits.memory_bytes >> 20} MB memory, {self.limits.cpu_share:.0%} CPU, {self.limits.nproc} pids"
        )

    async def run(self, command: str, *, timeout: float, workspace: Path) -> dict[str, Any]:  # noqa: ASYNC109
        if not self.available() or self._docker is None:
            raise RuntimeError(self.describe())
        ws = await asyncio.to_thread(_prepare_workspace, workspace, NOBODY_UID if os.geteuid() == 0 else None)
        name = f"contop-sandbox-{secrets.token_hex(6)}"
        argv = docker_argv(command, docker=self._docker, workspace=str(ws), name=name, limits=self.limits,
                           image=self.image)  # fmt: skip
        try:
            result = await run_within_disk(ws, run_process(argv, env=_docker_client_env(), timeout=timeout))
        finally:
            # Killing the client does not stop the container; remove it by name whatever happened.
            await asyncio.shield(self._remove(name))
        applied = ["memory", "cpu share", "pids", "read-only root", "no network"]
        if isinstance(result, str):
            return _disk_result(result, self.name, ws, applied)
        return _finish(result, self.name, ws, applied, self.limits)

    async def _remove(self, name: str) -> None:
        assert self._docker is not None
        with contextlib.suppress(OSError):
            proc = await asyncio.create_subprocess_exec(
                self._docker, "rm", "-f", name,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=_docker_client_env(),
            )  # fmt: skip
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# --- detection -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    backend: SandboxBackend | None
    description: str


def detect_sandbox(candidates: list[SandboxBackend] | None = None) -> SandboxStatus:
    """The best working backend (bubblewrap first: no daemon, fastest) and a sentence for the user.

    Blocking (runs probes of a few ms, up to 2 s for Docker): call it at startup or via ``asyncio.to_thread``.
    """
    backends: list[SandboxBackend] = candidates if candidates is not None else [BubblewrapBackend(), DockerBackend()]
    reasons = []
    for backend in backends:
        try:
            ok = backend.available()
        except Exception as exc:  # a broken probe must not stop the server
            logger.warning("sandbox probe %s failed: %s", backend.name, exc)
            ok = False
        if ok:
            return SandboxStatus(backend, backend.describe())
        reasons.append(backend.describe())
    return SandboxStatus(
        None,
        "No sandbox available (" + "; ".join(reasons) + "). Blocked commands are refused unless you approve "
        "running them unsandboxed on this computer from the phone.",
    )
