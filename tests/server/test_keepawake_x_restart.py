"""Keep-awake after the X server restarts: the new server blanks and sleeps by default, so keep-awake, still on in
the settings, must be put back on it (before, the adapter holding it kept a connection to the dead server)."""

# ruff: noqa: F811 - the X fixture is imported into this module by name, then used as an argument

from __future__ import annotations

import time
from pathlib import Path

import pytest

from contop.server.keepawake import HostKeepAwake
from tests.server.test_keepawake import _saver_timeout, _set_saver_timeout
from tests.transport.test_video_x_restart import RestartableXvfb, xvfb  # noqa: F401 - fixture

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]


def test_keep_awake_is_put_back_on_a_restarted_x_server(xvfb: RestartableXvfb, tmp_path: Path) -> None:
    from contop.platform.base import get_adapter

    host = HostKeepAwake(lambda _display: get_adapter(xvfb.display), record_path=tmp_path / "keep-awake.json")
    wanted = True
    try:
        _set_saver_timeout(xvfb.display, 600)
        assert host.apply(True) == "keep-awake on"
        assert _saver_timeout(xvfb.display) == 0
        assert host.refresh(lambda: wanted) is None  # nothing lost: nothing done

        xvfb.kill()
        assert host.refresh(lambda: wanted) is None  # no X server: tried again later, never raised
        xvfb.start_again()
        _set_saver_timeout(xvfb.display, 600)  # a fresh server's screen saver is on
        deadline = time.monotonic() + 10
        said = host.refresh(lambda: wanted)
        while said is None and time.monotonic() < deadline:
            time.sleep(0.2)
            said = host.refresh(lambda: wanted)
        assert said is not None and said.startswith("keep-awake on again"), said
        assert _saver_timeout(xvfb.display) == 0

        wanted = False  # turned off in the settings: a refresh leaves it to the setting's own listener
        assert host.apply(False) == "keep-awake off"
        assert host.refresh(lambda: wanted) is None and not host.on
        assert _saver_timeout(xvfb.display) == 600
    finally:
        host.apply(False)
