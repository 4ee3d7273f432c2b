"""A PySide6 window whose elements share names: two unnamed line edits and two push buttons both labelled "OK".

Run: ``python a11y_twins_app.py LOG.jsonl [--title T]``. Logs JSON lines: ``ready``, ``pressed`` (which button,
0 or 1) and ``text`` (which field, its text). Used to check that a number from observe_screen means one element.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QVBoxLayout, QWidget


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--title", default="Contop Twins")
    args = parser.parse_args()
    log = open(args.log, "a", encoding="utf-8")

    def emit(event: dict[str, Any]) -> None:
        event["t"] = time.time()
        log.write(json.dumps(event, ensure_ascii=False) + "\n")
        log.flush()

    app = QApplication([sys.argv[0]])
    win = QWidget()
    win.setWindowTitle(args.title)
    layout = QVBoxLayout(win)
    for index in range(2):
        edit = QLineEdit()  # no accessible name, like most GTK entries
        edit.textChanged.connect(lambda text, i=index: emit({"event": "text", "field": i, "value": text}))
        button = QPushButton("OK")
        button.clicked.connect(lambda _checked=False, i=index: emit({"event": "pressed", "button": i}))
        layout.addWidget(edit)
        layout.addWidget(button)
    win.resize(360, 220)
    win.move(200, 150)
    win.show()
    QTimer.singleShot(300, lambda: emit({"event": "ready", "title": args.title}))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
