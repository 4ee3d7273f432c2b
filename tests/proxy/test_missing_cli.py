"""A proxy whose CLI is missing still starts, says so at once, and names the path it was given with ``--cli``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.proxyproc import ProxyProcess

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def started() -> Iterator[list[ProxyProcess]]:
    procs: list[ProxyProcess] = []
    yield procs
    for proc in procs:
        proc.stop()


def chat(proxy: ProxyProcess) -> httpx.Response:
    body: dict[str, Any] = {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(proxy.url + "/v1/chat/completions", json=body, timeout=30)


def test_missing_cli_is_warned_about_at_start(tmp_path: Path, started: list[ProxyProcess]) -> None:
    proxy = ProxyProcess(tmp_path, "gemini")
    (proxy.bin / "gemini").unlink()
    started.append(proxy.start())
    out = proxy.log_path.read_text()
    assert "WARNING" in out and "Gemini CLI (`gemini`) is not installed" in out, out
    assert "npm install -g @google/gemini-cli" in out and "starts anyway" in out
    health = httpx.get(proxy.url + "/health").json()
    assert health["cli_installed"] is False
    assert health["install"] == "npm install -g @google/gemini-cli" and health["login"] == "gemini"
    assert chat(proxy).status_code == 503


def test_installed_cli_gives_no_warning(tmp_path: Path, started: list[ProxyProcess]) -> None:
    proxy = ProxyProcess(tmp_path, "gemini")
    started.append(proxy.start())
    assert "not installed" not in proxy.log_path.read_text()


def test_a_wrong_cli_path_is_named(tmp_path: Path, started: list[ProxyProcess]) -> None:
    given = tmp_path / "nonexistent" / "claude"
    proxy = ProxyProcess(tmp_path / "p", "anthropic", args=["--cli", str(given)])
    started.append(proxy.start())  # the fake `claude` on PATH must not be used instead
    out = proxy.log_path.read_text()
    assert f"the configured CLI path `{given}` (--cli) does not exist" in out, out
    r = chat(proxy)
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "cli_not_installed"
    assert str(given) in error["message"] and "does not exist" in error["message"]
    assert "not on PATH" not in error["message"]
    assert proxy.calls() == []


def test_a_cli_path_that_is_not_executable_is_named(tmp_path: Path, started: list[ProxyProcess]) -> None:
    given = tmp_path / "claude.txt"
    given.write_text("not a program\n")
    proxy = ProxyProcess(tmp_path / "p", "anthropic", args=["--cli", str(given)])
    started.append(proxy.start())
    message = chat(proxy).json()["error"]["message"]
    assert f"`{given}` (--cli) is not an executable file" in message


def test_a_cli_path_that_exists_is_used(tmp_path: Path, started: list[ProxyProcess]) -> None:
    proxy = ProxyProcess(tmp_path / "p", "anthropic")
    moved = tmp_path / "elsewhere" / "my-claude"
    moved.parent.mkdir()
    (proxy.bin / "claude").rename(moved)  # off PATH: only --cli finds it
    proxy.args = ["--cli", str(moved)]
    started.append(proxy.start())
    assert "not installed" not in proxy.log_path.read_text()
    r = chat(proxy)
    assert r.status_code == 200, r.text
    assert len(proxy.calls()) == 1
