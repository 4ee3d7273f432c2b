"""What a CLI call leaves behind and what it answers: nothing of it outlives a killed proxy, an empty answer is an
error that says why, and the guard leading the CLI's process group changes nothing the CLI itself sees."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from contop.proxy import lifeline as guard
from tests.proxy.proxyproc import ProxyProcess, wait_gone

pytestmark = pytest.mark.timeout(60)

BODY = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


def fake_cli(path: Path, body: str) -> Path:
    """A shell-script CLI (``--cli``): reads the prompt, then runs ``body``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ncat >/dev/null\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def post(proxy: ProxyProcess, timeout: float = 30) -> httpx.Response:
    return httpx.post(proxy.url + "/v1/chat/completions", json=BODY, timeout=timeout)


def ask_meanwhile(proxy: ProxyProcess) -> threading.Thread:
    def ask() -> None:
        with contextlib.suppress(httpx.HTTPError):
            post(proxy)

    client = threading.Thread(target=ask)
    client.start()
    return client


def wait_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().endswith("\n")):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.05)
    return path.read_text()


def kill_if(pid: int, cmdline: bytes) -> None:
    """SIGKILL ``pid`` if it is still the process a failed test left behind, not a reused pid."""
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(cmdline):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_proxy_takes_the_clis_children_along(make_proxy: Any, tmp_path: Path) -> None:
    """SIGKILL leaves no cleanup of the proxy's to run; a helper the CLI started (node workers, MCP servers, shells)
    must die all the same, not live on under pid 1."""
    pids = tmp_path / "pids"
    cli = fake_cli(tmp_path / "cli" / "claude", f'sleep 300 &\necho "$$ $!" > {pids}\nwait')
    proxy = make_proxy(args=["--cli", str(cli)])
    client = ask_meanwhile(proxy)
    cli_pid, sleep_pid = (int(p) for p in wait_file(pids).split())
    try:
        assert proxy.proc is not None
        proxy.proc.kill()
        proxy.proc.wait()
        assert wait_gone([cli_pid], 3), "the CLI outlived the killed proxy"
        assert wait_gone([sleep_pid], 3), "the CLI's child outlived the killed proxy"
    finally:
        kill_if(sleep_pid, b"sleep\x00300\x00")
        kill_if(cli_pid, b"/bin/sh\x00" + str(cli).encode())
        client.join(10)


def test_the_cli_sees_what_it_saw_without_the_guard(make_proxy: Any, tmp_path: Path) -> None:
    """Its stdin, stdout and stderr work, it holds no other file (the guard's lifeline would keep the guard from
    seeing the proxy die), and no signal is ignored in it: the guard's Python ignores SIGPIPE and SIGXFSZ, and
    glibc's posix_spawn would leave its own internal signals ignored."""
    seen, ignored = tmp_path / "seen.json", tmp_path / "ignored"
    script = textwrap.dedent(
        f"""
        import json, os, sys
        prompt = sys.stdin.read()
        fds = []
        for fd in range(256):
            try:
                fds.append((fd, os.readlink(f"/proc/self/fd/{{fd}}")))
            except OSError:
                pass
        json.dump({{"fds": fds, "prompt": prompt}}, open({str(seen)!r}, "w"))
        sys.stderr.write("a warning\\n")
        print(json.dumps({{"type": "result", "subtype": "success", "is_error": False, "result": "fine"}}))
        """
    )
    code = tmp_path / "cli" / "cli.py"
    code.parent.mkdir()
    code.write_text(script)
    cli = tmp_path / "cli" / "claude"  # a shell first: Python would ignore SIGPIPE itself
    cli.write_text(f"#!/bin/sh\ngrep '^SigIgn' /proc/$$/status > {ignored}\nexec {sys.executable} {code}\n")
    cli.chmod(0o755)
    proxy = make_proxy(args=["--cli", str(cli)])
    r = post(proxy)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "fine", r.text
    got = json.loads(seen.read_text())
    stdio = {target for fd, target in got["fds"] if fd <= 2}
    assert len(stdio) == 3 and {target for _, target in got["fds"]} == stdio, got["fds"]  # uvloop leaves copies
    assert "[user]\nhi" in got["prompt"]
    # What the proxy itself ignores, less SIGPIPE and SIGXFSZ (its Python's own; a started program gets them back),
    # is what a CLI it started directly would inherit: the guard adds nothing to it.
    assert proxy.proc is not None
    status = Path(f"/proc/{proxy.proc.pid}/status").read_text()
    proxy_ignores = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    expected = proxy_ignores & ~((1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1)))
    assert int(ignored.read_text().split()[1], 16) == expected, (ignored.read_text(), hex(proxy_ignores))


