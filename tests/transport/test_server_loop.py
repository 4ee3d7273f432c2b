"""``contop serve`` runs on uvloop when it is installed, and on asyncio's own loop when asked: both really serve."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from contop.cli.doctor import Level, check_event_loop
from contop.cli.serve import event_loop
from contop.client import ContopClient
from contop.core.messages import new_id
from contop.testing.server import ServerProcess
from tests.transport.conftest import pair


def test_the_loop_is_uvloop_unless_asked_otherwise() -> None:
    expected = "asyncio" if sys.platform == "win32" else "uvloop"  # a dependency everywhere else
    assert event_loop({}) == expected
    assert event_loop({"CONTOP_EVENT_LOOP": "asyncio"}) == "asyncio"
    assert event_loop({"CONTOP_EVENT_LOOP": "ASYNCIO"}) == "asyncio"


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not a dependency on Windows")
def test_doctor_says_when_uvloop_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an install without it looks like: import fails
    assert event_loop({}) == "asyncio"
    check = check_event_loop({})
    assert check.level == Level.WARN and "not installed" in check.detail
    assert check.advice == "pip install uvloop"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_a_phone_connects_and_is_answered_on_either_loop(tmp_path: Path, loop: str) -> None:
    env = {"CONTOP_EVENT_LOOP": "asyncio"} if loop == "asyncio" else {}
    server = ServerProcess(tmp_path / "home", env=env).start()
    try:
        url = pair(server)["url"]
        async with ContopClient(url, device_id="loop-phone", video=False) as client:
            for _ in range(20):
                request = {"type": "keepalive", "id": new_id(), "payload": {}}
                reply = await client.request(request, expect_type="keepalive", timeout=5)
                assert reply.payload.ref_id == request["id"]  # type: ignore[attr-defined]
        assert f"event loop: {loop}" in server.log()
    finally:
        server.stop()
