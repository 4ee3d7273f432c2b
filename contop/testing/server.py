"""A real ``contop serve`` in a subprocess on a free port with its own state directory, for tests and benchmarks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

_SERVING = re.compile(r"serving on (\S+):(\d+)")


class ServerProcess:
    """Start with ``start()``, stop with ``stop()`` (SIGTERM, then SIGKILL). Its log is kept in ``log_path``."""

    def __init__(
        self,
        home: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.home = home
        self.pass_fds = pass_fds  # descriptors the server inherits, as from a careless launcher
        self.host = host
        self.port = port
        self.env = env or {}
        self.extra_args = extra_args or []
        self.log_path = home.parent / f"{home.name}-server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://[::1]:{self.port}" if self.host == "::1" else f"http://127.0.0.1:{self.port}"

    @property
    def admin_token(self) -> str:
        return (self.home / "admin.token").read_text().strip()

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def start(self, timeout: float = 20.0) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update({"CONTOP_HOME": str(self.home), "PYTHONUNBUFFERED": "1"})
        env.update(self.env)
        argv = [
            sys.executable,
            "-m",
            "contop",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--no-qr",
            *self.extra_args,
        ]
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, pass_fds=self.pass_fds
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"contop serve exited with {self.proc.returncode}:\n{self.log()}")
            match = _SERVING.search(self.log())
            if match:
                self.port = int(match.group(2))
                try:
                    if httpx.get(f"{self.base_url}/health", timeout=1, trust_env=False).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"contop serve did not become healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the server wrote since the last ``start()``."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        """The log since ``start()`` once it holds ``text`` (work the server does after it answers: loading the
        agent, opening the conversation history); AssertionError with the log if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log:
                return log
            if time.monotonic() > deadline or (self.proc is not None and self.proc.poll() is not None):
                raise AssertionError(f"{text!r} not in the server's log after {timeout}s:\n{log}")
            time.sleep(0.05)

    def all_logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(5)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.admin_headers(), **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 10)
        return httpx.request(method, f"{self.base_url}{path}", headers=headers, trust_env=False, **kwargs)

    def pair(self, **params: str) -> dict[str, Any]:
        """A new pairing code from the admin API (``connection_type="temp"`` and the like), as its JSON."""
        r = self.request("POST", "/api/pair", params=params, headers={"Accept": "application/json"})
        r.raise_for_status()
        return dict(r.json())

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
