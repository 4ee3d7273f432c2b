"""observe_screen and get_ui_context on a real X server: accessibility elements of a Qt app (boxes in screenshot
pixels, a button pressed by number), OCR of a Tk window with known text, the annotated image, the OCR fallback."""

# ruff: noqa: F811 - the X fixtures are imported into this module by name, then used as arguments

from __future__ import annotations

import base64
import io
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contop.platform.geometry import Rect, ScreenGeometry
from contop.testing.xsession import XSession
from contop.tools.context import ToolContext
from contop.tools.gui import execute_accessible
from contop.tools.screen import get_ui_context, observe_screen
from tests.platform.conftest import linux_adapter, wait_until_active  # noqa: F401 - fixtures
from tests.platform.test_linux_atspi import QtApp, qt_app  # noqa: F401 - fixtures

from .x11 import desk_env, xctx, xsession  # noqa: F401 - fixtures

pytestmark = pytest.mark.x11

SCREEN = ScreenGeometry.for_monitor(Rect(0, 0, 1920, 1080))

LABEL_APP = r"""
import json, sys, tkinter as tk
out = sys.argv[1]
root = tk.Tk(); root.title("Report Viewer"); root.geometry("900x300+300+400"); root.configure(bg="white")
label = tk.Label(root, text="Quarterly Report 2026", font=("DejaVu Sans", 40), bg="white", fg="black")
label.pack(padx=40, pady=80)
def ready():
    if not root.winfo_viewable():
        root.after(20, ready); return
    root.update()
    box = [label.winfo_rootx(), label.winfo_rooty(), label.winfo_width(), label.winfo_height()]
    open(out, "w").write(json.dumps(box))
root.after(50, ready)
root.mainloop()
"""


@pytest.fixture
def label_app(desk_env: XSession, tmp_path: Path) -> Iterator[tuple[int, int, int, int]]:
    """A window showing "Quarterly Report 2026" in big letters; yields the label's absolute box."""
    out = tmp_path / "label.json"
    proc = desk_env.spawn("label-app", [sys.executable, "-c", LABEL_APP, str(out)])
    try:
        wait_until_active(desk_env, "Report Viewer")
        deadline = time.monotonic() + 20
        while not out.exists() or not out.read_text():
            assert time.monotonic() < deadline, "the label app did not start"
            time.sleep(0.05)
        time.sleep(0.3)  # the window manager may still move the frame once
        x, y, w, h = json.loads(out.read_text())
        yield x, y, w, h
    finally:
        proc.terminate()
        proc.wait(5)


def _contains(outer: list[int], inner: tuple[int, int, int, int]) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and outer[0] + outer[2] >= inner[0] + inner[2]
        and outer[1] + outer[3] >= inner[1] + inner[3]
    )


async def test_accessibility_elements_of_a_qt_app(xctx: ToolContext, qt_app: QtApp) -> None:
    result = await observe_screen(xctx, "grounding")
    assert result["status"] == "success" and result["element_source"] == "accessibility"
    assert "fallback" not in result
    by_label = {e["label"]: e for e in result["elements"]}
    assert {"Press me", "Name field", "Enable feature"} <= set(by_label)
    left, top, width, height = qt_app.absolute("button")
    expected = SCREEN.box_to_shot(left, top, width, height)
    assert by_label["Press me"]["box"] == list(expected)
    number = by_label["Press me"]["number"]
    assert f'#{number} push button "Press me"' in result["stdout"]
    assert result["annotated"] is True
    _assert_box_drawn(result["image_b64"], by_label["Press me"]["box"])

    pressed = await execute_accessible(xctx, f"#{number}")
    assert pressed["status"] == "success"
    qt_app.wait_for(lambda ev: any(e["event"] == "pressed" for e in ev))

    context = await get_ui_context(xctx)
    assert "Contop Qt Test" in context["stdout"] and "Press me" in context["stdout"]
    typed = await execute_accessible(xctx, "Name field", "set_text", "héllo ✓")
    assert typed["status"] == "success"
    qt_app.wait_for(lambda ev: any(e["event"] == "text" and e["value"] == "héllo ✓" for e in ev))


