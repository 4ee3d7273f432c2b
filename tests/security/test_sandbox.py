"""Sandbox backends: a real bubblewrap sandbox (isolation, limits, kill on timeout) and pure Docker argv."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from contop.security.sandbox import (
    DOCKER_LABEL,
    BubblewrapBackend,
    DockerBackend,
    SandboxBackend,
    SandboxLimits,
    _finish,
    _limit_hit,
    bwrap_argv,
    detect_sandbox,
    docker_argv,
)
from contop.tools.cli import ProcessResult

_BWRAP = BubblewrapBackend()
needs_bwrap = pytest.mark.skipif(not _BWRAP.available(), reason=f"bubblewrap unusable here: {_BWRAP.describe()}")


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if marker in cmdline and stat[stat.rfind(")") + 2] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sandbox" / "workspace"


@needs_bwrap
async def test_runs_and_writes_only_in_its_workspace(workspace: Path) -> None:
    token = secrets.token_hex(6)
    home_target = Path.home() / f"contop-escape-{token}"
    tmp_target = Path("/tmp") / f"contop-escape-{token}"
    command = (
        f"echo inside > result.txt; "
        f"echo x > {home_target}; echo x > {tmp_target}; echo x > /usr/contop-{token}; "
        f"echo x > /etc/contop-{token}; ls {tmp_target} && echo private-tmp-ok; id -u; pwd"
    )
    result = await _BWRAP.run(command, timeout=10, workspace=workspace)
    assert result["backend"] == "bubblewrap"
    assert (workspace / "result.txt").read_text() == "inside\n"
    # Checked on the host: nothing escaped.
    assert not home_target.exists()
    assert not tmp_target.exists()
    assert not Path(f"/usr/contop-{token}").exists()
    assert not Path(f"/etc/contop-{token}").exists()
    assert "private-tmp-ok" in result["stdout"]  # /tmp is writable, but private
    assert result["stdout"].rstrip().endswith("/workspace")
    if os.geteuid() == 0:
        assert "\n65534\n" in result["stdout"]


@needs_bwrap
async def test_has_no_network(workspace: Path) -> None:
    accepted: list[bool] = []

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # The server works from the host...
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.1)
        assert accepted == [True]
        # ...but not from the sandbox.
        script = (
            'python3 -c "import socket; '
            f"socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')\""
            "; cat /proc/net/dev | tail -n +3 | cut -d: -f1"
        )
        result = await _BWRAP.run(script, timeout=10, workspace=workspace)
    finally:
        server.close()
        await server.wait_closed()
    assert "connected" not in result["stdout"]
    assert "Connection refused" in result["stderr"] or "unreachable" in result["stderr"]
    assert result["stdout"].split() == ["lo"]  # the only interface
    assert accepted == [True]


@needs_bwrap
async def test_no_capabilities_no_host_processes(workspace: Path) -> None:
    script = "grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status; ls /proc | grep -c '^[0-9]'; hostname"
    result = await _BWRAP.run(script, timeout=10, workspace=workspace)
    lines = result["stdout"].split()
    assert lines[lines.index("CapPrm:") + 1] == "0000000000000000"
    assert lines[lines.index("CapEff:") + 1] == "0000000000000000"
    assert lines[lines.index("NoNewPrivs:") + 1] == "1"
    assert int(lines[-2]) < 10  # a private pid namespace: only the sandbox's own processes
    assert lines[-1] == "contop-sandbox"


@needs_bwrap
async def test_host_accounts_and_secrets_are_masked(workspace: Path) -> None:
    result = await _BWRAP.run("cat /etc/passwd; wc -c < /etc/shadow; id -un", timeout=10, workspace=workspace)
    host_users = {line.split(":")[0] for line in Path("/etc/passwd").read_text().splitlines() if line}
    seen = {line.split(":")[0] for line in result["stdout"].splitlines() if ":" in line}
    assert seen == {"root", "nobody"} and len(host_users) >= len(seen)
    assert "/root" not in result["stdout"]
    if Path("/etc/shadow").exists():
        assert "\n0\n" in result["stdout"]


@needs_bwrap
async def test_environment_is_cleared(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTOP_TEST_API_KEY", "sk-should-never-reach-the-sandbox")
    result = await _BWRAP.run("env", timeout=10, workspace=workspace)
    assert "sk-should-never" not in result["stdout"]
    names = {line.split("=", 1)[0] for line in result["stdout"].splitlines()}
    assert names <= {"PATH", "HOME", "LANG", "TMPDIR", "PWD", "SHLVL", "_", "OLDPWD"}


@needs_bwrap
async def test_memory_limit_is_reported(workspace: Path) -> None:
    result = await _BWRAP.run("python3 -c 'x = bytearray(600 * 1024 * 1024)'", timeout=20, workspace=workspace)
    assert result["exit_code"] != 0
    assert result["limit_hit"] == "memory"
    assert "ran out of memory (the sandbox allows 256 MiB per process)" in result["note"]


@needs_bwrap
async def test_cpu_limit_is_reported(workspace: Path) -> None:
    backend = BubblewrapBackend(limits=SandboxLimits(cpu_seconds=1))
    started = time.monotonic()
    result = await backend.run("while :; do :; done", timeout=20, workspace=workspace)
    assert result["limit_hit"] == "cpu"
    assert time.monotonic() - started < 10


@pytest.mark.skipif(os.geteuid() != 0, reason="RLIMIT_NPROC is only applied when the sandbox drops root to nobody")
@needs_bwrap
async def test_process_limit_applies(workspace: Path) -> None:
    backend = BubblewrapBackend(limits=SandboxLimits(nproc=10))
    script = (
        "import os, time\n"
        "kids = 0\n"
        "try:\n"
        "    for _ in range(40):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(2); os._exit(0)\n"
        "        kids += 1\n"
        "except OSError as exc:\n"
        "    print('fork refused', exc.errno)\n"
        "print('children', kids)\n"
    )
    (workspace).mkdir(parents=True, exist_ok=True)
    result = await backend.run(f"python3 -c {shlex.quote(script)}", timeout=20, workspace=workspace)
    assert "fork refused 11" in result["stdout"]
    assert int(result["stdout"].split("children")[-1]) < 10


def _threads_as_nobody(count: int) -> int:
    """A process of ``nobody`` (uid 65534) holding ``count`` threads, as a daemon or a container might; its pid."""
    import signal
    import threading

    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(ready_r)
            os.setgid(65534)
            os.setuid(65534)
            stop = threading.Event()
            for _ in range(count):
                threading.Thread(target=stop.wait, daemon=True).start()
            os.write(ready_w, b"1")
            signal.pause()
        finally:
            os._exit(0)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    return pid


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runs commands as nobody only when the server is root")
async def test_what_others_run_as_nobody_does_not_use_up_the_process_limit(workspace: Path) -> None:
    # RLIMIT_NPROC counts every task of the user: 30 threads of some nobody daemon used to leave a limit of 10 with
    # nothing, and the sandbox could not even start its shell.
    import signal

    pid = _threads_as_nobody(30)
    try:
        backend = BubblewrapBackend(limits=SandboxLimits(nproc=10))
        assert backend.available(), backend.describe()
        assert "processes (RLIMIT_NPROC)" in backend.describe()
        result = await backend.run("echo alive; sh -c 'echo child'", timeout=20, workspace=workspace)
        assert result["stdout"] == "alive\nchild\n", result
        bomb = "for i in $(seq 40); do sleep 2 & done 2>&1 | grep -c 'fork' ; wait"
        result = await backend.run(bomb, timeout=20, workspace=workspace)
        assert int(result["stdout"].split()[-1]) > 0, result  # still limited: forks beyond 10 were refused
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@needs_bwrap
async def test_timeout_kills_everything_inside(workspace: Path) -> None:
    marker = f"300.{secrets.randbelow(90000) + 10000}"
    result = await _BWRAP.run(f"sleep {marker} & sleep {marker}; wait", timeout=1, workspace=workspace)
    assert result["timed_out"] is True and result["limit_hit"] == "wall_time"
    deadline = time.monotonic() + 2
    while processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_with(marker) == []


@needs_bwrap
async def test_cancellation_kills_everything_inside(workspace: Path) -> None:
    marker = f"300.{secrets.randbelow(90000) + 10000}"
    task = asyncio.create_task(_BWRAP.run(f"sleep {marker} & sleep {marker}; wait", timeout=60, workspace=workspace))
    deadline = time.monotonic() + 5
    while len(processes_with(marker)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_with(marker)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 2
    while processes_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_with(marker) == []


@needs_bwrap
def test_description_names_the_limits() -> None:
    text = _BWRAP.describe()
    assert "no network" in text
    assert "RLIMIT_AS" in text and "RLIMIT_CPU" in text
    assert isinstance(_BWRAP, SandboxBackend)


def _ended(code: int | None, stderr: str = "", seconds: float = 0.1) -> ProcessResult:
    return ProcessResult(stdout="", stderr=stderr, exit_code=code, duration_ms=int(seconds * 1000), timed_out=False,
                         truncated=False, interactive_prompt_detected=False, notes=[])  # fmt: skip


def test_a_limit_is_reported_only_on_evidence() -> None:
    limits = SandboxLimits()
    assert _limit_hit(_ended(152), limits) is None  # 'exit 152' at once: no process ran 60 s of CPU
    assert _limit_hit(_ended(152, seconds=61), limits) == "cpu"
    cpu_mid_script = "/bin/bash: line 1:     3 CPU time limit exceeded python3 spin.py\n"
    assert _limit_hit(_ended(0, cpu_mid_script), limits) == "cpu"  # the script went on after it
    assert _limit_hit(_ended(0, "/bin/bash: line 1:     3 File size limit exceededhead -c 70M > big\n"), limits) == (
        "file_size"
    )
    assert _limit_hit(_ended(1, "MemoryError\n"), limits) == "memory"
    assert _limit_hit(_ended(0, "MemoryError\n"), limits) is None
    assert _limit_hit(_ended(137), limits) == "killed"
    assert _limit_hit(_ended(1, "mentions CPU time limit exceeded in passing\n"), limits) is None
    out = _finish(_ended(137), "bubblewrap", Path("/ws"), [], limits)
    assert out["voice_message"] == "The sandboxed command was killed."
    assert "killed (SIGKILL)" in out["note"] and "512 MiB" in out["note"] and "killed limit" not in out["note"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as root here only")
def test_as_root_without_setpriv_the_sandbox_is_unavailable_rather_than_root_inside() -> None:
    backend = BubblewrapBackend()
    backend._setpriv = None  # util-linux missing (Alpine, minimal images)
    assert not backend.available()
    assert "setpriv (util-linux) is not installed" in backend.describe()


@needs_bwrap
def test_only_a_process_limit_the_sandbox_sets_is_reported() -> None:
    backend = BubblewrapBackend()
    backend._as_root, backend._setpriv = False, None  # as a normal user: a user namespace, no RLIMIT_NPROC of ours
    assert backend.available(), backend.describe()
    assert "RLIMIT_NPROC" not in backend.describe()
    if os.geteuid() == 0:
        assert "processes (RLIMIT_NPROC)" in BubblewrapBackend().describe()


def test_bwrap_argv_as_root_drops_to_nobody() -> None:
    argv = bwrap_argv(
        "echo hi",
        bwrap="/usr/bin/bwrap",
        workspace="/state/ws",
        limits=SandboxLimits(),
        as_root=True,
        setpriv="/usr/bin/setpriv",
        system_dirs=[("ro-bind", "/usr", "/usr"), ("symlink", "/bin", "usr/bin")],
        masks=[("/dev/null", "/etc/shadow")],
    )
    joined = " ".join(argv)
    assert "--unshare-net" in argv and "--unshare-pid" in argv and "--unshare-all" not in argv
    assert "--die-with-parent" in argv and "--new-session" in argv and "--clearenv" in argv
    assert "--cap-drop ALL" in joined
    assert "--ro-bind /usr /usr" in joined and "--symlink usr/bin /bin" in joined
    assert "--bind /state/ws /workspace" in joined
    assert "--ro-bind /dev/null /etc/shadow" in joined
    assert "--reuid=65534" in joined
    assert "ulimit -u 100" in joined and f"ulimit -v {256 * 1024}" in joined
    assert argv[-1] == "echo hi"  # the command is an argument, never pasted into a script


def test_bwrap_argv_unprivileged_uses_user_namespace() -> None:
    argv = bwrap_argv(
        "true", bwrap="bwrap", workspace="/w", limits=SandboxLimits(), as_root=False, setpriv=None, system_dirs=[]
    )
    assert "--unshare-all" in argv
    assert "--cap-add" not in argv
    assert not any("setpriv" in a or "ulimit -u" in a for a in argv)


def test_docker_argv_has_the_hardening_table() -> None:
    argv = docker_argv("echo hi", docker="docker", workspace="/ws", name="c1", limits=SandboxLimits())
    joined = " ".join(argv)
    for flag in (
        "--network none",
        "--memory 256m",
        "--cpus 0.5",
        "--pids-limit 100",
        "--read-only",
        "--tmpfs /tmp:rw,nosuid,nodev,size=64m",
        "--security-opt no-new-privileges",
        "--user nobody",
        "--cap-drop ALL",
        f"--label {DOCKER_LABEL}",
        "--volume /ws:/workspace:rw",
        "--rm",
    ):
        assert flag in joined
    assert argv[-4:] == ["python:3.12-slim", "/bin/sh", "-c", "echo hi"]


def test_docker_unavailable_answers_fast() -> None:
    started = time.monotonic()
    assert DockerBackend(docker="/nonexistent/docker").available() is False
    assert DockerBackend().available() is False  # the CLI may exist; no engine runs on the test machine
    assert time.monotonic() - started < 5
    assert "Docker unavailable" in DockerBackend().describe()


class _Unavailable:
    name = "nothing"

    def available(self) -> bool:
        return False

    def describe(self) -> str:
        return "nothing unavailable: test"

    async def run(self, command: str, *, timeout: float, workspace: Path) -> dict[str, Any]:
        raise AssertionError("must not run")


def test_detect_without_backend_says_refused() -> None:
    status = detect_sandbox([_Unavailable()])
    assert status.backend is None
    assert "refused" in status.description and "nothing unavailable" in status.description


@needs_bwrap
def test_detect_prefers_bubblewrap() -> None:
    status = detect_sandbox()
    assert status.backend is not None and status.backend.name == "bubblewrap"


@pytest.fixture
def fake_docker(tmp_path: Path) -> tuple[Path, Path]:
    """A fake ``docker`` CLI: ``info`` answers, ``run`` runs the command locally, everything is logged."""
    log = tmp_path / "docker.log"
    script = tmp_path / "docker"
    script.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {log}\n'
        'case "$1" in\n'
        "  info) echo 27.0.0 ;;\n"
        '  run) while [ "$1" != "python:3.12-slim" ]; do shift; done; shift; exec "$@" ;;\n'
        "  rm) exit 0 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script, log


async def test_docker_backend_runs_and_removes_its_container(fake_docker: tuple[Path, Path], workspace: Path) -> None:
    script, log = fake_docker
    backend = DockerBackend(docker=str(script))
    assert backend.available() and "Docker sandbox" in backend.describe()
    result = await backend.run("echo hi", timeout=10, workspace=workspace)
    assert result["stdout"] == "hi\n" and result["backend"] == "docker"
    run_line, rm_line = log.read_text().splitlines()[1:]
    name = run_line.split("--name ")[1].split()[0]
    assert name.startswith("contop-sandbox-") and "--network none" in run_line
    assert rm_line == f"rm -f {name}"


async def test_docker_backend_timeout_removes_container(fake_docker: tuple[Path, Path], workspace: Path) -> None:
    script, log = fake_docker
    marker = f"300.{secrets.randbelow(90000) + 10000}"
    result = await DockerBackend(docker=str(script)).run(f"sleep {marker}", timeout=1, workspace=workspace)
    assert result["timed_out"] is True
    assert log.read_text().splitlines()[-1].startswith("rm -f contop-sandbox-")
    assert processes_with(marker) == []


@needs_bwrap
async def test_the_cpu_limit_cannot_be_raised_and_the_file_limit_is_64_mib(workspace: Path) -> None:
    command = (
        "ulimit -t; ulimit -H -t; ulimit -S -t unlimited; ulimit -H -t unlimited; ulimit -S -t; ulimit -H -t;"
        "head -c 63M /dev/zero > ok.bin && echo wrote-63; head -c 65M /dev/zero > big.bin; stat -c %s big.bin"
    )
    result = await BubblewrapBackend().run(command, timeout=20, workspace=workspace)
    lines = result["stdout"].split()
    assert lines[:2] == ["60", "65"]  # soft, then the hard limit SIGKILL enforces
    assert lines[2:4] == ["65", "65"]  # trying to lift both: neither goes above the hard limit
    assert "wrote-63" in lines and lines[-1] == str(64 * 1024 * 1024)  # the 65 MiB file stopped at 64 MiB


@needs_bwrap
async def test_nothing_a_call_leaves_in_its_home_reaches_the_next_one(workspace: Path) -> None:
    plant = (
        'd=$(python3 -c "import site; print(site.getusersitepackages())"); mkdir -p "$d"; '
        'echo \'print("PLANTED")\' > "$d/zz.pth"; echo $HOME'
    )
    first = await _BWRAP.run(plant, timeout=20, workspace=workspace)
    assert first["stdout"].strip() == "/tmp"
    later = await _BWRAP.run('python3 -c "print(42)"', timeout=20, workspace=workspace)
    assert later["stdout"] == "42\n"


@needs_bwrap
async def test_the_account_backups_and_host_name_are_stand_ins(workspace: Path) -> None:
    result = await _BWRAP.run("cat /etc/passwd- /etc/group- /etc/hostname 2>/dev/null", timeout=10, workspace=workspace)
    real = Path("/etc/passwd-").read_text() if Path("/etc/passwd-").exists() else ""
    for line in real.splitlines():
        if not line.startswith(("root:", "nobody:")):
            assert line not in result["stdout"]
    if Path("/etc/hostname").exists():
        assert "contop-sandbox" in result["stdout"]


@needs_bwrap
async def test_a_command_filling_the_disk_is_stopped_before_the_disk_is_full(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contop.security import sandbox

    workspace.mkdir(parents=True)
    st = os.statvfs(workspace.parent)
    free_at_start = st.f_bavail * st.f_frsize
    if free_at_start < 2 * 1024**3:
        pytest.skip("needs 2 GiB free to pretend the disk is nearly full")
    # Pretend the disk must keep all but 150 MiB of what is free now: that is the room the command gets.
    monkeypatch.setattr(sandbox, "disk_reserve", lambda _total: free_at_start - 150 * sandbox.MIB)
    filler = "for i in $(seq 1 100); do head -c 20M /dev/zero > fill$i; sleep 0.05; done; echo finished"
    result = await BubblewrapBackend().run(filler, timeout=60, workspace=workspace)
    written = sum(p.stat().st_size for p in workspace.glob("fill*"))
    assert result["status"] == "error" and result["limit_hit"] == "disk", result
    assert "Stopped: the disk holding the sandbox workspace" in result["stderr"]
    assert "finished" not in result["stdout"] and written < 600 * sandbox.MIB  # 2 GB without the watch
    again = await BubblewrapBackend().run("echo hi", timeout=10, workspace=workspace)
    assert again["limit_hit"] == "disk" and again["stderr"].startswith("Not run:")


async def test_on_a_full_disk_the_command_is_not_even_started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from contop.security import sandbox

    started: list[str] = []

    async def command() -> Any:
        started.append("started")

    monkeypatch.setattr(sandbox, "disk_shortage", lambda _path: "the disk is full")
    assert await sandbox.run_within_disk(tmp_path, command()) == "Not run: the disk is full."
    assert started == []


@needs_bwrap
async def test_a_sandboxed_command_waiting_for_input_is_reported(workspace: Path) -> None:
    """The sandbox's command runs in a session of its own, where the look for a blocked read did not reach."""
    result = await _BWRAP.run('read -p "Continue? " x; echo "answer=[$x]"', timeout=20, workspace=workspace)
    assert result["interactive_prompt_detected"] is True, result
    assert "answer=[]" in result["stdout"] and "waited for input" in result["note"]
