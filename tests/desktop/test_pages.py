"""Page logic that needs Qt but no server: device events to notifications, locations, the logs tail."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from contop.desktop import style
from contop.desktop.api import ApiClient
from contop.desktop.pages.devices import DevicesPage, location_text
from contop.desktop.pages.logs import LogsPage, tail
from contop.desktop.paths import DesktopPaths
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import Chip

pytestmark = pytest.mark.timeout(30)


def event(kind: str, stamp: str, device: str = "p1") -> dict[str, str]:
    return {"type": kind, "device_id": device, "device_name": "Pixel", "timestamp": stamp}


def test_device_events_notify_only_news_once(qtbot: QtBot) -> None:
    sent: list[tuple[str, str]] = []
    tasks = TaskRunner()
    page = DevicesPage(ApiClient("http://127.0.0.1:9", lambda: "t"), tasks, lambda t, m: sent.append((t, m)))
    qtbot.addWidget(page)
    page.handle_events([event("connected", "2026-01-01T10:00:00.000Z")])  # history from before the app started
    assert sent == [] and page.activity.count() == 1
    page.handle_events(
        [
            event("connected", "2026-01-01T10:00:00.000Z"),  # seen already
            event("disconnected", "2026-01-01T10:05:00.000Z"),
            event("connected", "2026-01-01T10:06:00.000Z"),
            event("token_replaced", "2026-01-01T10:07:00.000Z"),
        ]
    )
    assert [t for t, _m in sent] == ["Phone disconnected", "Phone connected", "Phone paired again"]
    assert page._since == "2026-01-01T10:07:00.000Z"
    assert page.activity.item(0).text().endswith("Pixel paired again; its previous code no longer works.")
    tasks.shutdown()


def test_device_status_chips_and_buttons_fit_their_cells(qapp: QApplication, qtbot: QtBot) -> None:
    style.apply(qapp)  # the app's fonts and paddings decide the widths
    tasks = TaskRunner()
    page = DevicesPage(ApiClient("http://127.0.0.1:9", lambda: "t"), tasks, lambda t, m: None)
    qtbot.addWidget(page)
    page.resize(1120, 600)
    page.show()
    page.show_devices([{"device_id": "p1", "connected": True}, {"device_id": "p2", "connected": False}])
    qtbot.waitExposed(page)
    table = page.table
    for row in range(2):
        for column, kind in ((2, Chip), (7, QPushButton)):
            widget = table.cellWidget(row, column).findChild(kind)
            assert isinstance(widget, QWidget)
            assert widget.width() >= widget.sizeHint().width()  # not squeezed: "Connecte"
            left = widget.mapTo(table.viewport(), QPoint(0, 0)).x()
            cell = table.columnViewportPosition(column)
            assert cell <= left and left + widget.width() <= cell + table.columnWidth(column)
    assert table.cellWidget(0, 2).findChild(Chip).text() == "● Connected"
    tasks.shutdown()


def test_location_text() -> None:
    assert location_text(None) == "—"
    assert location_text({"city": "Lyon", "country": "France"}) == "Lyon, France"
    assert location_text({"latitude": 45.76, "longitude": 4.835}) == "45.760, 4.835"


def test_logs_tail_and_page(tmp_path: Path, qtbot: QtBot) -> None:
    log = tmp_path / "logs" / "server.log"
    log.parent.mkdir()
    log.write_text("".join(f"line {i}\n" for i in range(5000)))
    text = tail(log, limit=1000)
    assert text.endswith("line 4999\n") and text.startswith("line ") and len(text) <= 1000
    page = LogsPage(DesktopPaths(tmp_path))
    qtbot.addWidget(page)
    page.show()
    assert "line 4999" in page.view.toPlainText()
    page.select(1)  # the Anthropic proxy: nothing logged yet
    assert "nothing logged yet" in page.view.toPlainText()
    (tmp_path / "proxy-anthropic.log").write_text("proxy says hi\n")
    page.refresh()
    assert "proxy says hi" in page.view.toPlainText()
