"""Pair page: the permanent QR code (kept fresh), a temporary remote QR code, and the copyable pairing URL."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import segno
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from contop.desktop.api import ApiClient, ApiError
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import Card, Chip, Page, button, muted, note, plain

POLL_MS = 5000
QR_SIZE = 236
WAITING = "Waiting for a phone to scan the code."
CLAIMED = "A phone used the code; here is a fresh one for the next phone."
SERVER_GONE = "The server is not running or not answering: no phone can pair until it answers again."
TEMP_EMPTY = "Create a temporary code to pair a phone that is not on this network."


def qr_pixmap(url: str, size: int = QR_SIZE) -> QPixmap:
    """The pairing URL as a crisp QR code, drawn locally with segno."""
    buf = io.BytesIO()
    qr = segno.make(url, error="m")
    modules = qr.symbol_size(scale=1, border=2)[0]
    qr.save(buf, kind="png", scale=max(1, size // modules), border=2, dark="#1d2330")
    pix = QPixmap()
    pix.loadFromData(buf.getvalue(), "PNG")
    return pix


def network_key(info: dict[str, Any]) -> tuple[object, ...]:
    """What, when it changes, makes the permanent QR code's addresses stale. Not the tunnel: only temporary codes
    carry its URL, and a permanent code issued for it would become the code the server's pairing status follows,
    so a phone using the temporary code would go unnoticed."""
    return (info.get("lan_ip"), info.get("tailscale_ip"), info.get("port"))


def pairing_url(data: dict[str, Any]) -> str:
    """The URL of a pairing answer; ``ValueError`` when it has none (a server that answers something else)."""
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise ValueError("the server's answer holds no pairing URL")
    return url


def code_used(code: dict[str, Any], devices: list[dict[str, Any]]) -> bool:
    """Whether a device paired with ``code`` (an answer of POST /api/pair): a device takes the expiry of the code it
    claimed, to the microsecond, so a device with the same expiry and type holds this very code."""
    expires = code.get("expires_at")
    return bool(expires) and any(
        d.get("expires_at") == expires and d.get("connection_type") == code.get("connection_type") for d in devices
    )


def short_time(iso: str | None, *, year: bool = False) -> str:
    """A server timestamp in this computer's time zone, short: ``21 Nov 20:49`` (``21 Nov 2026, 20:49``)."""
    if not iso:
        return "—"
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return iso
    return when.strftime("%d %b %Y, %H:%M" if year else "%d %b %H:%M")


class QrPanel(QWidget):
    """One QR code with its URL, expiry and copy button."""

    def __init__(self, empty_text: str, extra: QWidget | None = None) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        self.image = plain(QLabel(empty_text))  # also shows the server's error messages
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setFixedSize(QR_SIZE + 16, QR_SIZE + 16)
        self.image.setStyleSheet("background: white; border: 1px solid #e3e6ee; border-radius: 10px; color:#6b7385;")
        self.image.setWordWrap(True)
        layout.addWidget(self.image, 0, Qt.AlignmentFlag.AlignHCenter)
        self.expiry = muted("")
        self.expiry.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.expiry)
        row = QHBoxLayout()
        self.url = QLineEdit()
        self.url.setObjectName("urlField")
        self.url.setReadOnly(True)
        self.url.setPlaceholderText("no pairing code yet")
        self.copy = button("Copy link")
        self.copy.setEnabled(False)
        self.copy.clicked.connect(self.copy_url)
        row.addWidget(self.url, 1)
        row.addWidget(self.copy)
        if extra is not None:
            row.addWidget(extra)
        layout.addLayout(row)
        self.current: dict[str, Any] | None = None

    def show_pairing(self, data: dict[str, Any], label: str) -> None:
        """Show the code of a pairing answer; ``ValueError`` (and the panel unchanged) when it has no URL."""
        url = pairing_url(data)
        self.current = data
        self.image.setPixmap(qr_pixmap(url))
        self.url.setText(url)
        self.url.setCursorPosition(0)
        self.copy.setEnabled(True)
        self.expiry.setText(f"{label} · valid until {short_time(data.get('expires_at'), year=True)}")

    def mark_used(self) -> None:
        """The code was claimed by a phone: it cannot pair another one."""
        if self.current is not None:
            self.clear("A phone used this code. Create a new one to pair another phone.")

    def clear(self, text: str) -> None:
        """No code on screen, ``text`` in its place."""
        self.current = None
        self.image.clear()
        self.image.setText(text)
        self.url.clear()
        self.copy.setEnabled(False)
        self.expiry.setText("")

    def copy_url(self) -> None:
        QGuiApplication.clipboard().setText(self.url.text())
        self.copy.setText("Copied ✓")
        QTimer.singleShot(1500, lambda: self.copy.setText("Copy link"))


