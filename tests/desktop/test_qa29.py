"""QA round 29 of the desktop app: garbage collected on the GUI thread only (a crash on quit), the Proxies page after
a reset of the settings, a server killed or frozen under the app, the Pair page at the window's minimum size, and an
unusable state directory said in a window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from contop.desktop import style
from contop.desktop.api import ApiClient
from contop.desktop.app import build, run
from contop.desktop.paths import DesktopPaths
from contop.desktop.proxies import ProxyManager
from contop.desktop.sidecar import ParentDeath, SidecarState
from contop.desktop.window import MainWindow
from contop.testing.server import ServerProcess
from contop.testing.xsession import XSession, linux_adapter_for_tests, xsession_for_tests
from tests.desktop.test_app import FAST_PROXIES, make_window, put_settings
from tests.desktop.test_proxies import fake, free_port

pytestmark = pytest.mark.timeout(60)
REFUSAL_TITLE = "Contop cannot start"
WAIT = 20_000
ROOT = Path(__file__).resolve().parents[2]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return {**env, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1", **extra}


# --- 1. garbage collection on the GUI thread, and quitting


# Runs the real app (contop.desktop.app.run) and, once it runs, makes cyclic garbage on one of its worker threads:
# far more than Python's threshold, so an automatic collection would start on that worker.
GC_SCRIPT = """
import gc, json, sys, threading, weakref
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from contop.desktop.app import run
from contop.desktop.window import MainWindow

app = QApplication(sys.argv[:1])
main = threading.get_ident()
collected_on = []
gc.callbacks.append(lambda phase, info: collected_on.append(threading.get_ident()) if phase == "start" else None)
report = {}
refs = []

class Cycle:
    def __init__(self):
        self.me = self

def make():
    for _ in range(30000):
        refs.append(weakref.ref(Cycle()))
    return threading.get_ident()

def probe():
    window = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow))
    report["automatic"] = gc.isenabled()
    del collected_on[:]

    def made(worker):
        report["made_on_a_worker"] = worker != main

        def check():
            report["left"] = sum(r() is not None for r in refs)
            report["collections"] = len(collected_on)
            report["off_the_gui_thread"] = sum(t != main for t in collected_on)
            window.quit_app()

        QTimer.singleShot(2500, check)

    window.tasks.run(make, made)

