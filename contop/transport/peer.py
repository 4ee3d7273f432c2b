"""One aiortc peer connection with the persisted DTLS identity, its two data channels and flow-controlled writers.

The phone is the offerer: it creates ``contop`` (reliable) and ``contop-fast`` (unordered, no retransmits) and a
recvonly video transceiver; we answer with a complete SDP (host candidates included) and, when the video module
is present, the screen track.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal

import aiortc.rtcpeerconnection
from aiortc import (
    RTCCertificate,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcicetransport import parse_stun_turn_uri
from aiortc.sdp import candidate_from_sdp

from contop.core.messages import FAST, RELIABLE, Channel
from contop.core.oversize import fit_envelope
from contop.core.settings import usable_ice_servers
from contop.transport.dtls import DirectDtlsTransport
from contop.transport.ice import IceProbe
from contop.transport.sctp import DelayedAckSctpTransport

log = logging.getLogger(__name__)

CHANNEL_LABELS: tuple[Channel, Channel] = (RELIABLE, FAST)
# Flow control: above HIGH the reliable writer holds messages back until aiortc reports the buffer drained to LOW;
# the fast writer drops instead (pointer moves are superseded by the next one), so it never delays ``contop``.
RELIABLE_HIGH_WATER = 1024 * 1024
FAST_HIGH_WATER = 2 * 1024  # ~15 pointer moves: anything older is stale by the time it would leave
LOW_WATER = 16 * 1024
# How much of the reliable channel's latest traffic is kept to send again after a lost link (at least the
# unacknowledged part: SCTP's window in flight plus aiortc's queue, up to RELIABLE_HIGH_WATER).
RECENT_MESSAGES = 1000
RECENT_BYTES = 4 * 1024 * 1024

_FINGERPRINT = re.compile(r"^a=fingerprint:sha-256 ([0-9A-Fa-f:]+)\s*$", re.MULTILINE)

PeerState = Literal["new", "connecting", "connected", "failed", "closed"]

# A browser hides its own addresses behind mDNS names (``<uuid>.local``) that we may not be able to resolve
# (multicast filtered, or nobody answers in time). Its connectivity checks still reach us from its real address, a
# peer-reflexive candidate, but only if ICE has not given up first: aioice fails at once when the candidates end
# with none usable. So such names are resolved in the background (resolving one takes up to a second, which would
# otherwise hold up the answer), and the phone's end-of-candidates is passed on only once its checks have had this
# long after our answer.
MDNS_GRACE_S = 5.0


def _is_mdns(address: str) -> bool:
    return address.lower().rstrip(".").endswith(".local")


def split_mdns_candidates(sdp: str) -> tuple[str, list[dict[str, Any]], bool]:
    """The offer without its mDNS candidates and end-of-candidates; those candidates as a browser trickles them
    (``{candidate, sdpMLineIndex}``); and whether the offer said its candidates were complete."""
    kept: list[str] = []
    later: list[dict[str, Any]] = []
    ended = False
    section = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            section += 1
        elif line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) > 4 and _is_mdns(fields[4]):
                later.append({"candidate": line[2:], "sdpMLineIndex": max(section, 0)})
                continue
        elif line.strip() == "a=end-of-candidates":
            ended = True
            continue
        kept.append(line)
    if not later:
        return sdp, [], False  # nothing to hold back: the offer goes to aiortc as it came
    return "\r\n".join(kept) + "\r\n", later, ended


def sdp_fingerprints(sdp: str) -> list[str]:
    """Every ``a=fingerprint:sha-256`` value of an SDP, upper-cased (``AB:CD:…``)."""
    return [m.upper() for m in _FINGERPRINT.findall(sdp)]


def ice_configuration(servers: Iterable[Any], *, probe: IceProbe | None = None) -> RTCConfiguration:
    """``RTCConfiguration`` from settings entries (``IceServer`` models or ``{urls, username?, credential?}``).

    An entry a browser would refuse is left out (logged once): one bad entry in a hand-edited settings file must
    not make every offer fail. With ``probe``, only the URLs whose latest probe was answered are used (see
    ``contop.transport.ice``): a dead STUN/TURN server would otherwise delay every connection by ~5 s.
    """
    entries = usable_ice_servers(servers)
    if probe is not None:
        entries = probe.select(entries)
    ice: list[RTCIceServer] = []
    for data in entries:
        urls = [url for url in _as_list(data["urls"]) if _aiortc_accepts(url)]
        if urls:
            chosen: str | list[str] = urls if isinstance(data["urls"], list) else urls[0]
            ice.append(RTCIceServer(urls=chosen, username=data.get("username"), credential=data.get("credential")))
    return RTCConfiguration(iceServers=ice)


def _as_list(urls: str | list[str]) -> list[str]:
    return [urls] if isinstance(urls, str) else list(urls)


def _aiortc_accepts(url: str) -> bool:
    """Whether aiortc can parse ``url`` (it cannot an IPv6 literal, which browsers accept); logged when not."""
    try:
        parse_stun_turn_uri(url)
    except ValueError:
        if url not in _aiortc_refused:
            _aiortc_refused.add(url)
            log.warning("STUN/TURN URL %s cannot be used by this side (aiortc cannot parse it); leaving it out", url)
        return False
    return True


_aiortc_refused: set[str] = set()


def _use_in_peer_connections(name: str, transport: type) -> None:
    """Make aiortc build its ``name`` transports (SCTP, DTLS) from our subclass ``transport`` from now on."""
    module = aiortc.rtcpeerconnection
    if getattr(module, name, None) is transport:
        return
    if not hasattr(module, name):  # pragma: no cover - an aiortc upgrade moved it; fail loudly, never silently
        raise RuntimeError(f"this aiortc version does not create its {name} where contop expects")
    setattr(module, name, transport)


def create_peer_connection(configuration: RTCConfiguration, certificate: RTCCertificate | None) -> RTCPeerConnection:
    """An ``RTCPeerConnection`` that presents ``certificate`` in DTLS (the one whose fingerprint the QR carries).

    aiortc generates a fresh certificate in ``__init__`` and offers no option to pass one, so we replace its
    private list before any transport is created; ``check_certificate`` verifies the answer really carries it.
    """
    _use_in_peer_connections("RTCSctpTransport", DelayedAckSctpTransport)
    _use_in_peer_connections("RTCDtlsTransport", DirectDtlsTransport)
    pc = RTCPeerConnection(configuration)
    if certificate is not None:
        attr = "_RTCPeerConnection__certificates"
        if not hasattr(pc, attr):  # pragma: no cover - an aiortc upgrade renamed it; fail loudly, never silently
            raise RuntimeError("this aiortc version does not allow injecting the DTLS certificate")
        setattr(pc, attr, [certificate])
    return pc


def certificate_fingerprint(certificate: RTCCertificate) -> str:
    return next(f.value for f in certificate.getFingerprints() if f.algorithm == "sha-256").upper()


def parse_candidate(data: dict[str, Any]) -> Any:
    """An ``RTCIceCandidate`` from the browser's ``{candidate, sdpMid, sdpMLineIndex}``; raises ValueError."""
    text = data.get("candidate")
    if not isinstance(text, str):
        raise ValueError("candidate.candidate must be a string")
    if not text:
        return None  # an empty candidate string is the browser's end-of-candidates marker
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if len(text.split()) < 8:  # aiortc only asserts this
        raise ValueError("unparseable ICE candidate: too few fields")
    try:
        candidate = candidate_from_sdp(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"unparseable ICE candidate: {exc}") from exc
    mid = data.get("sdpMid")
    index = data.get("sdpMLineIndex")
    candidate.sdpMid = mid if isinstance(mid, str) else None
    candidate.sdpMLineIndex = index if isinstance(index, int) else None
    if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
        candidate.sdpMLineIndex = 0
    return candidate


