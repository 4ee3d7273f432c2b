"""Logs page: the tail of the server log and of each proxy log, read from the state directory."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPlainTextEdit

from contop.desktop.paths import PROVIDERS, DesktopPaths
from contop.desktop.proxies import PROVIDER_LABELS
from contop.desktop.style import mono_font
from contop.desktop.widgets import Card, ComboBox, Page, button, muted

TAIL_BYTES = 256 * 1024


def tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a file, starting at a line boundary."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read()
    except FileNotFoundError:
        return ""
    if size > limit:
        data = data.split(b"\n", 1)[-1]
    return data.decode("utf-8", "replace")


class LogsPage(Page):
    def __init__(self, paths: DesktopPaths) -> None:
        super().__init__("Logs", "What the server and the proxies write, newest at the bottom.")
        self.paths = paths
        card = Card()
        bar = QHBoxLayout()
        self.source = ComboBox()
        self.source.addItem("Server", str(paths.server_log))
        for provider in PROVIDERS:
            self.source.addItem(f"{PROVIDER_LABELS[provider]} proxy", str(paths.proxy_log(provider)))
        self.source.currentIndexChanged.connect(lambda _i: self.refresh(force=True))
        bar.addWidget(self.source)
        self.path_label = muted("", wrap=False)
        bar.addWidget(self.path_label, 1)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        bar.addWidget(self.follow)
        reload_btn = button("Reload")
        reload_btn.clicked.connect(lambda: self.refresh(force=True))
        bar.addWidget(reload_btn)
        card.body.addLayout(bar)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setFont(mono_font(9))
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setStyleSheet("background:#161a24; color:#d6dae4; border:none; border-radius:8px; padding:8px;")
        card.body.addWidget(self.view, 1)
        self.body.addWidget(card, 1)
        self._shown = ""
        self.timer = QTimer(self)
        self.timer.setInterval(2000)
        self.timer.timeout.connect(self.refresh)

    def select(self, index: int) -> None:
        self.source.setCurrentIndex(index)

    def showEvent(self, event: object) -> None:
        self.refresh(force=True)
        self.timer.start()
        super().showEvent(event)  # type: ignore[arg-type]

    def hideEvent(self, event: object) -> None:
        self.timer.stop()
        super().hideEvent(event)  # type: ignore[arg-type]

    def refresh(self, force: bool = False) -> None:
        path = Path(str(self.source.currentData()))
        self.path_label.setText(str(path))
        text = tail(path) or f"(nothing logged yet in {path.name})"
        if text == self._shown and not force:
            return
        self._shown = text
        scroll = self.view.verticalScrollBar()
        keep = scroll.value()
        self.view.setPlainText(text)
        if self.follow.isChecked():
            self.view.moveCursor(QTextCursor.MoveOperation.End)
            scroll.setValue(scroll.maximum())
        else:
            scroll.setValue(keep)
