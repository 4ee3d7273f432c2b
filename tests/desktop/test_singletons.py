"""The app outlives a PySide6 that drops references to None and True (6.12.0 on Python 3.11): each emit() and each
call of a Qt method that returns nothing cost one, and Python aborted once a count ran out ("bool_dealloc",
"none_dealloc"), in minutes for an idle app. Each check runs in a process of its own, which such an abort ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.desktop.test_qa29 import ROOT, child_env

pytestmark = pytest.mark.timeout(60)

# Far more of each than the counts of None (about 17 000 in the running app) and True (about 2 300).
CALLS = 60_000


def run_script(script: str, *args: str) -> tuple[dict[str, object], str]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=45,
        start_new_session=True,
    )
    assert "Fatal Python error" not in out.stderr, out.stderr[-2000:]
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    line = next((line for line in out.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert line is not None, out.stderr[-2000:]
    return json.loads(line.removeprefix("REPORT ")), out.stderr


APPLICATION_SCRIPT = f"""
import json
from PySide6.QtCore import QObject, Signal
from contop.desktop.app import application

class Emitter(QObject):
    fired = Signal(bool)

app = application()
emitter = Emitter()
seen = []
emitter.fired.connect(seen.append)
for _ in range({CALLS}):
    emitter.fired.emit(False)
    emitter.setObjectName("emitter")
print("REPORT " + json.dumps({{"seen": len(seen)}}))
"""


def test_the_application_survives_more_emits_and_calls_than_none_and_true_have_references() -> None:
    report, _ = run_script(APPLICATION_SCRIPT)
    assert report["seen"] == CALLS


# The real app (contop.desktop.app.run, with its server): once it runs, more background jobs than True has references
# (each delivered on the GUI thread by an emit() from a worker) and more label updates than None has; then it quits.
APP_SCRIPT = f"""
import json, sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from contop.desktop.app import run
from contop.desktop.window import MainWindow

app = QApplication(sys.argv[:1])
report = {{"delivered": 0}}

def probe():
    window = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow))
    for _ in range({CALLS}):
        window.server_chip.setText(window.server_chip.text())

    def delivered(_value):
        report["delivered"] += 1
        if report["delivered"] == {CALLS} // 10:
            window.quit_app()

    for _ in range({CALLS} // 10):
        window.tasks.run(lambda: None, delivered)

QTimer.singleShot(300, probe)
report["exit"] = run(Path(sys.argv[1]), 0)
print("REPORT " + json.dumps(report))
"""


def test_the_app_survives_more_background_jobs_and_label_updates_than_true_and_none_have_references(
    tmp_path: Path,
) -> None:
    report, _ = run_script(APP_SCRIPT, str(tmp_path / "home"))
    assert report == {"delivered": CALLS // 10, "exit": 0}