class PairPage(Page):
    def __init__(self, api: ApiClient, tasks: TaskRunner) -> None:
        super().__init__(
            "Pair a phone",
            "Scan the code with your phone's camera. The phone opens Contop in its browser and connects directly "
            "to this computer.",
        )
        self.api = api
        self.tasks = tasks
        self.issued = 0  # permanent codes fetched, for tests and diagnostics
        self._net: tuple[object, ...] | None = None
        self._busy = False
        self._polling = False
        self._checking_temp = False
        self._gone = False  # the server stopped: answers still on their way are stale
        self._after_code = WAITING  # the status line once the next permanent code is shown
        self.poll_failing = False  # the status line says the server does not answer

        # The cards scroll when the window is too short for them: squeezed, the code's expiry line and the link
        # were drawn over the QR code.
        content = self.scrolling_content()

        row = QHBoxLayout()
        row.setSpacing(16)
        perm = Card("This network", "A permanent code for phones on your Wi-Fi or Tailscale network (30 days).")
        self.refresh_btn = button("New code")
        self.refresh_btn.setToolTip(
            "Replace this code with a new one: this one stops working (paired phones stay paired)"
        )
        self.refresh_btn.clicked.connect(lambda _checked=False: self.refresh(new=True))
        self.permanent = QrPanel("Waiting for the server…", self.refresh_btn)
        perm.body.addWidget(self.permanent)
        row.addWidget(perm, 1)

        temp = Card("From anywhere", "A temporary code (4 hours) through a Cloudflare tunnel, for remote access.")
        self.temporary = QrPanel(TEMP_EMPTY)
        temp.body.addWidget(self.temporary)
        self.temp_btn = button("Create temporary code", primary=True)
        self.temp_btn.clicked.connect(lambda _checked=False: self.create_temporary())
        temp.body.addWidget(self.temp_btn)
        self.temp_note = note("")
        self.temp_note.hide()
        temp.body.addWidget(self.temp_note)
        row.addWidget(temp, 1)
        content.addLayout(row)

        net = Card("How phones reach this computer")
        chips = QHBoxLayout()
        chips.setSpacing(8)
        self.lan_chip = Chip("LAN: …")
        self.ts_chip = Chip("Tailscale: …")
        self.tunnel_chip = Chip("Tunnel: off")
        self.clients_chip = Chip("0 connected")
        for chip in (self.lan_chip, self.ts_chip, self.tunnel_chip, self.clients_chip):
            chips.addWidget(chip)
        chips.addStretch(1)
        net.body.addLayout(chips)
        self.status_line = muted("")
        net.body.addWidget(self.status_line)
        content.addWidget(net)
        content.addStretch(1)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    # --- lifecycle

    def server_ready(self) -> None:
        self._gone = False
        self.refresh_btn.setEnabled(True)
        self.temp_btn.setEnabled(True)
        self.refresh()
        self.poll()
        self.timer.start()

    def server_gone(self) -> None:
        """The codes on screen are of no use now (a temporary one died with its tunnel): greyed out, not offered."""
        self._gone = True
        self.timer.stop()
        self._net = None
        self.permanent.clear(SERVER_GONE)
        self.temporary.clear(TEMP_EMPTY)
        self.refresh_btn.setEnabled(False)
        self.temp_btn.setEnabled(False)
        self.temp_btn.setText("Create temporary code")
        self.temp_note.hide()
        self.status_line.setText(SERVER_GONE)
        # What the server said about the network is unknown now, its count of connected phones first of all.
        for chip, text in (
            (self.lan_chip, "LAN: …"),
            (self.ts_chip, "Tailscale: …"),
            (self.tunnel_chip, "Tunnel: …"),
            (self.clients_chip, "Phones: …"),
        ):
            chip.set_state("idle", text)

    def refresh(self, *, new: bool = False) -> None:
        """Fetch the permanent pairing code: the one nobody used yet, or with ``new`` (the New code button) a
        replacement for it, which revokes it: a code someone saw over the user's shoulder must stop working."""
        if self._busy:
            return
        self._busy = True
        self.tasks.run(lambda: self.api.pair("permanent", new=new), self._got_permanent, self._failed)

    def _got_permanent(self, data: dict[str, Any]) -> None:
        self._busy = False
        if self._gone:
            return
        try:
            self.permanent.show_pairing(data, "Permanent code")
        except ValueError as exc:
            self._failed(exc)
            return
        self.issued += 1
        # "A phone used the code; here is a fresh one" stays until the next event, not replaced at once.
        self.status_line.setText(self._after_code)
        self._after_code = WAITING

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        if not self._gone:
            self.status_line.setText(f"Could not get a pairing code: {exc}")

    # --- polling: network changes and claims

    def poll(self) -> None:
        if self._gone:
            return
        self.check_temporary()
        if self._polling:
            return
        self._polling = True

        def work() -> tuple[dict[str, Any], dict[str, Any]]:
            return self.api.connection_info(), self.api.pair_status()

        self.tasks.run(work, self._polled, self._poll_failed)

    def check_temporary(self) -> None:
        """Whether a phone used the temporary code on screen, from the paired devices: the pairing status follows
        the code issued last, which is a permanent one again as soon as that code is renewed."""
        if self.temporary.current is None or self._checking_temp:
            return
        self._checking_temp = True

        def done(data: dict[str, Any]) -> None:
            self._checking_temp = False
            code = self.temporary.current  # the code shown now: one created meanwhile is not in this answer
            if code is not None and not self._gone and code_used(code, list(data.get("devices") or [])):
                self.temporary.mark_used()

        def failed(_exc: BaseException) -> None:
            self._checking_temp = False  # the status poll says when the server does not answer

        self.tasks.run(self.api.devices, done, failed)

    def _poll_failed(self, exc: BaseException) -> None:
        self._polling = False
        if self._gone:
            return
        self.poll_failing = True
        self.status_line.setText(f"Server not answering: {exc}")

    def _polled(self, result: tuple[dict[str, Any], dict[str, Any]]) -> None:
        self._polling = False
        if self._gone:
            return
        if self.poll_failing:
            # The server answers again: the failure message would otherwise stay until the next code.
            self.poll_failing = False
            self.status_line.setText(WAITING if self.permanent.current is not None else "")
        info, status = result
        self.show_network(info)
        key = network_key(info)
        changed = self._net is not None and key != self._net
        self._net = key
        claimed = bool(status.get("claimed"))
        shown = self.temporary.current
        if claimed and status.get("connection_type") == "temp" and shown is not None:
            # The server tracks the code issued last; once the temporary one is used, watch a permanent one again.
            # A permanent code a phone used for a temporary connection reads "temp" too, with its own expiry: the
            # temporary code on screen is still unused then.
            if shown.get("expires_at") == status.get("expires_at"):
                self.temporary.mark_used()
        if changed or claimed or not info.get("has_active_token"):
            if claimed:
                self.status_line.setText(CLAIMED)
                self._after_code = CLAIMED
            self.refresh()

    def show_network(self, info: dict[str, Any]) -> None:
        lan = info.get("lan_ip")
        self.lan_chip.set_state("ok" if lan else "warn", f"LAN {lan}" if lan else "No LAN address")
        ts = info.get("tailscale_ip")
        self.ts_chip.set_state("ok" if ts else "idle", f"Tailscale {ts}" if ts else "Tailscale off")
        self.tunnel_chip.set_state(
            "ok" if info.get("tunnel_active") else "idle", "Tunnel on" if info.get("tunnel_active") else "Tunnel off"
        )
        n = int(info.get("connected_clients") or 0)
        self.clients_chip.set_state("info" if n else "idle", f"{n} connected")

    # --- temporary code

    def create_temporary(self) -> None:
        self.temp_btn.setEnabled(False)
        self.temp_btn.setText("Starting the tunnel…")
        self.temp_note.hide()

        def work() -> dict[str, Any]:
            self.api.tunnel_start()
            return self.api.pair("temp")

        self.tasks.run(work, self._got_temporary, self._temp_failed)

    def _got_temporary(self, data: dict[str, Any]) -> None:
        if self._gone:
            return
        try:
            self.temporary.show_pairing(data, "Temporary code")
        except ValueError as exc:
            self.temp_btn.setEnabled(True)
            self.temp_btn.setText("Create temporary code")
            self.temp_note.setText(f"Could not get a temporary code: {exc}.")
            self.temp_note.show()
            return
        self.temp_btn.setEnabled(True)
        self.temp_btn.setText("New temporary code")
        self.poll()

    def _temp_failed(self, exc: BaseException) -> None:
        if self._gone:
            return
        self.temp_btn.setEnabled(True)
        self.temp_btn.setText("Create temporary code")
        detail = exc.detail if isinstance(exc, ApiError) else str(exc)
        self.temp_note.setText(f"The tunnel could not start. {detail}")
        self.temp_note.show()
