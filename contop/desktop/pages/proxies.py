"""Proxies page: start and stop the subscription proxies, watch their status; disabled when not in this build."""

from __future__ import annotations

import threading
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
    ProxySupervisor,
    local_port,
    proxy_url,
)
from contop.desktop.tasks import TaskRunner
from contop.desktop.widgets import Card, Chip, NumberField, Page, button, muted, note

# Unprivileged ports only: a proxy never needs root's ports, and 0 would mean "any free port" to the proxy
# while the settings would name port 0.
PORT_RANGE = (1024, 65535)

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


def saved_port(settings: Mapping[str, Any], provider: str) -> int:
    """The port the server's settings name for this app's ``provider`` proxy: the one in ``proxy_url`` when it
    is on this computer, else the default (the server's own default, or a proxy elsewhere that the page leaves
    alone until the user picks a port)."""
    url = dotted_get(settings, f"provider_auth.{provider}.proxy_url")
    return (local_port(url) if isinstance(url, str) else None) or DEFAULT_PORTS[provider]


def listening(status: ProxyStatus, problem: str) -> bool:
    """Whether a supervised proxy answers /health on its port: running, or degraded only because its CLI is
    missing (it answers, and says so). Degraded without a problem is a crash or a proxy that stopped answering."""
    return status is ProxyStatus.RUNNING or (status is ProxyStatus.DEGRADED and bool(problem))


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
        # The port the server's settings name for each proxy (provider_auth.<provider>.proxy_url), as last read.
        self.saved_ports = dict(DEFAULT_PORTS)
        # The port this page itself put in each field (from the settings, or saved once a proxy answered on it): a
        # field that holds another one was typed in by the user, and a new reading of the settings leaves it.
        self.shown_ports = dict(DEFAULT_PORTS)
        # Ports of proxies started but not answering yet: saved once they answer there, dropped if they stop.
        self.pending: dict[str, int] = {}
        # Proxies whose port is being saved now (between answering there and the server's reply).
        self.saving: set[str] = set()
        # Why a port field's value was refused, shown in place of the status detail until the field changes.
        self.port_errors: dict[str, str] = {}
        # One read-modify-write of the settings at a time: two at once would each PUT the object they read, and
        # the second would put back the port the first one saved.
        self._save_lock = threading.Lock()
        self.unavailable = note(
            "The subscription proxy is not installed in this build of Contop (no `contop proxy` command), so these "
            "controls are disabled. They work as soon as a build with the proxy is installed."
        )
        self.unavailable.setVisible(not manager.available)
        # The page scrolls when the window is too short for it: squeezed, the status lines were cut at both ends.
        content = self.scrolling_content(right_margin=12)
        content.addWidget(self.unavailable)

        card = Card("Providers", "A stopped proxy stays stopped; a crashed one is restarted automatically.")
        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(6)
        for col, title in enumerate(("Provider", "Port", "Status", "", "")):
            header = muted(title, wrap=False)
            grid.addWidget(header, 0, col)
        self.ports: dict[str, NumberField] = {}
        self.chips: dict[str, Chip] = {}
        self.details: dict[str, QLabel] = {}
        self.start_buttons = {}
        self.stop_buttons = {}
        for index, provider in enumerate(DEFAULT_PORTS):
            row = 1 + 3 * index  # its controls; under them its status line, then a gap before the next provider
            grid.setRowMinimumHeight(row + 2, 6)
            name = QLabel(
                f"<b>{PROVIDER_LABELS[provider]}</b><br><span style='color:#6b7385'>{CLI_NAMES[provider]}</span>"
            )
            grid.addWidget(name, row, 0)
            port = NumberField(*PORT_RANGE, DEFAULT_PORTS[provider])
            port.setFixedWidth(96)
            port.textChanged.connect(lambda _text, p=provider: self._port_edited(p))
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
            # Under the controls, as wide as they are: beside them, at the window's narrow sizes, a long line was
            # squeezed into a column a few words wide.
            detail = muted("", wrap=True)
            detail.hide()
            self.details[provider] = detail
            grid.addWidget(detail, row + 1, 1, 1, 5)
        grid.setColumnStretch(5, 1)
        card.body.addLayout(grid)
        content.addWidget(card)
        self.message = muted("")
        # The proxy and the saved port the message speaks of ("Port 8728 saved for Anthropic"), when it speaks of one:
        # once the settings name another port for that proxy (a reset, a hand edit), the message is no longer true.
        self.message_about: tuple[str, int] | None = None
        content.addWidget(self.message)
        self.logs_hint = muted(f"Logs: {manager.home}/proxy-<provider>.log (also on the Logs page).")
        content.addWidget(self.logs_hint)
        content.addStretch(1)

        self.timer = QTimer(self)
        self.timer.setInterval(700)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def start(self, provider: str) -> None:
        sup = self.manager.supervisors.get(provider)
        if sup is None:
            return
        field = self.ports[provider]
        port = field.value()
        if port is None:
            self.port_errors[provider] = f"Port {field.problem()}: the proxy was not started"
            self.refresh()
            return
        self.port_errors.pop(provider, None)
        sup.port = port
        sup.start()
        # Saved only once the proxy answers on this port: a port it cannot use (another program holds it) must
        # not become the one the server sends conversations to.
        self.pending[provider] = port
        self.refresh()

    def _port_edited(self, provider: str) -> None:
        if self.port_errors.pop(provider, None) is not None:
            self.refresh()

    def _settle_pending(self, provider: str, sup: ProxySupervisor) -> None:
        port = self.pending.get(provider)
        if port is None:
            return
        if listening(sup.status, sup.problem):
            del self.pending[provider]
            self._save_port(provider, port)
        elif sup.status is ProxyStatus.STOPPED:
            del self.pending[provider]
            old = self.saved_ports[provider]
            if port != old:
                self._say(
                    f"Port {port} is not saved for {PROVIDER_LABELS[provider]}: the proxy did not start on it. "
                    f"The server still expects this proxy on port {old}.",
                    (provider, old),
                )

    def _save_port(self, provider: str, port: int) -> None:
        """Make the server use the proxy on ``port``, now and after the next start of the app."""
        label, old = PROVIDER_LABELS[provider], self.saved_ports[provider]
        url = proxy_url(port)
        if port != old:
            self._say(f"Saving port {port} for the {label} proxy in the settings…")
        self.saving.add(provider)

        def save() -> bool:
            # Decided on the server's settings as they are now (a reset or a hand edit since this page read them
            # counts), and over them, as the Settings page saves: only this field changes.
            with self._save_lock:
                current = self.api.get_settings()
                if saved_port(current, provider) == port:
                    return False
                self.api.put_settings(merged_settings(current, {f"provider_auth.{provider}.proxy_url": url}))
                return True

        def saved(written: bool) -> None:
            self.saving.discard(provider)
            self.saved_ports[provider] = port
            self.shown_ports[provider] = port
            if written:
                self._say(
                    f"Port {port} saved for {label}: the server reaches this proxy at {url}/v1.", (provider, port)
                )
            elif port != old:
                self._say(f"Port {port} for {label} was already saved in the settings.", (provider, port))

        def failed(exc: BaseException) -> None:
            self.saving.discard(provider)
            self._say(
                f"Port {port} for {label} is not saved in the settings ({exc}): the server may still expect this "
                "proxy on another port. Stop it and press Start to try again."
            )

        self.tasks.run(save, saved, failed)

    def _say(self, text: str, about: tuple[str, int] | None = None) -> None:
        """Show ``text`` under the proxies; ``about`` is the proxy and the saved port it speaks of, if any."""
        self.message.setText(text)
        self.message_about = about

    def use_settings(self, data: Mapping[str, Any]) -> None:
        """Take the ports saved in the settings (read at every load: a reset or a hand edit changes them). A stopped
        proxy's field shows the saved port unless the user typed another one there; a running proxy's field keeps
        the port it runs on, and its status line says when the settings name another one (``refresh``), until it
        stops: then the field shows the saved port."""
        for provider in self.manager.supervisors:
            # A proxy elsewhere is left alone: this page's port replaces it only when the user changes the port.
            self.saved_ports[provider] = saved_port(data, provider)
        about = self.message_about
        if about is not None and about[0] in self.saved_ports and self.saved_ports[about[0]] != about[1]:
            # "Port 8728 saved for Anthropic" after a reset to 3456 would send the user looking for the wrong port.
            self._say("")
        self._follow_settings()

    def _follow_settings(self) -> None:
        for provider, sup in self.manager.supervisors.items():
            field, saved = self.ports[provider], self.saved_ports[provider]
            typed = field.text().strip() != str(self.shown_ports[provider])  # emptied or out of range counts too
            if sup.status is ProxyStatus.STOPPED and provider not in self.pending and not typed:
                self.shown_ports[provider] = saved
                if field.value() != saved:
                    field.setValue(saved)

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
        self._follow_settings()  # a proxy that stopped since the settings changed shows their port now
        for provider in DEFAULT_PORTS:
            sup = self.manager.supervisors.get(provider)
            if sup is None:
                self.chips[provider].set_state("idle", "Not installed")
                for widget in (self.ports[provider], self.start_buttons[provider], self.stop_buttons[provider]):
                    widget.setEnabled(False)
                continue
            self._settle_pending(provider, sup)
            kind, text = STATUS_CHIP[sup.status]
            self.chips[provider].set_state(kind, text)
            active = sup.status is not ProxyStatus.STOPPED
            self.start_buttons[provider].setEnabled(not active)
            self.stop_buttons[provider].setEnabled(active)
            self.ports[provider].setEnabled(not active)
            refused = self.port_errors.get(provider) if not active else None
            detail = f"{refused}." if refused else detail_text(sup.status, sup.problem, sup.last_error, sup.restarts)
            saved = self.saved_ports[provider]
            if active and provider not in self.pending and provider not in self.saving and sup.port != saved:
                # A reset or a hand edit since it started: the server now looks for this proxy elsewhere.
                detail = (
                    f"The settings now name port {saved}: the server does not use this proxy on port {sup.port}. "
                    f"Stop it, then Start runs it on port {saved}. {detail}"
                ).strip()
            self.details[provider].setText(detail)
            self.details[provider].setVisible(bool(detail))