QTimer.singleShot(300, probe)
report["exit"] = run(Path(sys.argv[1]), 0)
print("REPORT " + json.dumps(report))
"""


def test_garbage_cycles_made_on_a_worker_are_collected_on_the_gui_thread(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", GC_SCRIPT, str(tmp_path / "home")],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,
    )
    line = next((line for line in out.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert line is not None, out.stderr[-2000:]
    report = json.loads(line.removeprefix("REPORT "))
    assert report["made_on_a_worker"]
    assert report["automatic"] is False  # no collection can start on whatever thread allocates
    assert report["left"] == 0  # the timer of the GUI thread collected them
    assert report["collections"] >= 1 and report["off_the_gui_thread"] == 0
    assert report["exit"] == 0


def test_the_app_quits_with_status_0_start_after_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for attempt in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "contop", "desktop", "--home", str(home), "--port", "0"],
            env=child_env(),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            log = home / "logs" / "server.log"
            deadline = time.monotonic() + 15
            while log.read_bytes().count(b"serving on") <= attempt if log.exists() else True:
                assert time.monotonic() < deadline and proc.poll() is None, "the app did not start its server"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)  # as the tray's Quit does
            _, err = proc.communicate(timeout=10)
            assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


# --- 2. the Proxies page after "Reset to defaults"


def answer_next_question(button: QMessageBox.StandardButton) -> None:
    """Press ``button`` in the next question box the app shows."""

    def press() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, press)
            return
        target = box.button(button)
        assert target is not None
        target.click()

    QTimer.singleShot(50, press)


def test_after_a_reset_the_proxies_page_shows_the_port_the_server_has(
    qapp: QApplication, qtbot: QtBot, server: ServerProcess
) -> None:
    # Started by the user below, not at the window's start: Start (and the port field) is for a stopped proxy.
    put_settings(server, {"proxy_auto_start": False})
    win = make_window(qapp, server, ProxyManager(server.home, fake(), FAST_PROXIES))
    page = win.proxies_page
    port = free_port()
    try:
        qtbot.waitUntil(lambda: win.settings.loaded is not None, timeout=WAIT)
        page.ports["anthropic"].setValue(port)
        page.start("anthropic")
        qtbot.waitUntil(lambda: page.message.text().startswith(f"Port {port} saved for Anthropic"), timeout=WAIT)

        answer_next_question(QMessageBox.StandardButton.Reset)
        win.settings.reset_btn.click()  # Settings → Reset to defaults, confirmed
        qtbot.waitUntil(lambda: page.saved_ports["anthropic"] == 3456, timeout=WAIT)
        # Still running on its port, which the server no longer uses: the page says so.
        qtbot.waitUntil(lambda: "The settings now name port 3456" in page.details["anthropic"].text(), timeout=WAIT)

        page.stop("anthropic")
        qtbot.waitUntil(lambda: "Stopped" in page.chips["anthropic"].text(), timeout=WAIT)
        qtbot.waitUntil(lambda: page.ports["anthropic"].value() == 3456, timeout=WAIT)
        assert "The settings now name" not in page.details["anthropic"].text()
        win.settings.load()  # the next reading of the settings keeps it
        qtbot.wait(1000)
        assert page.ports["anthropic"].value() == 3456
    finally:
        win.quit_app()
        win.api.close()


# --- 3. a server killed or frozen under the app


@pytest.fixture
def app_window(qapp: QApplication, qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    style.apply(qapp)
    win, controller = build(tmp_path / "home", 0, ParentDeath.default())
    win.show()
    try:
        controller.start()
        qtbot.waitUntil(lambda: controller.state is SidecarState.RUNNING, timeout=40_000)
        qtbot.waitUntil(lambda: not win.devices._polling, timeout=WAIT)
        yield win
    finally:
        pid = controller.sidecar.pid
        if pid is not None:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        win.quit_app()
        win.api.close()


PHONE = {"device_id": "phone-1", "device_name": "Pixel", "connected": True, "connection_type": "permanent"}


def device_status(win: MainWindow) -> str:
    return str(win.devices.table.cellWidget(0, 2).findChildren(QWidget)[-1].text())  # type: ignore[attr-defined]


def test_a_killed_server_leaves_no_phone_shown_as_connected(app_window: MainWindow, qtbot: QtBot) -> None:
    win = app_window
    assert win.controller is not None
    win.devices.show_devices([PHONE])  # as the last poll saw it
    assert "Connected" in device_status(win)
    pid = win.controller.sidecar.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "Server down" in win.server_chip.text(), timeout=5000)
    assert "Connected" not in device_status(win) and "Unknown" in device_status(win)
    assert "connections unknown" in win.devices.summary.text()
    assert "0 connected" not in win.pair.clients_chip.text()


def test_a_frozen_server_is_shown_as_not_answering_until_it_answers_again(app_window: MainWindow, qtbot: QtBot) -> None:
    win = app_window
    assert win.controller is not None
    win.devices.show_devices([PHONE])
    pid = win.controller.sidecar.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    frozen = time.monotonic()
    qtbot.waitUntil(lambda: "not answering" in win.server_chip.text(), timeout=8000)
    assert time.monotonic() - frozen < 6
    assert not win.banner_holder.isHidden() and "does not answer" in win.banner_text.text()
    assert "Unknown" in device_status(win)
    os.kill(pid, signal.SIGCONT)
    qtbot.waitUntil(lambda: "Server running" in win.server_chip.text(), timeout=8000)
    assert win.banner_holder.isHidden()
    assert win.devices.server_up and win.devices.timer.isActive()


# --- 4. the Pair page at the window's minimum size


def geometry(win: QWidget, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(win, widget.rect().topLeft()), widget.size())


def test_nothing_on_the_pair_page_overlaps_at_the_minimum_size(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    style.apply(qapp)
    home = tmp_path / "home"
    home.mkdir()
    win = MainWindow(ApiClient("http://127.0.0.1:9", lambda: "t"), DesktopPaths(home), ProxyManager(home, None))
    qtbot.addWidget(win)
    win.resize(win.minimumSize())
    win.show()
    qtbot.waitExposed(win)
    for panel, label in ((win.pair.permanent, "Permanent code"), (win.pair.temporary, "Temporary code")):
        panel.expiry.setText(f"{label} · valid until 21 Nov 2026, 20:49")
    qtbot.wait(200)
    assert win.size() == win.minimumSize()
    for panel, extra in ((win.pair.permanent, [win.pair.refresh_btn]), (win.pair.temporary, [win.pair.temp_btn])):
        qr = geometry(win, panel.image)
        for other in (panel.expiry, panel.url, panel.copy, *extra):
            assert not qr.intersects(geometry(win, other)), (other, qr, geometry(win, other))
        assert not geometry(win, panel.expiry).intersects(geometry(win, panel.url))
    win.tasks.shutdown()
    win.api.close()


# --- 5. an unusable state directory


def unusable_homes(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    others = tmp_path / "someones-folder"
    others.mkdir()
    (others / "thesis.odt").write_text("x")
    return {
        "a file": (a_file, "cannot use the state directory"),
        "a folder under a file": (a_file / "home", "cannot use the state directory"),
        "a folder of other things": (others, "already holds other things (thesis.odt)"),
    }


@pytest.mark.parametrize("kind", ["a file", "a folder under a file", "a folder of other things"])
def test_an_unusable_home_is_refused_with_its_reason(
    qapp: QApplication, tmp_path: Path, capfd: pytest.CaptureFixture[str], kind: str
) -> None:
    home, reason = unusable_homes(tmp_path)[kind]
    assert run(home, 0) == 1  # offscreen: said on stderr only, no dialog that nobody could close
    assert reason in capfd.readouterr().err
    assert not (tmp_path / "someones-folder" / "logs").exists()


@pytest.fixture(scope="module")
def xsession() -> Iterator[XSession]:
    for session in xsession_for_tests("1280x900x24"):
        session.start_atspi()
        yield session


@pytest.fixture(scope="module")
def adapter(xsession: XSession) -> Iterator[Any]:
    yield from linux_adapter_for_tests(xsession)


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception:  # the window is not there yet
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.x11
def test_an_unusable_home_is_said_in_a_window_on_a_display(xsession: XSession, adapter: Any, tmp_path: Path) -> None:
    home, reason = unusable_homes(tmp_path)["a folder of other things"]
    env = xsession.child_env(
        {"QT_QPA_PLATFORM": "xcb", "QT_ACCESSIBILITY": "1", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from contop.desktop.app import run; "
         "sys.exit(run(Path(sys.argv[1]), 0))", str(home)],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:

        def dialog() -> list[Any]:
            return [e for e in adapter.get_element_tree(REFUSAL_TITLE, max_depth=20, limit=500) if e.name]

        elements = wait_for(dialog)
        assert any(e.role == "label" and reason in e.name for e in elements), [e.name for e in elements]
        close = next(e for e in elements if e.role == "push button" and e.name == "Close")
        adapter.click(close.box.left + close.box.width // 2, close.box.top + close.box.height // 2)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 1
        assert reason in err.decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
