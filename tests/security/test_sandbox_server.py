"""The sandbox as the real server runs it (uvloop, descriptors inherited from whatever started the server)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from contop.client import ContopClient
from contop.core.messages import ToolCall, ToolCallPayload, ToolResult
from contop.security.sandbox import BubblewrapBackend
from contop.testing.server import ServerProcess
from tests.transport.conftest import pair

pytestmark = pytest.mark.timeout(90)
_BWRAP = BubblewrapBackend()
needs_bwrap = pytest.mark.skipif(not _BWRAP.available(), reason=f"bubblewrap unusable here: {_BWRAP.describe()}")


@needs_bwrap
async def test_a_descriptor_the_server_inherited_never_reaches_the_sandbox(tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "notes.txt"
    secret.parent.mkdir()
    secret.write_text("user tax return")
    folder = os.open(secret.parent, os.O_RDONLY | os.O_DIRECTORY)  # a launcher's descriptor left open
    os.set_inheritable(folder, True)
    server = ServerProcess(tmp_path / "home", pass_fds=(folder,))
    try:
        await asyncio.to_thread(server.start)
        async with ContopClient(pair(server)["url"]) as client:
            # blocked on the host (a protected file), so it runs in the sandbox
            command = f"cat /etc/shadow; for fd in /proc/self/fd/*; do readlink $fd; done; cat /proc/self/fd/{folder}/*"
            call = ToolCall(payload=ToolCallPayload(tool="execute_cli", args={"command": command}))
            result = await client.request(call, expect_type="tool_result", timeout=60)
        assert isinstance(result, ToolResult)
        data = result.to_dict()["payload"]
        assert data["executed_on"] == "sandbox", data
        targets = (result.payload.stdout or "").split()
        # only the command's own pipes (and the listing's /proc handle): nothing of the host
        assert targets and all(t.startswith(("pipe:", "/proc/")) for t in targets), targets
        assert "user tax return" not in (result.payload.stdout or "")
    finally:
        os.close(folder)
        await asyncio.to_thread(server.stop)


@pytest.mark.skipif(os.geteuid() != 0, reason="setpriv matters to a server running as root")
async def test_a_root_server_without_setpriv_has_no_sandbox_and_its_log_says_why(tmp_path: Path) -> None:
    """Without setpriv the command would have run as root inside bubblewrap, claiming to be in a user namespace."""
    path = tmp_path / "bin"
    path.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for entry in Path(folder).iterdir():
            if entry.name != "setpriv" and not os.path.lexists(path / entry.name):
                (path / entry.name).symlink_to(entry)
    server = ServerProcess(tmp_path / "home", env={"PATH": str(path)})
    try:
        await asyncio.to_thread(server.start)
        log = server.log()
        assert "No sandbox available (bubblewrap unavailable: the server runs as root and setpriv" in log, log
        assert "bubblewrap sandbox in a user namespace" not in log
    finally:
        await asyncio.to_thread(server.stop)
