"""A Python client that connects like the phone: pairing URL → signaling → WebRTC (two data channels + video).

It refuses a server whose DTLS fingerprint differs from the pairing payload's ``d``, answers the server's
heartbeat, and offers ``request()`` (send and await the reply with the same ``ref_id``), an async iterator of
every inbound message, and the received video frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import websockets
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from contop.core.messages import (
    FAST,
    RELIABLE,
    Channel,
    Envelope,
    InvalidMessage,
    Keepalive,
    KeepalivePayload,
    parse_server_message,
)
from contop.core.pairing_payload import parse_pairing_url, valid_host
from contop.core.settings import usable_ice_servers
from contop.transport.ice import shared_probe
from contop.transport.peer import FAST_HIGH_WATER, create_peer_connection, ice_configuration, sdp_fingerprints

log = logging.getLogger(__name__)

INBOX_SIZE = 10_000
SEEN_IDS = 2000  # message ids remembered to drop a message the server sends again after a lost link
FRAME_QUEUE_SIZE = 2


class ClientError(Exception):
    """The client could not connect or the server answered with an error."""


class FingerprintMismatch(ClientError):
    """The server's DTLS certificate is not the one the pairing code names: refuse (possible interception)."""


class SignalingRefused(ClientError):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"signaling closed by the server ({code}): {reason or 'no reason given'}")
        self.code = code
        self.reason = reason


