"""Devices page: every paired phone with its live state, revocation, and notifications from device events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from contop.desktop.api import ApiClient
from contop.desktop.pages.pair import short_time
from contop.desktop.style import TABLE_CELL_PADDING
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import Card, Chip, Page, button, in_sentence, muted, plain, rich_safe, shown_name

POLL_MS = 5000
COLUMNS = ("Device", "Type", "Status", "Path", "Location", "Last seen", "Paired", "")
WIDGET_COLUMNS = (2, 7)  # the status chip, the Revoke button
LOCATION_COLUMN = 4
NOT_ANSWERING_REVOKE = "The server is not running or not answering: a phone can be revoked once it answers again."

Notify = Callable[[str, str], None]


def location_text(loc: dict[str, Any] | None) -> str:
    if not loc:
        return "—"
    parts = [str(loc[k]) for k in ("city", "country") if loc.get(k)]
    if parts:
        return ", ".join(parts)
    lat, lon = loc.get("latitude", loc.get("lat")), loc.get("longitude", loc.get("lon"))
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        return f"{lat:.3f}, {lon:.3f}"
    return "—"


def event_message(event: dict[str, Any]) -> tuple[str, str] | None:
    """The notification for a device event, or None for events that do not deserve one. The name is the phone's
    choice: isolated and with its direction controls written out, so it cannot turn the sentence around."""
    name = in_sentence(event.get("device_name") or event.get("device_id") or "A device")
    kind = event.get("type")
    if kind == "connected":
        return "Phone connected", f"{name} is now connected to this computer."
    if kind == "disconnected":
        return "Phone disconnected", f"{name} disconnected."
    if kind == "token_replaced":
        return "Phone paired again", f"{name} paired again; its previous code no longer works."
    if kind == "revoked":
        return "Phone removed", f"{name} can no longer connect."
    if kind == "expired":
        return "Pairing expired", f"{name}'s pairing code expired; it needs a new code to connect again."
    return None


class DevicesPage(Page):
    def __init__(self, api: ApiClient, tasks: TaskRunner, notify: Notify) -> None:
        super().__init__("Devices", "Phones paired with this computer. Status refreshes every few seconds.")
        self.api = api
        self.tasks = tasks
        self.notify = notify
        self.devices: list[dict[str, Any]] = []
        self._seen_events: set[tuple[str, str, str]] = set()
        self._since: str | None = None
        self._primed = False
        self._polling = False
        self.server_up = True  # False: the server is down or does not answer, so no phone's state is known

        card = Card()
        top = QHBoxLayout()
        self.summary = plain(QLabel("No phones paired yet."))
        self.summary.setObjectName("cardTitle")
        self.summary.setWordWrap(True)  # "… connections unknown: the server is not running …" at narrow sizes
        top.addWidget(self.summary, 1)
        refresh = button("Refresh")
        refresh.clicked.connect(self.poll)
        top.addWidget(refresh)
        card.body.addLayout(top)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The location takes the room left, and gives it up first (elided, whole in its tooltip): the name is what
        # tells the phones apart.
        header.setSectionResizeMode(LOCATION_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        for column in WIDGET_COLUMNS:  # sized for their widgets by show_devices
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        self.table.setWordWrap(False)
        # At the window's narrow sizes the columns are wider than the card: the last ones (Paired, Revoke) are
        # reached by scrolling, and the table grows by the bar's height then (_fit_height) so no row hides under it.
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.horizontalScrollBar().rangeChanged.connect(lambda _low, _high: self._fit_height())
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.verticalHeader().setDefaultSectionSize(46)
        card.body.addWidget(self.table)
        self.empty = muted("Pair a phone from the Pair page: it appears here as soon as it connects.")
        card.body.addWidget(self.empty)
        self.body.addWidget(card)

        activity = Card("Recent activity", "Connections, disconnections and re-pairings, newest first.")
        self.activity = QListWidget()
        self.activity.setMaximumHeight(150)
        self.activity.hide()
        self.no_activity = muted("Nothing yet. You get a notification when a phone connects or disconnects.")
        activity.body.addWidget(self.activity)
        activity.body.addWidget(self.no_activity)
        self.body.addWidget(activity)
        self.body.addStretch(1)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    def server_ready(self) -> None:
        self.server_up = True
        self.poll()
        self.timer.start()

    def server_gone(self) -> None:
        """Nothing the server said about the phones holds now: a phone shown as connected may be long gone."""
        self.server_up = False
        self.timer.stop()
        self.show_devices(self.devices)

    def poll(self) -> None:
        if self._polling:
            return
        self._polling = True
        since = self._since
        self.tasks.run(lambda: self.api.devices(since), self._polled, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self._polling = False
        self.summary.setText(f"Could not read devices: {exc}")

    def _polled(self, data: dict[str, Any]) -> None:
        self._polling = False
        if not self.server_up:
            return  # an answer from before the server went away
        self.show_devices(list(data.get("devices", [])))
        self.handle_events(list(data.get("events", [])))

    def handle_events(self, events: list[dict[str, Any]]) -> None:
        for event in sorted(events, key=lambda e: str(e.get("timestamp", ""))):
            key = (str(event.get("type")), str(event.get("device_id")), str(event.get("timestamp")))
            if key in self._seen_events:
                continue
            self._seen_events.add(key)
            stamp = str(event.get("timestamp") or "")
            if stamp and (self._since is None or stamp > self._since):
                self._since = stamp
            message = event_message(event)
            if message is None:
                continue
            self.activity.insertItem(0, f"{short_time(stamp)}   {message[1]}")
            self.activity.show()
            self.no_activity.hide()
            # Events from before the app started are history, not news.
            if self._primed:
                self.notify(*message)
        self._primed = True

    def show_devices(self, devices: list[dict[str, Any]]) -> None:
        self.devices = devices
        self.table.setRowCount(len(devices))
        connected = sum(1 for d in devices if d.get("connected"))
        if not self.server_up:
            self.summary.setText(
                f"{len(devices)} paired · connections unknown: the server is not running or not answering"
                if devices
                else "The server is not running or not answering: paired phones are not known."
            )
        else:
            self.summary.setText(
                f"{len(devices)} paired · {connected} connected" if devices else "No phones paired yet."
            )
        self.empty.setVisible(not devices)
        self.table.setVisible(bool(devices))
        for row, dev in enumerate(devices):
            full_name = dev.get("device_name") or dev.get("device_id")
            name = QTableWidgetItem(shown_name(full_name))
            name.setToolTip(rich_safe(shown_name(dev.get("device_id"), 200)))
            self.table.setItem(row, 0, name)
            kind = "Temporary" if dev.get("connection_type") == "temp" else "Permanent"
            self.table.setItem(row, 1, QTableWidgetItem(kind))
            chip = Chip()
            if not self.server_up:
                chip.set_state("idle", "Unknown")
            elif dev.get("connected"):
                chip.set_state("ok", "Connected")
            else:
                chip.set_state("idle", "Offline")
            self.table.setCellWidget(row, 2, _centered(chip))
            self.table.setItem(row, 3, QTableWidgetItem(str(dev.get("connection_path") or "—")))
            where = QTableWidgetItem(location_text(dev.get("last_location")))
            where.setToolTip(rich_safe(where.text()))
            self.table.setItem(row, LOCATION_COLUMN, where)
            self.table.setItem(row, 5, QTableWidgetItem(short_time(dev.get("last_seen"))))
            self.table.setItem(row, 6, QTableWidgetItem(short_time(dev.get("paired_at"))))
            revoke = button("Revoke", danger=True)
            if not self.server_up:
                # Its dialog would say the phone is disconnected now, and the server could not do it.
                revoke.setEnabled(False)
                revoke.setToolTip(NOT_ANSWERING_REVOKE)
            device_id, label = str(dev.get("device_id")), str(full_name)
            revoke.clicked.connect(lambda _=False, d=device_id, n=label: self.confirm_revoke(d, n))
            self.table.setCellWidget(row, 7, _centered(revoke))
        for column in WIDGET_COLUMNS:
            self._fit_widgets(column)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as its rows (up to a limit), plus the horizontal scroll bar while the columns need one."""
        bar = self.table.horizontalScrollBar()
        extra = bar.sizeHint().height() if bar.maximum() > 0 else 0
        self.table.setFixedHeight(min(420, 40 + 46 * max(1, self.table.rowCount())) + extra)

    def _fit_widgets(self, column: int) -> None:
        """Make a column of cell widgets as wide as its widest one: Qt sizes columns for text, and a chip or a
        button squeezed into a narrower cell is cut ("Connecte")."""
        widths = [self.table.cellWidget(row, column).sizeHint().width() for row in range(self.table.rowCount())]
        header = self.table.horizontalHeader().sectionSizeHint(column)
        self.table.setColumnWidth(column, max([header, *(w + 2 * TABLE_CELL_PADDING for w in widths)]))

    def confirm_revoke(self, device_id: str, name: str) -> None:
        # The name is the phone's: escaped (QMessageBox.question guesses rich text, which would draw its tags and
        # load its images), cut short, and isolated from the sentence around it.
        answer = QMessageBox.question(
            self,
            "Revoke device",
            rich_safe(
                f"Revoke “{in_sentence(name)}”?\n\nIt is disconnected now and must scan a new code to connect again."
            ),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        if not self.server_up:  # it stopped answering while the dialog was open
            self.summary.setText("Not revoked: the server stopped answering. Revoke the phone once it answers again.")
            return
        self.tasks.run(lambda: self.api.revoke(device_id), lambda _r: self.poll(), self._failed)


def _centered(widget: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(6, 0, 6, 0)
    layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return holder
