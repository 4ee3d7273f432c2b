"""``contop desktop``: its arguments, and clear errors when PySide6 or a display is missing."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from contop.cli import desktop
from contop.cli.main import build_parser

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]


def test_registered_with_home_and_port() -> None:
    args = build_parser().parse_args(["desktop", "--home", "/tmp/h", "--port", "8123"])
    assert args.func is desktop.run and args.home == "/tmp/h" and args.port == 8123


@pytest.mark.parametrize(
    ("env", "platform", "ok"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
        ({}, "win32", True),
        ({}, "darwin", True),
    ],
)
def test_display_problem(env: dict[str, str], platform: str, ok: bool) -> None:
    assert (desktop.display_problem(env, platform) is None) == ok


def test_missing_pyside6_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "PySide6" else real(name, *a))
    assert desktop.run(argparse.Namespace(home=None, port=None)) == 1
    assert "pip install 'contop[desktop]'" in capsys.readouterr().err


def test_no_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(desktop.sys, "platform", "linux")
    assert desktop.run(argparse.Namespace(home=None, port=None)) == 1
    assert "no display" in capsys.readouterr().err


def _contop(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """``contop ARGS --home HOME --port 0`` in its own session; an app that starts anyway is killed with its server."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    argv = [sys.executable, "-m", "contop", *args, "--home", str(home), "--port", "0"]
    proc = subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"contop {args[0]} --home {home} did not refuse the folder: it started") from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_a_folder_of_other_things_is_refused_as_the_server_refuses_it(tmp_path: Path) -> None:
    """`--home ~` by mistake: the app must not take the folder over (make it 0700, write its logs there)."""
    folder = tmp_path / "home-of-someone"
    (folder / "Documents").mkdir(parents=True)
    (folder / ".bashrc").write_text("x\n")
    folder.chmod(0o755)
    before = (sorted(os.listdir(folder)), stat.S_IMODE(folder.stat().st_mode))

    served = _contop(["serve", "--no-qr"], folder)
    shown = _contop(["desktop"], folder)

    assert served.returncode == 1 and "nothing of Contop's" in served.stderr
    assert shown.returncode == 1
    assert shown.stderr == served.stderr  # the same words, from the same check
    assert (sorted(os.listdir(folder)), stat.S_IMODE(folder.stat().st_mode)) == before
    assert os.listdir(folder / "Documents") == []
