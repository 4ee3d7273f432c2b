"""Fixtures for the display-tool tests: the real X session of tests/platform, and the tools pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contop.testing.xsession import XSession
from contop.tools.context import ToolContext
from contop.tools.desktop import forget_desktop
from tests.platform.conftest import RecorderApp, launch_recorder, recorder, xsession

__all__ = ["RecorderApp", "desk_env", "launch_recorder", "recorder", "xctx", "xsession"]


@pytest.fixture
def desk_env(xsession: XSession, monkeypatch: pytest.MonkeyPatch) -> Iterator[XSession]:
    """DISPLAY and the session bus of the test X session; the tools' cached desktop is dropped afterwards."""
    forget_desktop(None)
    monkeypatch.setenv("DISPLAY", xsession.display)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", xsession.env["DBUS_SESSION_BUS_ADDRESS"])
    try:
        yield xsession
    finally:
        forget_desktop(None)


@pytest.fixture
def xctx(tmp_path: Path, desk_env: XSession) -> ToolContext:
    return ToolContext(session_id="x11-test", state_dir=tmp_path / "state", home=str(tmp_path), cwd=str(tmp_path))
