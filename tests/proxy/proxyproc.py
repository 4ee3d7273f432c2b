"""A real ``contop proxy`` subprocess with fake CLIs on its PATH."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.proxy.fakecli import install_fake


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProxyProcess:
    def __init__(self, tmp: Path, provider: str = "anthropic", *, args: list[str] | None = None) -> None:
        self.tmp = tmp
        self.provider = provider
        self.bin = tmp / "bin"
        self.home = tmp / "home"
        self.record = tmp / "record"
        self.script = tmp / "script.json"
        self.port = free_port()
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "proxy.log"
        install_fake(self.bin, provider)
        self.steps([{"reply": "hello"}])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def steps(self, steps: list[dict[str, Any]]) -> None:
        self.script.write_text(json.dumps(steps))

    def calls(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        files = sorted(self.record.glob("call-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        return [json.loads(p.read_text()) for p in files]

    def start(self) -> ProxyProcess:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(
            {
                "PATH": f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
                "FAKE_CLI_SCRIPT": str(self.script),
                "FAKE_CLI_RECORD": str(self.record),
                "PYTHONUNBUFFERED": "1",
            }
        )
        argv = [sys.executable, "-m", "contop", "proxy", self.provider, "--port", str(self.port)]
        argv += ["--home", str(self.home), "--min-interval", "0", *self.args]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited: {self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"proxy did not start: {self.log_path.read_text()}")

    def cli_pids(self) -> list[int]:
        """The fake CLIs this proxy started, and their helper children."""
        return [pid for call in self.calls() for pid in (call["pid"], call.get("child_pid")) if pid]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.cli_pids():  # whatever a failed test left behind
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
                if str(self.tmp) in cmdline:  # still a fake of this test, not a reused pid
                    os.kill(pid, signal.SIGKILL)


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line contains ``marker`` (a /proc scan)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if marker in cmdline and "\nState:\tZ" not in status:
            found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """The process has exited; a zombie nobody reaped yet (its parent was killed) counts as gone."""
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: it went between the open and the read
        return True


def wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not all(gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