class ChannelWriter:
    """Sends text on one data channel without letting its buffer grow unbounded (``bufferedAmount``)."""

    def __init__(self, channel: RTCDataChannel, *, high_water: int, drop_when_full: bool) -> None:
        self.channel = channel
        self._high = high_water
        self._drop = drop_when_full
        self._backlog: deque[str] = deque()
        # The reliable channel's latest messages, newest last: if the link dies, those the phone's SCTP stack
        # never acknowledged are taken back from here (take_unsent) and sent again on its next connection.
        self._recent: deque[str] = deque()
        self._recent_bytes = 0
        self.dropped = 0
        channel.bufferedAmountLowThreshold = LOW_WATER
        channel.on("bufferedamountlow", self._drain)

    @property
    def is_open(self) -> bool:
        return self.channel.readyState == "open"

    def write(self, text: str) -> bool:
        """Send or hold back ``text``; False when the channel is not open (the caller keeps the message).

        A message bigger than the phone accepts is cut to fit (``fit_envelope``) rather than refused.
        """
        if not self.is_open:
            return False
        limit = getattr(getattr(self.channel, "transport", None), "_remote_max_message_size", 0)
        if limit:
            text, size = fit_envelope(text, limit)
            if size:
                log.warning("an outgoing message of %d bytes exceeds the phone's limit of %d; cut to fit", size, limit)
        if self._backlog or self.channel.bufferedAmount > self._high:
            if self._drop:
                self.dropped += 1
            else:
                self._backlog.append(text)
            return True
        self._send(text)
        return True

    def _send(self, text: str) -> None:
        self.channel.send(text)
        if self._drop:
            return
        self._recent.append(text)
        self._recent_bytes += len(text)
        while len(self._recent) > RECENT_MESSAGES or (self._recent_bytes > RECENT_BYTES and len(self._recent) > 1):
            self._recent_bytes -= len(self._recent.popleft())

    def take_unsent(self) -> list[str]:
        """What the phone has not received, oldest first (handed to the session's queue when the link is lost):
        messages its SCTP stack never acknowledged, then those held back. Taken once: a second call returns []."""
        unacked: list[str] = []
        if self._recent:
            count = self._unacknowledged()
            if count > len(self._recent):
                log.warning("%d unacknowledged messages, only the last %d kept to send again", count, len(self._recent))
            unacked = list(self._recent)[len(self._recent) - min(count, len(self._recent)) :]
            self._recent.clear()
            self._recent_bytes = 0
        items = [*unacked, *self._backlog]
        self._backlog.clear()
        return items

    def _unacknowledged(self) -> int:
        transport = getattr(self.channel, "transport", None)
        count = getattr(transport, "unacknowledged_messages", None)
        if count is None or self.channel.id is None:
            return 0  # not our SCTP transport: nothing known, nothing sent twice
        return int(count(self.channel.id))

    def _drain(self) -> None:
        while self._backlog and self.is_open and self.channel.bufferedAmount <= self._high:
            self._send(self._backlog.popleft())


