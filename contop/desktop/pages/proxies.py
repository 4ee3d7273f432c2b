"""Proxies page: start and stop the subscription proxies, watch their status; disabled when not in this build."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QGridLayout, QLabel

from contop.desktop.api import ApiClient
from contop.desktop.forms import dotted_get, merged_settings
from contop.desktop.proxies import (
    CLI_NAMES,
    DEFAULT_PORTS,
    PROVIDER_LABELS,
    ProxyManager,
    ProxyStatus,
    local_port,
    proxy_url,
)
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import Card, Chip, NumberField, Page, button, muted, note

STATUS_CHIP = {
    ProxyStatus.RUNNING: ("ok", "Running"),
    ProxyStatus.STARTING: ("info", "Starting"),
    ProxyStatus.DEGRADED: ("warn", "Degraded"),
    ProxyStatus.STOPPED: ("idle", "Stopped"),
}


def detail_text(status: ProxyStatus, problem: str, last_error: str, restarts: int) -> str:
    """The line next to a proxy's status: what is wrong (if anything), then how often it was restarted."""
    parts = []
    if status is not ProxyStatus.STOPPED and problem:
        parts.append(problem)  # running, but cannot work
    elif status is not ProxyStatus.RUNNING and last_error:
        parts.append(last_error)  # why it stopped (the port is in use, …)
    if restarts:
        parts.append(f"restarted {restarts} time{'s' if restarts != 1 else ''}")
    return " ".join(f"{p[:1].upper()}{p[1:]}." for p in parts)


class ProxiesPage(Page):
    def __init__(self, manager: ProxyManager, tasks: TaskRunner, api: ApiClient) -> None:
        super().__init__(
            "Subscription proxies",
            "Use a Claude, Gemini or ChatGPT subscription instead of an API key: each proxy wraps the provider's "
            "official CLI on this computer and serves it to Contop on a local port.",
        )
        self.manager = manager
        self.tasks = tasks
        self.api = api
        # The port the server's settings name for each proxy (provider_auth.<provider>.proxy_url).
        self.saved_ports = dict(DEFAULT_PORTS)
        self.unavailable = note(
            "The subscription proxy is not installed in this build of Contop (no `contop proxy` command), so these "
            "controls are disabled. They work as soon as a build with the proxy is installed."
        )
        self.unavailable.setVisible(not manager.available)
        self.body.addWidget(self.unavailable)

        card = Card("Providers", "A stopped proxy stays stopped; a crashed one is restarted automatically.")
        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(14)
        for col, title in enumerate(("Provider", "Port", "Status", "", "")):
            header = muted(title, wrap=False)
            grid.addWidget(header, 0, col)
        self.ports: dict[str, NumberField] = {}
        self.chips: dict[str, Chip] = {}
        self.details: dict[str, QLabel] = {}
        self.start_buttons = {}
        self.stop_buttons = {}
        for row, provider in enumerate(DEFAULT_PORTS, start=1):
            name = QLabel(
                f"<b>{PROVIDER_LABELS[provider]}</b><br><span style='color:#6b7385'>{CLI_NAMES[provider]}</span>"
            )
            grid.addWidget(name, row, 0)
            port = NumberField(1024, 65535, DEFAULT_PORTS[provider])
            port.setFixedWidth(96)
            self.ports[provider] = port
            grid.addWidget(port, row, 1)
            chip = Chip("Stopped")
            self.chips[provider] = chip
            grid.addWidget(chip, row, 2, Qt.AlignmentFlag.AlignLeft)
            start = button("Start", primary=True)
            stop = button("Stop")
            start.clicked.connect(lambda _=False, p=provider: self.start(p))
            stop.clicked.connect(lambda _=False, p=provider: self.stop(p))
            self.start_buttons[provider] = start
            self.stop_buttons[provider] = stop
            grid.addWidget(start, row, 3)
            grid.addWidget(stop, row, 4)
            detail = muted("", wrap=True)
            self.details[provider] = detail
            grid.addWidget(detail, row, 5)
        grid.setColumnStretch(5, 1)
        card.body.addLayout(grid)
        self.body.addWidget(card)
        self.message = muted("")
        self.body.addWidget(self.message)
        self.logs_hint = muted(f"Logs: {manager.home}/proxy-<provider>.log (also on the Logs page).")
        self.body.addWidget(self.logs_hint)
        self.body.addStretch(1)

        self.timer = QTimer(self)
        self.timer.setInterval(700)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def start(self, provider: str) -> None:
        sup = self.manager.supervisors.get(provider)
        if sup is None:
            return
        sup.port = self.ports[provider].value()
        sup.start()
        self.refresh()
        if sup.port != self.saved_ports[provider]:
            self._save_port(provider, sup.port)

    def _save_port(self, provider: str, port: int) -> None:
        """Make the server use the proxy on ``port``, now and after the next start of the app."""
        label, old = PROVIDER_LABELS[provider], self.saved_ports[provider]
        url = proxy_url(port)
        self.message.setText(f"Saving port {port} for the {label} proxy in the settings…")

        def save() -> None:
            # Over the server's current settings, as the Settings page saves: only this field changes.
            current = self.api.get_settings()
            self.api.put_settings(merged_settings(current, {f"provider_auth.{provider}.proxy_url": url}))

        def saved(_r: object) -> None:
            self.saved_ports[provider] = port
            self.message.setText(f"Port {port} saved for {label}: the server reaches this proxy at {url}/v1.")

        def failed(exc: BaseException) -> None:
            self.message.setText(
                f"Port {port} for {label} is not saved in the settings ({exc}): the server still expects this "
                f"proxy on port {old}. Stop it and press Start to try again."
            )

        self.tasks.run(save, saved, failed)

    def use_settings(self, data: Mapping[str, Any]) -> None:
        """Take the ports saved in the settings, for the proxies that are not running."""
        for provider, sup in self.manager.supervisors.items():
            url = dotted_get(data, f"provider_auth.{provider}.proxy_url")
            # A proxy elsewhere is left alone: this page's port replaces it only when the user changes the port.
            port = local_port(url) if isinstance(url, str) else None
            self.saved_ports[provider] = port or DEFAULT_PORTS[provider]
            if sup.status is ProxyStatus.STOPPED:
                self.ports[provider].setValue(self.saved_ports[provider])

    def stop(self, provider: str) -> None:
        sup = self.manager.supervisors.get(provider)
        if sup is None:
            return
        self.stop_buttons[provider].setEnabled(False)
        # Stopping waits for the process tree to go (up to the grace period): not on the GUI thread.
        self.tasks.run(sup.stop, lambda _r: self.refresh(), lambda _e: self.refresh())

    def auto_start(self, enabled: bool) -> None:
        if enabled and self.manager.available:
            for provider in self.manager.supervisors:
                self.start(provider)

    def refresh(self) -> None:
        for provider in DEFAULT_PORTS:
            sup = self.manager.supervisors.get(provider)
            if sup is None:
                self.chips[provider].set_state("idle", "Not installed")
                for widget in (self.ports[provider], self.start_buttons[provider], self.stop_buttons[provider]):
                    widget.setEnabled(False)
                continue
            kind, text = STATUS_CHIP[sup.status]
            self.chips[provider].set_state(kind, text)
            active = sup.status is not ProxyStatus.STOPPED
            self.start_buttons[provider].setEnabled(not active)
            self.stop_buttons[provider].setEnabled(active)
            self.ports[provider].setEnabled(not active)
            self.details[provider].setText(detail_text(sup.status, sup.problem, sup.last_error, sup.restarts))
