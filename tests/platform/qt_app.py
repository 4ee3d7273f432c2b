"""A small PySide6 window for accessibility and input tests; logs what happens to it as JSON lines.

Run: ``python qt_app.py LOG.jsonl [--title T] [--customer-form]``. Widgets: a line edit named "Name field", a push
button "Press me", a check box "Enable feature" and a label that counts presses. ``--customer-form`` puts a label
"Customer name" and a line edit of the same accessible name above them (a form where a name means two elements).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--title", default="Contop Qt Test")
    parser.add_argument("--customer-form", action="store_true")
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
    edit = QLineEdit()
    edit.setAccessibleName("Name field")
    button = QPushButton("Press me")
    check = QCheckBox("Enable feature")
    label = QLabel("pressed 0 times")
    if args.customer_form:
        customer = QLineEdit()
        customer.setAccessibleName("Customer name")
        customer.textChanged.connect(lambda text: emit({"event": "text", "field": "Customer name", "value": text}))
        layout.addWidget(QLabel("Customer name"))  # first in the tree, and read-only
        layout.addWidget(customer)
    for w in (edit, button, check, label):
        layout.addWidget(w)
    presses = [0]

    def pressed() -> None:
        presses[0] += 1
        label.setText(f"pressed {presses[0]} times")
        emit({"event": "pressed", "name": "Press me", "count": presses[0]})

    button.clicked.connect(pressed)
    check.toggled.connect(lambda on: emit({"event": "toggled", "name": "Enable feature", "checked": on}))
    edit.textChanged.connect(lambda text: emit({"event": "text", "field": "Name field", "value": text}))

    def box(w: QWidget) -> list[int]:
        # Relative to the window's client area: Qt learns its absolute position from the window manager only
        # later, so tests add the origin the platform adapter reports.
        p = w.mapTo(win, w.rect().topLeft()) if w is not win else w.rect().topLeft()
        return [p.x(), p.y(), w.width(), w.height()]

    def ready() -> None:
        emit(
            {
                "event": "ready",
                "title": args.title,
                "window": box(win),
                "edit": box(edit),
                "button": box(button),
                "check": box(check),
            }
        )
        edit.setFocus()

    win.resize(400, 240)
    win.move(700, 300)
    win.show()
    QTimer.singleShot(300, ready)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