class Peer:
    """The server side of one phone connection: negotiation, channels, and state callbacks."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        *,
        on_message: Callable[[Channel, str | bytes], None],
        on_open: Callable[[], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self.pc = pc
        self.writers: dict[str, ChannelWriter] = {}
        self._on_message = on_message
        self._on_open = on_open
        self._on_lost = on_lost
        self._opened = False
        self._closed = False
        self.video_track: MediaStreamTrack | None = None
        self._answered_at: float | None = None  # loop time of our answer: the phone's checks start from it
        self._resolving: set[asyncio.Task[None]] = set()
        self._candidates_ending: asyncio.Task[None] | None = None
        pc.on("datachannel", self._channel_added)
        pc.on("connectionstatechange", self._state_changed)
        pc.on("iceconnectionstatechange", self._state_changed)

    @property
    def is_open(self) -> bool:
        return self._opened and not self._closed and all(w.is_open for w in self.writers.values())

    async def answer(self, offer_sdp: str, video: Awaitable[MediaStreamTrack | None] | None = None) -> str:
        """Apply the phone's offer and return our complete answer (ICE gathered, candidates in the SDP).

        ``video`` resolves to the screen track (or None); it is awaited after the offer is applied, so a display
        probe can run meanwhile. The track ends up in ``video_track``.
        """
        offer_sdp, mdns, ended = split_mdns_candidates(offer_sdp)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except BaseException:
            if isinstance(video, asyncio.Future):
                video.cancel()
            raise
        track = await video if video is not None else None
        if track is not None:
            if any(t.kind == "video" for t in self.pc.getTransceivers()):
                self.pc.addTrack(track)
                self.video_track = track
            else:
                track.stop()
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)  # aiortc returns once ICE gathering is complete
        self._answered_at = asyncio.get_running_loop().time()
        for data in mdns:
            await self.add_candidate(data)
        if ended:
            await self.add_candidate(None)
        return self.pc.localDescription.sdp

    async def add_candidate(self, data: dict[str, Any] | None) -> None:
        """A trickled candidate of the phone; ``None`` is its end-of-candidates. mDNS names are resolved in the
        background, and the end is passed on ``MDNS_GRACE_S`` after our answer at the earliest (see there)."""
        candidate = None if data is None else parse_candidate(data)
        if candidate is None:
            if self._candidates_ending is None:
                self._candidates_ending = asyncio.create_task(self._end_candidates(), name="ice-end-of-candidates")
            return
        if _is_mdns(candidate.ip):
            task = asyncio.create_task(self._add_quietly(candidate), name="ice-mdns-candidate")
            self._resolving.add(task)
            task.add_done_callback(self._resolving.discard)
            return
        await self.pc.addIceCandidate(candidate)

    async def _add_quietly(self, candidate: Any) -> None:
        try:
            await self.pc.addIceCandidate(candidate)
        except Exception as exc:  # closed meanwhile, or a name that does not resolve: the checks may still come
            log.debug("remote candidate %s not added: %s", candidate.ip, exc)

    async def _end_candidates(self) -> None:
        loop = asyncio.get_running_loop()
        start = self._answered_at if self._answered_at is not None else loop.time()
        await asyncio.sleep(max(0.0, start + MDNS_GRACE_S - loop.time()))
        while self._resolving:
            await asyncio.gather(*self._resolving, return_exceptions=True)
        if self._closed or self.pc.iceConnectionState in ("completed", "closed"):
            return  # connected already (nothing more to learn), or gone
        try:
            await self.pc.addIceCandidate(None)
        except Exception as exc:
            log.debug("end-of-candidates not passed on: %s", exc)

    def unacked_age(self) -> float | None:
        """Seconds since the oldest data we sent that the phone's SCTP stack has not acknowledged (0: all acked).

        Any live browser acknowledges our heartbeat at the transport level, whatever its JavaScript does, so this
        tells a vanished phone from a quiet one. None when this aiortc does not expose it (then ICE consent,
        ~30 s, is the only detector).
        """
        queue = getattr(self.pc.sctp, "_sent_queue", None)
        if queue is None:
            return None
        if not queue:
            return 0.0
        sent = getattr(queue[0], "_sent_time", None)
        return max(0.0, time.time() - sent) if isinstance(sent, float) else 0.0

    def heard_age(self) -> float | None:
        """Seconds since the phone's WebRTC stack last sent us anything that decrypted (SCTP or RTCP). None when
        unknown (aiortc's own DTLS transport, or nothing heard yet)."""
        sctp = self.pc.sctp
        heard = getattr(sctp.transport, "last_heard", 0.0) if sctp is not None else 0.0
        return max(0.0, time.monotonic() - heard) if heard else None

    def send(self, channel: Channel, text: str) -> bool:
        writer = self.writers.get(channel)
        return writer.write(text) if writer is not None else False

    def take_unsent(self) -> list[str]:
        """Reliable messages the phone has not received (``ChannelWriter.take_unsent``)."""
        writer = self.writers.get(RELIABLE)
        return writer.take_unsent() if writer is not None else []

    async def aclose(self) -> None:
        self._closed = True
        for task in [*self._resolving, *([self._candidates_ending] if self._candidates_ending else [])]:
            task.cancel()
        track, self.video_track = self.video_track, None
        if track is not None:
            track.stop()  # aiortc stops the sender, not the track (which owns a capture thread)
        await self.pc.close()

    # --- aiortc events -----------------------------------------------------------------------------------------

    def _channel_added(self, channel: RTCDataChannel) -> None:
        label = channel.label
        if label not in CHANNEL_LABELS or label in self.writers:
            log.warning("ignoring unexpected data channel %r", label)
            return
        fast = label == FAST
        self.writers[label] = ChannelWriter(
            channel, high_water=FAST_HIGH_WATER if fast else RELIABLE_HIGH_WATER, drop_when_full=fast
        )
        channel.on("message", lambda data, _label=label: self._on_message(_label, data))
        channel.on("close", lambda _label=label: self._lost(f"data channel {_label} closed"))
        if channel.readyState == "open":
            self._maybe_open()
        else:
            channel.on("open", self._maybe_open)

    def _maybe_open(self) -> None:
        if self._opened or self._closed:
            return
        if all(label in self.writers and self.writers[label].is_open for label in CHANNEL_LABELS):
            self._opened = True
            self._on_open()

    def _state_changed(self) -> None:
        states: Sequence[str] = (self.pc.connectionState, self.pc.iceConnectionState)
        if any(s in ("failed", "closed") for s in states):
            self._lost(f"peer connection {self.pc.connectionState} (ICE {self.pc.iceConnectionState})")

    def _lost(self, reason: str) -> None:
        if not self._closed:
            self._on_lost(reason)
