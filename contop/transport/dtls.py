"""DTLS that handles each datagram as it arrives, instead of through a queue and a task.

aiortc puts every received datagram in an ``asyncio.Queue``; a task waiting on it wakes on the next turn of the
event loop and only then decrypts it and hands it to SCTP or RTP. That is one more turn of the loop, and four
coroutines, per datagram. Once the handshake is done, ``DirectDtlsTransport`` takes datagrams straight from the
ICE connection's callback and handles them there (``run_eagerly``), in arrival order: a request is decrypted,
answered and the answer sent in the turn the request arrived. If handling one datagram has to wait, the ones
arriving meanwhile wait behind it, so the order never changes.

aiortc's own receive task stays as it is, waiting for the end of the connection (the ``None`` the ICE
connection queues when it closes); when the remote party shuts DTLS down or handling fails, the same ``None``
ends it, so the transport closes the way aiortc closes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import pylibsrtp
from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsParameters, RTCDtlsTransport, State
from aiortc.rtp import is_rtcp
from OpenSSL import SSL

from contop.transport.eager import run_eagerly

log = logging.getLogger(__name__)

_APPLICATION_DATA = 23  # DTLS record content type
_DIGESTS = {"sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512"}  # SDP's names, OpenSSL's


class DirectDtlsTransport(RTCDtlsTransport):
    """aiortc's DTLS transport, taking datagrams from the ICE connection's callback once the handshake is over."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._direct = False
        self._handling: asyncio.Task[None] | None = None
        self._backlog: deque[bytes] = deque()
        self._ended = False
        # time.monotonic() of the last datagram that decrypted (SCTP or SRTP): the other side's stack is alive,
        # even when a lossy link keeps one of our packets from being acknowledged. 0: none yet.
        self.last_heard = 0.0

    def _validate_peer_identity(self, remoteParameters: RTCDtlsParameters) -> None:
        """As aiortc checks it (a supported fingerprint in the peer's SDP, and every supported one matching), but
        over the certificate's bytes, as RFC 8122 defines the fingerprint. aiortc has ``cryptography`` parse the
        certificate, which refuses X.509 version 2, the version libdatachannel writes (native WebRTC apps,
        node-datachannel): such a peer's connection hung with an exception instead of connecting."""
        assert self._ssl is not None  # the handshake is over
        certificate = self._ssl.get_peer_certificate()
        wanted = [f for f in remoteParameters.fingerprints if f.algorithm.lower() in _DIGESTS]
        if (
            certificate is None
            or not wanted
            or any(certificate.digest(_DIGESTS[f.algorithm.lower()]).decode() != f.value.upper() for f in wanted)
        ):
            log.debug("DTLS handshake failed: the peer's certificate does not have its SDP's fingerprint")
            self._set_state(State.FAILED)

    async def _recv_next(self) -> None:
        done = self._RTCDtlsTransport__handshake_done  # type: ignore[attr-defined]
        if not self._direct and done and self._state == State.CONNECTED:
            self._go_direct()
        await super()._recv_next()

    def _go_direct(self) -> None:
        connection = self.transport._connection
        self._direct = True
        queue: asyncio.Queue[tuple[bytes, int] | None] = connection._queue
        while not queue.empty():  # what arrived before the switch goes first
            item = queue.get_nowait()
            if item is None:
                queue.put_nowait(None)  # already closing: let aiortc's task see it
                return
            self._datagram(item[0], item[1])
        connection.data_received = self._datagram  # type: ignore[method-assign]

    def _datagram(self, data: bytes, component: int) -> None:
        if self._ended or self._state != State.CONNECTED:
            return  # closing or closed: aiortc's task drops late datagrams the same way
        if self._handling is not None:
            self._backlog.append(data)
            return
        self._start(data)

    def _start(self, data: bytes) -> None:
        while True:
            task = run_eagerly(self._handle(data), name="dtls-receive")
            if task is not None:
                self._handling = task
                task.add_done_callback(self._handled)
                return
            if not self._backlog or self._ended:
                return
            data = self._backlog.popleft()

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling = None
        if self._ended or self._state != State.CONNECTED:
            self._backlog.clear()  # closed while one datagram waited: the rest is dropped, as in _datagram
        elif self._backlog:
            self._start(self._backlog.popleft())

    async def _handle(self, data: bytes) -> None:
        """The second half of aiortc's ``_recv_next``: count, decrypt, and hand to SCTP or RTP."""
        try:
            self._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
            self._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
            first = data[0]
            if 19 < first < 64:
                ssl = self._ssl
                assert ssl is not None  # set before the handshake, which is over
                ssl.bio_write(data)
                try:
                    plain: bytes | None = ssl.recv(1500)
                except SSL.ZeroReturnError:
                    plain = None
                except SSL.Error:
                    plain = b""
                if first != _APPLICATION_DATA or not plain:
                    # OpenSSL answers handshake records (a retransmitted flight) and alerts; application data it
                    # never answers, and asking (bio_read) costs an exception each time
                    await self._write_ssl()
                if plain is None:
                    self._end("DTLS shut down by the remote party")
                elif plain and self._data_receiver:
                    self.last_heard = time.monotonic()
                    await self._data_receiver._handle_data(plain)
            elif 127 < first < 192 and self._rx_srtp:
                await self._handle_srtp(data)
        except ConnectionError as exc:
            self._end(str(exc) or "connection error")
        except Exception:
            log.exception("handling a received datagram failed; closing the DTLS transport")
            self._end("datagram handling failed")

    async def _handle_srtp(self, data: bytes) -> None:
        arrival_time_ms = clock.current_ms()
        try:
            if is_rtcp(data):
                plain = self._rx_srtp.unprotect_rtcp(data)
                self.last_heard = time.monotonic()
                await self._handle_rtcp_data(plain)
            else:
                plain = self._rx_srtp.unprotect(data)
                self.last_heard = time.monotonic()
                await self._handle_rtp_data(plain, arrival_time_ms=arrival_time_ms)
        except pylibsrtp.Error as exc:
            log.debug("SRTP unprotect failed: %s", exc)

    def _end(self, why: str) -> None:
        """Let aiortc's receive task end the transport, as when the ICE connection closes."""
        log.debug("DTLS transport ending: %s", why)
        self._ended = True
        self._backlog.clear()
        self.transport._connection._queue.put_nowait(None)
