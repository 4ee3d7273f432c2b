"""`contop doctor` on AT-SPI: a bus that D-Bus starts on first use (at-spi2-core's service file) is available, not
missing; installing at-spi2-core is advised only when org.a11y.Bus is neither running nor activatable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from contop.testing.xsession import start_xsession

ATSPI_SERVICE = Path("/usr/share/dbus-1/services/org.a11y.Bus.service")

# A session bus that knows no service files: nothing is activatable on it.
BARE_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def accessibility(env: dict[str, str], home: Path) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json", "--home", str(home)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return next(c for c in json.loads(out.stdout) if c["name"] == "accessibility")


def a11y_bus_owned(address: str) -> bool:
    from jeepney import message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as conn:
        return bool(conn.send_and_get_reply(message_bus.NameHasOwner("org.a11y.Bus"), timeout=2).body[0])


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY")}


@pytest.mark.x11
def test_an_activatable_atspi_bus_is_available_and_not_started(tmp_path: Path) -> None:
    if not ATSPI_SERVICE.exists():
        pytest.skip("needs at-spi2-core (its D-Bus service file)")
    session = start_xsession("640x480x24", window_manager=False)
    try:
        address = session.env["DBUS_SESSION_BUS_ADDRESS"]
        check = accessibility({**base_env(), **session.env}, tmp_path / "home")
        assert check["level"] == "ok", check
        assert "on demand" in check["detail"] and "first use" in check["detail"], check
        assert "apt install" not in check["advice"], check
        assert not a11y_bus_owned(address)  # asking did not start it
    finally:
        session.close()


@pytest.mark.x11
@pytest.mark.slow
def test_a_running_atspi_bus_is_reported_running(tmp_path: Path) -> None:
    session = start_xsession("640x480x24", window_manager=False, atspi=True)
    try:
        check = accessibility({**base_env(), **session.env}, tmp_path / "home")
    finally:
        session.close()
    assert check["level"] == "ok" and "AT-SPI bus running" in check["detail"], check


@pytest.mark.x11
def test_installing_at_spi_is_advised_only_when_nothing_can_start_it(tmp_path: Path) -> None:
    dbus = shutil.which("dbus-daemon")
    if dbus is None:
        pytest.skip("needs dbus-daemon (apt-get install dbus)")
    config = tmp_path / "bare-bus.conf"
    config.write_text(BARE_BUS_CONFIG.format(dir=tmp_path))
    with subprocess.Popen(
        [dbus, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            address = proc.stdout.readline().strip()
            assert address, "dbus-daemon printed no address"
            check = accessibility({**base_env(), "DBUS_SESSION_BUS_ADDRESS": address}, tmp_path / "home")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert check["level"] == "warn", check
    assert "neither running nor activatable" in check["detail"] and check["advice"] == "apt install at-spi2-core"