def _refused(exc: websockets.ConnectionClosed) -> SignalingRefused:
    rcvd = exc.rcvd
    return SignalingRefused(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")


_WS_SCHEMES = {"http": "ws", "https": "wss"}  # where a page's own scripts would open its WebSocket


def signaling_urls(pairing_url: str, payload: dict[str, Any]) -> list[str]:
    """Where to signal, in the phone's order: the URL's own origin, then ``h``, ``ts`` and ``s`` (CONTRACTS §4).

    An address that is not one (the payload's are checked when it is parsed; the URL's own origin is not) is left
    out: the others may still answer."""
    urls: list[str] = []
    token = quote(str(payload["t"]), safe="")
    origin = _origin(pairing_url)
    if origin:
        urls.append(f"{origin}/ws/signaling?token={token}")
    for key in ("h", "ts"):
        host = payload.get(key)
        if isinstance(host, str) and valid_host(host):
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"
            urls.append(f"ws://{host}:{payload['p']}/ws/signaling?token={token}")
    explicit = payload.get("s")
    if isinstance(explicit, str) and explicit:
        scheme, sep_, rest = explicit.partition("://")
        explicit = f"{_WS_SCHEMES.get(scheme.lower(), scheme)}{sep_}{rest}"  # http(s) as the phone's fetch would
        sep = "&" if "?" in explicit else "?"
        urls.append(f"{explicit}{sep}token={token}")
    return list(dict.fromkeys(urls))


def _origin(pairing_url: str) -> str | None:
    """``ws(s)://host:port`` of the page the pairing URL opens, or None when it names no usable address."""
    try:
        parts = urlsplit(pairing_url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = _WS_SCHEMES.get(parts.scheme)
    host = parts.hostname
    if scheme is None or not host or not valid_host(host) or parts.username is not None:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _redact(text: str, token: str) -> str:
    """``text`` without the pairing token (a library's message may quote the whole URL it was given)."""
    for form in {token, quote(token, safe="")}:
        if form:
            text = text.replace(form, "***")
    return text


class ContopClient:
    """``async with ContopClient(url) as client: reply = await client.request(msg, expect_type="tool_result")``."""

    def __init__(
        self,
        pairing_url: str,
        *,
        device_id: str | None = None,
        device_name: str = "contop run",
        connection_type: str | None = None,
        location: dict[str, Any] | None = None,
        keep_signaling: bool = False,
        answer_heartbeat: bool = True,
        video: bool = True,
        video_codecs: Sequence[str] = (),
        server_silence: float | None = None,
    ) -> None:
        self.pairing_url = pairing_url
        self.payload = parse_pairing_url(pairing_url)
        self.device_id = device_id or f"contop-client-{uuid.uuid4().hex[:12]}"
        self.device_name = device_name
        self.connection_type = connection_type
        self.location = location
        self.keep_signaling = keep_signaling
        self.answer_heartbeat = answer_heartbeat
        self.video = video
        self.video_codecs = tuple(video_codecs)  # preferred first, e.g. ("H264",) as some phones offer
        # Give the connection up after this many seconds without a message from the server, which sends a keepalive
        # every 2 s: a desktop that vanished is noticed then, not after WebRTC's consent checks fail (about 30 s).
        # None: wait for WebRTC (tests that slow the server's heartbeat down).
        self.server_silence = server_silence
        self.lost: str | None = None  # why this client gave the connection up, when it did
        self._last_heard = 0.0
        self._silence_timer: asyncio.TimerHandle | None = None
        self.pc: RTCPeerConnection | None = None
        self.channels: dict[str, RTCDataChannel] = {}
        self.ws: Any = None
        self.signaling_close: tuple[int | None, str] | None = None  # how the server closed a kept socket
        self.signaling_messages: asyncio.Queue[Any] = asyncio.Queue()  # what arrives on a kept socket
        self._signaling_ended = asyncio.Event()
        self.last_frame: Any = None
        self.frames: asyncio.Queue[Any] = asyncio.Queue(FRAME_QUEUE_SIZE)
        self.frame_count = 0
        self.connect_seconds: float | None = None
        self._inbox: asyncio.Queue[Envelope | None] = asyncio.Queue(INBOX_SIZE)
        self._seen: set[str] = set()  # ids of the latest messages, to drop one sent again
        self._seen_order: deque[str] = deque()
        self._waiters: dict[str, tuple[asyncio.Future[Envelope], frozenset[str] | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._aclosed = False

    async def __aenter__(self) -> ContopClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- connecting --------------------------------------------------------------------------------------------

    async def connect(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109 (one deadline across several steps)
        try:
            async with asyncio.timeout(timeout):
                await self._connect()
        except TimeoutError as exc:
            await self.aclose()
            raise ClientError(f"could not connect within {timeout:.0f} s") from exc
        except BaseException:
            await self.aclose()
            raise

    async def _connect(self) -> None:
        given = self.payload.get("i")
        ice = usable_ice_servers(s for s in given if isinstance(s, dict)) if isinstance(given, list) else []
        if ice:  # a fresh process knows nothing yet: one bounded probe (~1 s) instead of ~5 s per dead server
            await shared_probe().wait(ice)
        self.pc = pc = create_peer_connection(ice_configuration(ice, probe=shared_probe()), None)
        opened: dict[str, asyncio.Event] = {label: asyncio.Event() for label in (RELIABLE, FAST)}
        self.channels[RELIABLE] = pc.createDataChannel(RELIABLE)
        self.channels[FAST] = pc.createDataChannel(FAST, ordered=False, maxRetransmits=0)
        for label, channel in self.channels.items():
            channel.on("open", opened[label].set)
            channel.on("message", lambda data, _label=label: self._on_message(_label, data))
            channel.on("close", self._closed.set)
        if self.video:
            transceiver = pc.addTransceiver("video", direction="recvonly")
            if self.video_codecs:
                from contop.transport.video_codecs import prefer_codecs

                prefer_codecs(transceiver, self.video_codecs)
            pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        await pc.setLocalDescription(await pc.createOffer())
        self.ws = await self._open_signaling()
        started = time.perf_counter()
        offer: dict[str, Any] = {
            "type": "offer",
            "sdp": pc.localDescription.sdp,
            "device_id": self.device_id,
            "device_name": self.device_name,
        }
        if self.location is not None:
            offer["device_location"] = self.location
        if self.connection_type is not None:
            offer["connection_type"] = self.connection_type
        try:
            await self.ws.send(json.dumps(offer))
        except websockets.ConnectionClosed as exc:
            raise _refused(exc) from None
        answer = await self._await_answer()
        self.verify_fingerprint(answer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.gather(*(event.wait() for event in opened.values()))
        self.connect_seconds = time.perf_counter() - started
        self._last_heard = time.monotonic()
        self._check_silence()
        if self.keep_signaling:
            self._spawn(self._watch_signaling())
        else:
            await self.ws.close()

    async def _open_signaling(self) -> Any:
        errors = []
        token = str(self.payload["t"])
        for url in signaling_urls(self.pairing_url, self.payload):
            try:
                # A kept socket is closed as the client closes: a desktop that vanished must not hold the
                # exit up for websockets' default 10 s wait for its closing handshake.
                # A proxy from the environment (HTTP_PROXY…) only for the tunnel's wss://: a plain ws:// address is
                # this computer or the LAN, which a proxy cannot reach, and would see the token in the URL.
                proxy: Literal[True] | None = True if url.startswith("wss:") else None
                return await websockets.connect(url, open_timeout=5, close_timeout=1, max_size=2**20, proxy=proxy)
            # InvalidURI and ValueError: an address that only websockets could tell apart from a good one is one
            # more that does not answer, not the end of the run.
            except (OSError, websockets.WebSocketException, TimeoutError, ValueError) as exc:
                errors.append(_redact(f"{url.split('?')[0]}: {str(exc) or type(exc).__name__}", token))
        raise ClientError("no signaling address answered: " + ("; ".join(errors) or "the pairing URL names none"))

    async def _await_answer(self) -> str:
        while True:
            try:
                raw = await self.ws.recv()
            except websockets.ConnectionClosed as exc:
                raise _refused(exc) from None
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise ClientError("the server's signaling message is not a JSON object")
            kind = data.get("type")
            if kind == "answer":
                if not isinstance(data.get("sdp"), str):
                    raise ClientError("the server's answer has no SDP")
                return str(data["sdp"])
            if kind == "error":
                raise ClientError(f"server refused the offer: {data.get('code')}: {data.get('message')}")

    def verify_fingerprint(self, answer_sdp: str) -> None:
        """Refuse unless every DTLS fingerprint in the answer is the pairing code's ``d``."""
        expected = str(self.payload["d"]).upper()
        found = sdp_fingerprints(answer_sdp)
        if not found or any(f != expected for f in found):
            raise FingerprintMismatch(
                f"the server's DTLS fingerprint {found[0] if found else '(none)'} does not match the pairing code's "
                f"{expected}; refusing to connect (re-pair, or someone may be intercepting the connection)"
            )

    async def _watch_signaling(self) -> None:
        ws = self.ws
        try:
            async for raw in ws:
                with contextlib.suppress(ValueError):
                    self.signaling_messages.put_nowait(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.signaling_close = (ws.close_code, ws.close_reason or "")
        self._signaling_ended.set()

    async def closed_by_server(self, wait: float = 1.0) -> tuple[int | None, str] | None:
        """How the server closed the kept signaling socket (code, reason), waiting up to ``wait`` seconds for it:
        the server closes it with the reason (4001 revoked or expired, 4002 replaced by a newer connection of this
        device) just before the peer, whose end may be noticed first. None when it did not (or was not kept)."""
        if self.keep_signaling and self.ws is not None and not self._signaling_ended.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._signaling_ended.wait()
        return self.signaling_close

    async def send_signaling(self, message: dict[str, Any]) -> None:
        """Send on the signaling socket (only while it is kept open: ``keep_signaling=True``)."""
        await self.ws.send(json.dumps(message))

    # --- messages ----------------------------------------------------------------------------------------------

    def send(self, message: Envelope | dict[str, Any] | str, channel: Channel = RELIABLE) -> bool:
        """Send without waiting. On the fast channel a message is dropped while the buffer is full (False).

        Raises ``ClientError`` when the channel is not open or the message is bigger than the server accepts."""
        text = message if isinstance(message, str) else (
            json.dumps(message, separators=(",", ":")) if isinstance(message, dict) else message.to_json()
        )  # fmt: skip
        dc = self.channels.get(channel)
        if dc is None or dc.readyState != "open":
            raise ClientError(f"channel {channel} is not open")
        if channel == FAST and dc.bufferedAmount > FAST_HIGH_WATER:
            return False
        limit = getattr(dc.transport, "_remote_max_message_size", 0)
        if limit and len(text) > limit // 4 and (size := len(text.encode())) > limit:
            raise ClientError(f"the message is {size} bytes; the server accepts at most {limit} bytes per message")
        dc.send(text)
        return True

    async def request(
        self,
        message: Envelope | dict[str, Any],
        *,
        expect_type: str | tuple[str, ...] | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 (per request, the common client idiom)
    ) -> Envelope:
        """Send ``message`` and return the first reply whose ``payload.ref_id`` is its id (``error`` included)."""
        msg_id = message.id if isinstance(message, Envelope) else str(message["id"])
        types = None
        if expect_type is not None:
            types = frozenset({expect_type} if isinstance(expect_type, str) else expect_type) | {"error"}
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = (future, types)
        try:
            self.send(message)
            async with asyncio.timeout(timeout):  # not wait_for: it wakes us one turn of the loop later
                return await future
        except TimeoutError as exc:
            raise ClientError(f"no reply to {msg_id} within {timeout} s") from exc
        finally:
            self._waiters.pop(msg_id, None)

    async def messages(self) -> AsyncIterator[Envelope]:
        """Every inbound message in order (ends when the connection closes)."""
        while True:
            item = await self._inbox.get()
            if item is None:
                return
            yield item

    def discard_received(self) -> int:
        """Drop every message received and not yet read; how many there were."""
        count = 0
        while not self._inbox.empty():
            if self._inbox.get_nowait() is None:  # the connection closed: keep saying so
                self._inbox.put_nowait(None)
                break
            count += 1
        return count

    async def next_message(self, *types: str, timeout: float = 10.0) -> Envelope:  # noqa: ASYNC109
        """The next inbound message (of one of ``types`` when given), skipping others."""
        async with asyncio.timeout(timeout):
            async for message in self.messages():
                if not types or message.type in types:
                    return message
        raise ClientError(self.lost or "connection closed")

    def _on_message(self, channel: str, data: str | bytes) -> None:
        self._last_heard = time.monotonic()
        try:
            message = parse_server_message(data)
        except InvalidMessage as exc:
            log.warning("unparseable message from the server on %s: %s", channel, exc)
            return
        # After a lost link the server sends again what this client's SCTP stack had not acknowledged; some of
        # it may have arrived after all. A message is handled once.
        if message.id in self._seen:
            return
        self._seen.add(message.id)
        self._seen_order.append(message.id)
        if len(self._seen_order) > SEEN_IDS:
            self._seen.discard(self._seen_order.popleft())
        if isinstance(message, Keepalive) and message.payload.ref_id is None and self.answer_heartbeat:
            with contextlib.suppress(ClientError):
                self.send(Keepalive(payload=KeepalivePayload(ref_id=message.id)))
        ref_id = getattr(message.payload, "ref_id", None)
        if isinstance(ref_id, str) and ref_id in self._waiters:
            future, types = self._waiters[ref_id]
            if not future.done() and (types is None or message.type in types):
                future.set_result(message)
        if self._inbox.full():
            self._inbox.get_nowait()
        self._inbox.put_nowait(message)

    def _on_state(self) -> None:
        if self.pc is not None and self.pc.connectionState in ("failed", "closed"):
            self._closed.set()
            with contextlib.suppress(asyncio.QueueFull):
                self._inbox.put_nowait(None)

    def _check_silence(self) -> None:
        """Give the connection up once the server has been silent for ``server_silence`` seconds. A timer, not a
        task: a Ctrl-C raised while it runs must not leave a task of ours half done (``asyncio.run`` then waits for
        every task to finish being cancelled)."""
        limit = self.server_silence
        if limit is None or self._closed.is_set():
            return
        silent = time.monotonic() - self._last_heard
        if silent <= limit:
            self._silence_timer = asyncio.get_running_loop().call_later(min(1.0, limit / 4), self._check_silence)
            return
        self.lost = f"the desktop stopped answering (nothing heard from it for {silent:.0f} s)"
        log.warning("%s; giving the connection up", self.lost)
        for future, _types in self._waiters.values():
            if not future.done():
                future.set_exception(ClientError(self.lost))
        self._closed.set()
        if self._inbox.full():  # the end must be seen: it takes the place of the oldest message
            self._inbox.get_nowait()
        self._inbox.put_nowait(None)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # --- video -------------------------------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._spawn(self._read_frames(track))

    async def _read_frames(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.last_frame = frame
            self.frame_count += 1
            if self.frames.full():
                self.frames.get_nowait()
            self.frames.put_nowait(frame)

    # --- closing -----------------------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        if self._aclosed:
            return
        self._aclosed = True
        if self._silence_timer is not None:
            self._silence_timer.cancel()
        for future, _types in self._waiters.values():
            if not future.done():
                future.set_exception(ClientError("client closed"))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.pc is not None:
            await self.pc.close()
        self._closed.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(None)