@pytest.mark.parametrize(("body", "status"), [("exit 7", "exit status 7"), ("kill -TERM $$", "exit status -15")])
def test_the_clis_exit_status_is_reported_as_it_was(make_proxy: Any, tmp_path: Path, body: str, status: str) -> None:
    cli = fake_cli(tmp_path / "cli" / "claude", f"echo 'Error: broke' >&2\n{body}")
    proxy = make_proxy(args=["--cli", str(cli)])
    r = post(proxy)
    assert r.status_code == 502 and r.json()["error"]["code"] == "cli_error", r.text
    assert r.json()["error"]["message"] == f"Claude Code failed ({status}): Error: broke"


def test_a_cli_that_cannot_be_started_is_not_installed(make_proxy: Any, tmp_path: Path) -> None:
    """An executable whose interpreter is missing fails in exec, as a missing CLI does."""
    cli = tmp_path / "cli" / "claude"
    cli.parent.mkdir()
    cli.write_text(f"#!{tmp_path}/no-such-interpreter\n")
    cli.chmod(0o755)
    proxy = make_proxy(args=["--cli", str(cli)])
    r = post(proxy)
    assert r.status_code == 503 and r.json()["error"]["code"] == "cli_not_installed", r.text


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_an_empty_answer_is_an_error_that_says_why(make_proxy: Any, tmp_path: Path, provider: str) -> None:
    """Exit status 0, nothing on stdout, a warning on stderr: one CLI run, and a 502 carrying the warning, not a
    200 the agent would ask again and again."""
    runs = tmp_path / "runs"
    warning = "Warning: the workspace is not trusted; nothing was done"
    cli = fake_cli(tmp_path / "cli" / provider, f"echo run >> {runs}\necho '{warning}' >&2\nexit 0")
    proxy = make_proxy(provider, args=["--cli", str(cli)])
    r = post(proxy)
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "cli_empty_reply" and error["type"] == "upstream_error"
    assert "empty answer (exit status 0)" in error["message"] and warning in error["message"]
    assert runs.read_text() == "run\n"


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_an_empty_reply_in_the_clis_json_is_an_error(make_proxy: Any, provider: str) -> None:
    proxy = make_proxy(provider, steps=[{"reply": "  \n"}])
    r = post(proxy)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["message"].endswith("gave an empty answer (exit status 0), and printed nothing on stderr")


def test_a_long_stderr_is_cut(make_proxy: Any, tmp_path: Path) -> None:
    cli = fake_cli(
        tmp_path / "cli" / "claude", "i=0; while [ $i -lt 400 ]; do echo 'warning line' >&2; i=$((i+1)); done"
    )
    proxy = make_proxy(args=["--cli", str(cli)])
    message = post(proxy).json()["error"]["message"]
    assert "warning line" in message and message.endswith("…") and len(message) < 700


def test_the_guard_kills_no_group_but_its_own() -> None:
    """Started without a process group of its own, it would kill its starter's group when the pipe closes."""
    read, write = os.pipe()
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", guard.__file__, str(read), "/bin/true"],
            pass_fds=(read,),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.close(read)
        os.close(write)
    assert done.returncode == 2 and "process group of its own" in done.stderr
