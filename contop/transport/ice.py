"""Which configured STUN/TURN servers answer, so that a dead one does not slow down every connection.

aiortc gathers all its candidates before ``setLocalDescription`` returns, and waits up to 5 s for each STUN/TURN
server that does not answer. Offline, or with one dead server in the settings, every connect and reconnect would
wait that long although host candidates are all a LAN or Tailscale needs. So each server is probed in the
background (a STUN Binding request over UDP, a TCP connect for TCP and TLS transports, DNS included, ~1 s), the
answer is kept for ``MAX_AGE`` seconds, and a connection uses only the servers whose latest probe was answered.
A connection never waits for a probe on the server (``select`` starts one and goes on without the unknown server);
``contop run``, a fresh process with nothing known yet, waits for one bounded probe (``wait``).

Probes run in daemon threads (blocking sockets with timeouts, ``getaddrinfo`` included), so no event loop is ever
blocked and the cache can be refreshed from any thread, e.g. a settings listener.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from contop.core.settings import IceUrl, parse_ice_url

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0  # seconds for one probe, DNS excluded (a resolver that hangs only delays that probe's answer)
MAX_AGE = 45.0  # a probe answer is trusted this long; then the next connection starts a new probe
RETRANSMIT_AFTER = 0.4  # UDP: the request is sent again once, in case the first one was lost

BINDING_REQUEST = 0x0001
MAGIC_COOKIE = 0x2112A442


def binding_request(transaction_id: bytes) -> bytes:
    """A STUN Binding request without attributes (RFC 5389): type, length 0, magic cookie, transaction id."""
    return struct.pack("!HHI", BINDING_REQUEST, 0, MAGIC_COOKIE) + transaction_id


def is_response_to(data: bytes, transaction_id: bytes) -> bool:
    """Any STUN message carrying our transaction id (a success or an error response: the server is there)."""
    return len(data) >= 20 and data[4:8] == struct.pack("!I", MAGIC_COOKIE) and data[8:20] == transaction_id


def probe_url(url: IceUrl, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the server at ``url`` answers within ``timeout`` seconds (blocking: run it in a thread).

    IPv4 only, as aiortc's gatherer resolves with ``gethostbyname``.
    """
    tcp = url.transport == "tcp" or url.scheme in ("stuns", "turns")
    try:
        infos = socket.getaddrinfo(url.host, url.port, socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return False
    for _family, _kind, _proto, _name, address in infos[:2]:
        try:
            if tcp:
                with socket.create_connection((str(address[0]), int(address[1])), timeout=timeout):
                    return True
            elif _udp_binding(address, timeout):
                return True
        except OSError:
            continue
    return False


def _udp_binding(address: Any, timeout: float) -> bool:
    transaction_id = os.urandom(12)
    request = binding_request(transaction_id)
    deadline = time.monotonic() + timeout
    resend_at = time.monotonic() + RETRANSMIT_AFTER
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(request, address)
        while (left := deadline - time.monotonic()) > 0:
            # until the retransmit is due, then until the deadline (not a 10 ms poll once it was sent)
            sock.settimeout(min(left, max(resend_at - time.monotonic(), 0.01)) if resend_at else left)
            try:
                data, _ = sock.recvfrom(2048)
            except TimeoutError:
                if resend_at and time.monotonic() >= resend_at:
                    sock.sendto(request, address)
                    resend_at = 0.0
                continue
            except ConnectionRefusedError:  # ICMP port unreachable: nobody there
                return False
            if is_response_to(data, transaction_id):
                return True
    return False


class IceProbe:
    """The latest probe answer of each STUN/TURN URL, refreshed in the background."""

    def __init__(
        self,
        *,
        timeout: float = PROBE_TIMEOUT,
        max_age: float = MAX_AGE,
        prober: Callable[[IceUrl, float], bool] = probe_url,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.max_age = max_age
        self._prober = prober
        self._clock = clock
        self._lock = threading.Lock()
        self._results: dict[IceUrl, tuple[bool, float]] = {}  # url → (answered, when)
        self._running: dict[IceUrl, threading.Event] = {}

    def answered(self, url: IceUrl) -> bool | None:
        """The latest answer for ``url`` (None: never probed)."""
        with self._lock:
            result = self._results.get(url)
        return None if result is None else result[0]

    def refresh(self, servers: Iterable[Any], *, force: bool = False) -> list[threading.Event]:
        """Probe (in the background) each URL of ``servers`` never probed, or last probed over ``max_age`` ago
        (every one with ``force``, e.g. after the settings changed). Returns an event per probe in flight."""
        now = self._clock()
        events: list[threading.Event] = []
        with self._lock:
            for url in _urls(servers):
                running = self._running.get(url)
                if running is not None:
                    events.append(running)
                    continue
                result = self._results.get(url)
                if not force and result is not None and now - result[1] < self.max_age:
                    continue
                done = self._running[url] = threading.Event()
                events.append(done)
                threading.Thread(target=self._probe, args=(url, done), name="ice-probe", daemon=True).start()
        return events

    def select(self, servers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """``servers`` (valid entries) with only the URLs whose latest probe was answered; never waits.

        Starts a probe for every URL not known or known too long ago.
        """
        servers = list(servers)
        self.refresh(servers)
        kept: list[dict[str, Any]] = []
        for server in servers:
            urls = server["urls"]
            answering = []
            for url in [urls] if isinstance(urls, str) else urls:
                answered = self.answered(parsed := parse_ice_url(url))
                if answered:
                    answering.append(url)
                elif answered is None:
                    log.info("STUN/TURN server %s not probed yet: this connection goes without it", parsed.label)
            if answering:
                kept.append({**server, "urls": answering[0] if isinstance(urls, str) else answering})
        return kept

    async def wait(self, servers: Iterable[Any], timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Probe what is unknown or stale and wait for those answers, at most ``timeout`` s (default: one probe
        plus a margin for DNS), without blocking the event loop."""
        events = self.refresh(servers)
        if not events:
            return
        limit = self.timeout + 0.5 if timeout is None else timeout
        deadline = time.monotonic() + limit

        def wait_all() -> None:
            for event in events:
                event.wait(max(deadline - time.monotonic(), 0))

        await asyncio.to_thread(wait_all)

    def _probe(self, url: IceUrl, done: threading.Event) -> None:
        started = time.monotonic()
        try:
            answered = bool(self._prober(url, self.timeout))
        except Exception:  # a bug in a probe must not leave the server half-known forever
            log.exception("probing STUN/TURN server %s failed", url.label)
            answered = False
        with self._lock:
            before = self._results.get(url)
            self._results[url] = (answered, self._clock())
            self._running.pop(url, None)
        done.set()
        if answered and before is not None and not before[0]:
            log.info("STUN/TURN server %s answers again; connections use it", url.label)
        elif not answered and (before is None or before[0]):
            log.warning(
                "STUN/TURN server %s did not answer within %.1f s; connections go without it (host candidates "
                "only) until it does",
                url.label,
                time.monotonic() - started,
            )


def _urls(servers: Iterable[Any]) -> list[IceUrl]:
    found: list[IceUrl] = []
    for server in servers:
        data = server if isinstance(server, dict) else server.model_dump()
        urls = data.get("urls")
        for url in [urls] if isinstance(urls, str) else urls or []:
            try:
                parsed = parse_ice_url(url)
            except ValueError:
                continue
            if parsed not in found:
                found.append(parsed)
    return found


_shared = IceProbe()


def shared_probe() -> IceProbe:
    """The process's probe cache (the server's session manager and settings listener share it)."""
    return _shared
