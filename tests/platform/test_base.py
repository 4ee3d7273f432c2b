"""get_adapter's refusals are explicit and say what to do."""

from __future__ import annotations

import pytest

from contop.core.errors import NotAvailableError
from contop.platform import base
from contop.platform.base import UIElement, get_adapter
from contop.platform.geometry import Rect


def test_no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(NotAvailableError, match="install xvfb"):
        get_adapter()


def test_wayland_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(NotAvailableError, match="Wayland"):
        get_adapter()


# python-xlib does not close its sockets when connecting fails (unix, then TCP); that is its leak, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_unreachable_display() -> None:
    with pytest.raises(NotAvailableError, match="cannot open the X display ':4243'"):
        get_adapter(":4243")


def test_unknown_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "current_os", lambda: "other")
    with pytest.raises(NotAvailableError, match="no platform adapter"):
        get_adapter()


def test_element_serialisation() -> None:
    el = UIElement("push button", "OK", Rect(10, 20, 30, 40), ("showing",), ("Press",))
    assert el.center == (25, 40)
    d = el.to_dict()
    assert d["box"] == [10, 20, 30, 40] and d["states"] == ["showing"] and d["actions"] == ["Press"]
