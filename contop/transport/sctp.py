"""SCTP with delayed, bundled acknowledgements (RFC 4960 §6.2) for our aiortc peers.

aiortc acknowledges every packet carrying DATA with a SACK packet of its own, at once. For the request and reply
traffic of the data channels that is four packets per round trip instead of two, each one DTLS-encrypted,
sent, received, decrypted and parsed in Python at both ends: on this project's loopback measurements about
half of a round trip's CPU. The RFC's rule is cheaper and just as safe: acknowledge at least every second
packet, within a short delay otherwise, at once when something arrived out of order or twice, and put the SACK
in front of the next outgoing DATA when there is one (SCTP bundling: control chunks first).

The retransmission timer is kept the same way in spirit: aiortc starts and cancels an event-loop timer around
nearly every message; here one loop timer runs while it is armed and restarts only move its deadline.

Messages are also sent at once (``run_eagerly``) rather than from a task aiortc starts for each one, and the
delayed-SACK timer is due 20 ms after the oldest unacknowledged packet, not after whichever packet set it.

Nothing about reliability changes: retransmission, congestion control and the receive window are aiortc's; the
peer learns of received data at most ``SACK_DELAY_S`` later, far below any retransmission timeout (1 s at least).
``create_peer_connection`` (``contop/transport/peer.py``) makes aiortc use it, for the server and
``contop.client`` alike. Browsers on the other side do the same thing already (usrsctp and dcsctp delay their SACKs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from struct import pack
from typing import cast

import aiortc.rtcpeerconnection
from aiortc.rtcsctptransport import (
    SCTP_DATA_LAST_FRAG,
    SCTP_DATA_UNORDERED,
    SCTP_MAX_PACKET_LENGTH,
    WEBRTC_BINARY,
    WEBRTC_BINARY_EMPTY,
    WEBRTC_DCEP,
    WEBRTC_STRING,
    WEBRTC_STRING_EMPTY,
    Chunk,
    DataChunk,
    ForwardTsnChunk,
    InboundStream,
    RTCSctpTransport,
    SackChunk,
    uint32_gt,
)
from google_crc32c import value as crc32c

from contop.transport.eager import run_eagerly

log = logging.getLogger(__name__)

MAX_OVERRUN_BYTES = 16 << 20  # held past the receive window (1 MiB) before the association is ended
SACK_DELAY_S = 0.02  # RFC 4960 allows up to 200 ms; browsers use about that much at most
SACK_EVERY = 2  # packets: acknowledge at least every second one
_BUNDLE_WITH = (DataChunk, ForwardTsnChunk)


class _InboundStream(InboundStream):
    """aiortc's reassembly, without rescanning everything held for each fragment that cannot complete anything.

    aiortc looks for complete messages from the start of what it holds after every DATA chunk: the fragments of
    one big message are scanned again for each new one (a message of 30 MiB, some 25,000 fragments: about 50 s
    of CPU). A fragment added at the end that is not a message's last cannot complete one, so the scan is skipped
    then; anything else (a last fragment, one filling a gap, an unordered one) scans as aiortc does, and so does
    any other call (a FORWARD TSN moving the stream's sequence number on)."""

    def __init__(self) -> None:
        super().__init__()
        self._may_complete = True

    def add_chunk(self, chunk: DataChunk) -> None:
        at_end = not self.reassembly or uint32_gt(chunk.tsn, self.reassembly[-1].tsn)
        self._may_complete = not at_end or bool(chunk.flags & (SCTP_DATA_LAST_FRAG | SCTP_DATA_UNORDERED))
        super().add_chunk(chunk)

    def pop_messages(self) -> Iterator[tuple[int, int, bytes]]:
        skip, self._may_complete = not self._may_complete, True  # only the scan right after that chunk
        if skip:
            return iter(())
        return super().pop_messages()


class DelayedAckSctpTransport(RTCSctpTransport):
    """aiortc's SCTP association, acknowledging as RFC 4960 §6.2 describes instead of once per packet."""

    def __init__(self, transport: aiortc.RTCDtlsTransport, port: int = 5000) -> None:
        super().__init__(transport, port)
        self._sack_timer: asyncio.TimerHandle | None = None
        self._packets_unacked = 0
        self._sack_due = 0.0  # loop time by which the oldest unacknowledged packet must be acknowledged
        self._t3_timer: asyncio.TimerHandle | None = None
        self._t3_deadline = 0.0
        self._flushing = False

    async def _send_sack(self) -> None:
        """Called by aiortc after each packet that needs acknowledging: decide whether it has to go now."""
        self._packets_unacked += 1
        urgent = (
            self._packets_unacked >= SACK_EVERY
            or self._sack_duplicates
            or self._sack_misordered
            or self._association_state != self.State.ESTABLISHED
        )
        if not urgent:
            loop = asyncio.get_running_loop()
            if self._packets_unacked == 1:
                self._sack_due = loop.time() + SACK_DELAY_S
            if self._sack_timer is None:
                self._sack_timer = loop.call_at(self._sack_due, self._sack_timer_expired)
            return
        await super()._send_chunk(self._take_sack())

    def _get_inbound_stream(self, stream_id: int) -> InboundStream:
        if stream_id not in self._inbound_streams:
            self._inbound_streams[stream_id] = _InboundStream()
        return self._inbound_streams[stream_id]

    async def _receive_data_chunk(self, chunk: DataChunk) -> None:
        """aiortc's, ending the association once the peer has sent far past the receive window it was given: no
        conforming peer gets there (a message over the announced max-message-size is refused, with an error, only
        once it arrived whole), and aiortc would keep whatever it sends in memory."""
        await super()._receive_data_chunk(chunk)
        if self._advertised_rwnd < -MAX_OVERRUN_BYTES and self._association_state != self.State.CLOSED:
            log.warning(
                "the peer sent over %d MiB past the receive window (a message far over the announced maximum "
                "size): the connection is closed",
                MAX_OVERRUN_BYTES >> 20,
            )
            await self.stop()

    def _mark_received(self, tsn: int) -> bool:
        """aiortc's bookkeeping of a received TSN, with the usual case first: the next TSN in order, nothing
        missing or repeated before it. aiortc then adds it to a set, sorts the set and filters both lists again,
        to the same end state as this."""
        last = self._last_received_tsn
        if last is not None and tsn == (last + 1) % 2**32 and not self._sack_misordered and not self._sack_duplicates:
            self._last_received_tsn = tsn
            return False
        return super()._mark_received(tsn)

    def _take_sack(self) -> SackChunk:
        """The SACK for everything received so far; the acknowledgement state is reset as it is handed out."""
        last = cast(int, self._last_received_tsn)  # set by the DATA being acknowledged
        gaps: list[list[int]] = []
        gap_next = None
        for tsn in sorted(self._sack_misordered):
            pos = (tsn - last) % 2**32
            if tsn == gap_next:
                gaps[-1][1] = pos
            else:
                gaps.append([pos, pos])
            gap_next = (tsn + 1) % 2**32
        sack = SackChunk()
        sack.cumulative_tsn = last
        sack.advertised_rwnd = max(0, self._advertised_rwnd)
        sack.duplicates = self._sack_duplicates[:]
        sack.gaps = [(start, end) for start, end in gaps]
        self._sack_duplicates.clear()
        self._sack_needed = False
        self._packets_unacked = 0
        return sack  # a pending timer stays: it finds nothing to do, which is cheaper than cancelling it each time

    def _sack_timer_expired(self) -> None:
        self._sack_timer = None
        if not self._sack_needed or self._association_state != self.State.ESTABLISHED:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._sack_due:  # what is pending arrived after the timer was set: not due yet
            self._sack_timer = loop.call_at(self._sack_due, self._sack_timer_expired)
            return
        run_eagerly(self._send_pending_sack(), name="sctp-sack")

    async def _send_pending_sack(self) -> None:
        if not self._sack_needed:
            return  # bundled with DATA meanwhile
        try:
            await super()._send_chunk(self._take_sack())
        except ConnectionError:
            pass  # the association is going away; nothing left to acknowledge to

    async def _send_chunk(self, chunk: Chunk) -> None:
        """Send ``chunk``, with the pending SACK in front of it when it is DATA and both fit in one packet."""
        if not (self._sack_needed and isinstance(chunk, _BUNDLE_WITH)):
            await super()._send_chunk(chunk)
            return
        sack = bytes(self._take_sack())
        data = bytes(chunk)
        packets = [sack + data] if 12 + len(sack) + len(data) <= SCTP_MAX_PACKET_LENGTH else [sack, data]
        header = pack("!HHL", self._local_port, self._remote_port or 0, self._remote_verification_tag)
        for chunks in packets:
            checksum = pack("<L", crc32c(header + b"\x00\x00\x00\x00" + chunks))
            await self.transport._send_data(header + checksum + chunks)

    def unacknowledged_messages(self, stream_id: int) -> int:
        """How many of the newest messages sent on ordered stream ``stream_id`` the other side has not
        acknowledged in full: those still waiting to be cut into chunks, and those with a chunk the cumulative
        acknowledgement has not passed. Messages leave in order, so these are the last ones sent."""
        waiting = sum(1 for channel, _pp, _data in self._data_channel_queue if channel.id == stream_id)
        chunks = (*self._outbound_queue, *self._sent_queue)
        unacked = {
            c.stream_seq
            for c in chunks
            if isinstance(c, DataChunk) and c.stream_id == stream_id and c.protocol != WEBRTC_DCEP
        }
        return waiting + len(unacked)

    def _data_channel_send(self, channel: aiortc.RTCDataChannel, data: str | bytes) -> None:
        """Queue a message and send it now: aiortc's own version starts a task to do the sending, which costs a
        turn of the event loop per message (the reply to a request then leaves one turn later)."""
        if isinstance(data, str):
            pp_id, user_data = (WEBRTC_STRING, data.encode()) if data else (WEBRTC_STRING_EMPTY, b"\x00")
        else:
            pp_id, user_data = (WEBRTC_BINARY, data) if data else (WEBRTC_BINARY_EMPTY, b"\x00")
        limit = self._remote_max_message_size
        if limit and len(user_data) > limit:
            raise ValueError(
                f"Cannot send message of {len(user_data)} bytes, the remote party only supports messages up to "
                f"{limit} bytes"
            )
        asyncio.get_running_loop()  # only from the loop's thread, as before: a send from elsewhere fails here
        channel._addBufferedAmount(len(user_data))
        self._data_channel_queue.append((channel, pp_id, user_data))
        if not self._flushing:
            run_eagerly(self._data_channel_flush(), name="sctp-flush")

    async def _data_channel_flush(self) -> None:
        """aiortc's flush, never nested: a message sent while a flush runs (from a ``bufferedamountlow``
        handler, say) is queued and taken by the running flush, instead of recursing into another one."""
        if self._flushing:
            return
        self._flushing = True
        try:
            await super()._data_channel_flush()
            while (
                self._data_channel_queue
                and not self._outbound_queue
                and self._association_state == self.State.ESTABLISHED
            ):
                await super()._data_channel_flush()  # queued after its loop had ended (it waited at the very end)
        finally:
            self._flushing = False

    # The retransmission timer (T3) is started and stopped around nearly every message, and a cancelled loop
    # timer stays in the loop's heap until its time comes (a second or more). Instead one loop timer runs while
    # T3 is armed; starting, restarting and stopping T3 only move its deadline, and the timer re-arms itself
    # when it fires early. ``_t3_handle`` keeps aiortc's meaning: set while T3 runs.

    def _t3_start(self) -> None:
        self._t3_arm()

    def _t3_restart(self) -> None:
        self._t3_arm()

    def _t3_cancel(self) -> None:
        self._t3_handle = None

    def _t3_arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._t3_deadline = loop.time() + self._rto
        if self._t3_timer is not None and self._t3_timer.when() > self._t3_deadline:
            self._t3_timer.cancel()  # the new deadline is earlier (the RTO shrank)
            self._t3_timer = None
        if self._t3_timer is None:
            self._t3_timer = loop.call_at(self._t3_deadline, self._t3_timer_expired)
        self._t3_handle = self._t3_timer

    def _t3_timer_expired(self) -> None:
        self._t3_timer = None
        if self._t3_handle is None:
            return  # stopped meanwhile
        loop = asyncio.get_running_loop()
        if loop.time() < self._t3_deadline:
            self._t3_timer = self._t3_handle = loop.call_at(self._t3_deadline, self._t3_timer_expired)
            return
        self._t3_expired()

    async def stop(self) -> None:
        for timer in (self._sack_timer, self._t3_timer):
            if timer is not None:
                timer.cancel()
        self._sack_timer = self._t3_timer = self._t3_handle = None
        await super().stop()
