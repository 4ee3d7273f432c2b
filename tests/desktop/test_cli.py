"""``contop desktop``: its arguments, and clear errors when PySide6 or a display is missing."""

from __future__ import annotations

import argparse
import importlib.util

import pytest

from contop.cli import desktop
from contop.cli.main import build_parser

pytestmark = pytest.mark.timeout(30)


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
