"""`contop pair` and `contop doctor` as a user runs them: real subprocesses, a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contop.core.pairing_payload import parse_pairing_url
from contop.testing.server import ServerProcess
from contop.testing.xsession import start_xsession


def contop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "contop", *args], capture_output=True, text=True, timeout=60, env=full_env
    )


def test_pair_prints_qr_and_url_from_the_running_server(server: ServerProcess) -> None:
    common = ["--port", str(server.port), "--home", str(server.home)]
    out = contop("pair", *common)
    assert out.returncode == 0, out.stderr
    assert "█" in out.stdout and "#p=" in out.stdout
    url = next(line.strip() for line in out.stdout.splitlines() if "#p=" in line)
    assert parse_pairing_url(url)["c"] == "permanent"
    temp = json.loads(contop("pair", "--temp", "--json", *common).stdout)
    assert temp["connection_type"] == "temp" and parse_pairing_url(temp["url"])["t"] == temp["token"]


def test_pair_without_server_or_with_wrong_home(server: ServerProcess, tmp_path: Path) -> None:
    out = contop("pair", "--port", "1", "--home", str(server.home))
    assert out.returncode == 1 and f"does not listen on port 1: use --port {server.port}" in out.stderr, out.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "admin.token").write_text("f" * 64)
    out = contop("pair", "--port", str(server.port), "--home", str(other))
    assert out.returncode == 1 and f"no Contop server is running with {other}" in out.stderr, out.stderr
    out = contop("pair", "--port", str(server.port), "--home", str(tmp_path / "nothing"))
    assert out.returncode == 1 and "no admin token" in out.stderr
    # the port names another running server than the one of this home: say where this home's server is
    second = ServerProcess(tmp_path / "second").start()
    try:
        out = contop("pair", "--port", str(server.port), "--home", str(second.home))
        assert out.returncode == 1, out.stderr
        assert f"does not listen on port {server.port}: use --port {second.port}" in out.stderr, out.stderr
    finally:
        second.stop()


def test_doctor_reports_every_capability(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
    env = {k: v for k, v in env.items() if not k.endswith("_API_KEY")}
    env["CONTOP_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json"], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    checks = {c["name"]: c for c in json.loads(out.stdout)}
    assert set(checks) == {
        "display", "input", "accessibility", "ocr", "sandbox", "gate", "loop", "docker", "cloudflared", "state dir",
        "settings", "models",
    }  # fmt: skip
    assert checks["state dir"]["level"] == "ok" and "creates it" in checks["state dir"]["detail"]
    assert checks["display"]["level"] == "missing" and "DISPLAY" in checks["display"]["detail"]
    assert checks["input"]["level"] == "missing"  # xdotool is installed, but without a display it moves nothing
    assert checks["models"]["level"] == "missing" and "OPENAI_API_KEY" in checks["models"]["advice"]
    assert checks["sandbox"]["level"] == "ok"  # bubblewrap is installed by make test
    assert checks["gate"]["level"] == "ok", checks["gate"]  # make test compiles the gate
    assert "compiled with mypyc" in checks["gate"]["detail"]
    assert checks["loop"]["level"] == "ok" and "uvloop" in checks["loop"]["detail"]  # a dependency on Linux
    interpreted = subprocess.run(
        [sys.executable, "-m", "contop", "doctor", "--json"], capture_output=True, text=True, timeout=60,
        env={**env, "CONTOP_GATE_COMPILED": "0", "CONTOP_EVENT_LOOP": "asyncio"},
    )  # fmt: skip
    slower = {c["name"]: c for c in json.loads(interpreted.stdout)}
    gate = slower["gate"]
    assert gate["level"] == "warn" and "interpreted (CONTOP_GATE_COMPILED=0)" in gate["detail"]
    assert gate["advice"] == "unset CONTOP_GATE_COMPILED"  # not "make gate": it is compiled, and switched off
    assert slower["loop"]["level"] == "warn" and "CONTOP_EVENT_LOOP=asyncio" in slower["loop"]["detail"]
    assert "unset CONTOP_EVENT_LOOP" in slower["loop"]["advice"]
    env["GEMINI_API_KEY"] = "AIza-doctor-test"
    human = subprocess.run(
        [sys.executable, "-m", "contop", "doctor"], capture_output=True, text=True, timeout=60, env=env
    )
    assert "gemini (from $GEMINI_API_KEY)" in human.stdout
    assert "AIza-doctor-test" not in human.stdout


@pytest.mark.x11
@pytest.mark.parametrize("damage", [True, False])
def test_doctor_tells_whether_the_display_reports_drawing(tmp_path: Path, damage: bool) -> None:
    session = start_xsession(
        "800x600x24", window_manager=False, dbus=False, xvfb_args=[] if damage else ["-extension", "DAMAGE"]
    )
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
        env.update({"DISPLAY": session.display, "CONTOP_HOME": str(tmp_path / "state")})
        result = subprocess.run(
            [sys.executable, "-m", "contop", "doctor", "--json"], capture_output=True, text=True, timeout=60, env=env
        )
    finally:
        session.close()
    assert result.returncode == 0, result.stderr
    display = {c["name"]: c for c in json.loads(result.stdout)}["display"]
    assert display["level"] == "ok" and "800x600" in display["detail"]
    if damage:
        assert "DAMAGE (a still screen is not grabbed)" in display["detail"]
    else:
        assert "no DAMAGE" in display["detail"]


def test_an_output_that_cannot_show_unicode_gets_no_traceback(tmp_path: Path) -> None:
    # A Windows console redirected to a file, or a non-UTF-8 locale: the QR code's blocks and doctor's marks
    # made `contop serve` exit with a UnicodeEncodeError before it served anything.
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "CONTOP_HOME": str(tmp_path / "home")}
    env.pop("DISPLAY", None)
    doctor = subprocess.run(
        [sys.executable, "-m", "contop", "doctor"], capture_output=True, text=True, timeout=60, env=env
    )
    assert doctor.returncode == 0 and "Traceback" not in doctor.stderr, doctor.stderr
    assert "\\u2718 display" in doctor.stdout  # the mark as an escape
    server = ServerProcess(tmp_path / "home").start()
    try:
        pair = subprocess.run(
            [sys.executable, "-m", "contop", "pair"], capture_output=True, text=True, timeout=60, env=env
        )
        assert pair.returncode == 0 and "Traceback" not in pair.stderr, pair.stderr
        assert "(no QR code: this output's encoding, ascii, cannot draw one" in pair.stdout, pair.stdout
        assert "/#p=" in pair.stdout  # the URL still printed
    finally:
        server.stop()