def _assert_box_drawn(image_b64: str, box: list[int]) -> None:
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(image_b64))).convert("RGB")
    assert img.size == (1280, 720)
    x, y, w, h = box
    # The outline runs along the box's bottom edge: reddish-magenta pixels (JPEG blurs them a little).
    samples = [img.getpixel((x + w // 2 + dx, y + h - 1)) for dx in (-3, 0, 3)]
    assert all(r > 140 and r > 2 * g for r, g, _b in samples), samples  # type: ignore[misc]


async def test_ocr_finds_known_words_where_they_are(xctx: ToolContext, label_app: tuple[int, int, int, int]) -> None:
    result = await observe_screen(xctx, "grounding")
    assert result["status"] == "success"
    assert result["element_source"] == "ocr" and result["fallback"] == "ocr" and "OCR" in result["note"]
    hits = [e for e in result["elements"] if "Quarterly Report 2026" in e["label"]]
    assert hits, result["stdout"]
    # The text is centred in its label: the OCR box lies inside the label and covers its centre.
    lx, ly, lw, lh = label_app
    label_shot = SCREEN.box_to_shot(lx, ly, lw, lh)
    box = hits[0]["box"]
    assert _contains(list(label_shot), tuple(box)), (label_shot, box)
    cx, cy = SCREEN.to_shot(lx + lw // 2, ly + lh // 2)
    assert box[0] <= cx <= box[0] + box[2] and box[1] <= cy <= box[1] + box[3], (box, (cx, cy))
    _assert_box_drawn(result["image_b64"], box)
    plain = await observe_screen(xctx, "understanding")
    assert plain["annotated"] is False and plain["elements"]
    assert json.dumps(plain["elements"])  # JSON-ready for the phone


async def test_without_accessibility_bus_ocr_stands_in(
    xctx: ToolContext, label_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contop.tools.desktop import forget_desktop

    forget_desktop(None)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/contop-test-bus")
    result = await observe_screen(xctx)
    assert result["fallback"] == "ocr" and "Accessibility is not available" in result["note"]
    context = await get_ui_context(xctx)
    assert context["fallback"] == "ocr" and "observe_screen" in context["stdout"]


async def test_without_accessibility_or_ocr_the_note_says_nothing_was_found(
    xctx: ToolContext, label_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contop.core.errors import NotAvailableError
    from contop.tools import screen
    from contop.tools.desktop import forget_desktop

    def no_ocr(*_args: Any) -> Any:
        raise NotAvailableError("OCR needs rapidocr_onnxruntime: pip install 'contop[ocr]' (make run installs it)")

    forget_desktop(None)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/contop-test-bus")
    monkeypatch.setattr(screen, "run_ocr", no_ocr)
    result = await observe_screen(xctx)
    assert "found by OCR instead" not in result["note"]  # it was not
    assert "OCR is not available either" in result["note"] and "contop[ocr]" in result["note"]
    assert result["elements"] == []


def test_an_active_window_on_another_monitor_is_said_to_be_elsewhere(tmp_path: Path) -> None:
    """Only the primary monitor is shown and controlled: a focused window on the second one must not pass for the
    one whose text the listing shows (QA: 'Active window: Rec2' above another window's OCR words)."""
    import asyncio
    import subprocess

    from contop.testing.xsession import start_xsession
    from contop.tools.desktop import forget_desktop

    session = start_xsession("2560x1024x24", dbus=False)
    try:
        env = session.child_env()
        for name, geometry in (("LEFT", "1280/338x1024/271+0+0"), ("RIGHT", "1280/338x1024/271+1280+0")):
            subprocess.run(["xrandr", "--setmonitor", name, geometry, "none"], env=env, check=True)
        app = "import tkinter as t; r=t.Tk(); r.title('Far Away Notes'); r.geometry('600x400+1600+200'); r.mainloop()"
        proc = session.spawn("far-app", [sys.executable, "-c", app])
        try:
            wait_until_active(session, "Far Away Notes")
            forget_desktop(None)
            ctx = ToolContext(session_id="mm", state_dir=tmp_path / "state", home=str(tmp_path), cwd=str(tmp_path))
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("DISPLAY", session.display)
                mp.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/contop-test-bus")
                result = asyncio.run(observe_screen(ctx, mode="understanding"))
        finally:
            proc.terminate()
            proc.wait(5)
            forget_desktop(None)
    finally:
        session.close()
    assert "Active window: 'Far Away Notes', which is not on the monitor shown" in result["stdout"], result["stdout"]
    assert result["image_width"] == 1280  # the primary monitor only
