"""The sessions of the running server, one current session per device; owned by the server state, closed on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiortc import RTCCertificate
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack

from contop.core.messages import AgentStatus, AgentStatusPayload
from contop.transport.ice import shared_probe
from contop.transport.peer import Peer, create_peer_connection, ice_configuration
from contop.transport.router import Router
from contop.transport.session import Closable, Session, SessionHooks, SessionState, Timing

log = logging.getLogger(__name__)

VideoFactory = Callable[[], Awaitable[MediaStreamTrack | None]]
AnswerFilter = Callable[[str], str]


class ShuttingDown(RuntimeError):
    """A connection was offered while the server is closing (the phone should try again shortly)."""


SEND_AS_CREATED = "send the SDP of createOffer() as the browser made it"


def _unanswerable(offer_sdp: str, exc: Exception) -> str:
    """Why aiortc could not apply an offer, in words: its own errors say it; anything else is an attribute it
    needed and did not find."""
    if isinstance(exc, ValueError | InternalError | InvalidAccessError | InvalidStateError | OperationError):
        return str(exc)[:200]
    if "a=setup:" not in offer_sdp:
        return "it has no DTLS role (a=setup:actpass, as a browser's offer has)"
    return f"it lacks something a WebRTC offer needs; {SEND_AS_CREATED}"


class SessionManager:
    def __init__(
        self,
        *,
        router: Router,
        hooks: SessionHooks,
        certificate: RTCCertificate | None,
        ice_servers: Callable[[], Iterable[Any]] = list,
        video: VideoFactory | None = None,
        video_answer_filter: AnswerFilter | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.router = router
        self.timing = timing or Timing()
        self._hooks = hooks
        self._certificate = certificate
        self._ice_servers = ice_servers
        self._video = video
        self._video_answer_filter = video_answer_filter
        self._current: dict[str, Session] = {}  # device → the session that speaks for it (open or lost)
        self._connecting: set[Session] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        self._connected_listeners: list[Callable[[Session], None]] = []
        self._closed = False

    def on_connected(self, listener: Callable[[Session], None]) -> None:
        """``listener(session)`` runs when a connection opens (new or taking over), e.g. to send a ``state_update``."""
        self._connected_listeners.append(listener)

    def get(self, device_id: str) -> Session | None:
        return self._current.get(device_id)

    def sessions(self) -> list[Session]:
        return list(self._current.values())

    async def connect(
        self,
        offer_sdp: str,
        *,
        device_id: str,
        device_name: str,
        connection_type: str,
        path: Any = None,
        signaling: Closable | None = None,
    ) -> tuple[Session, str]:
        """Negotiate a new connection for ``device_id``; returns the session and our answer SDP.

        Raises ``ValueError`` for an offer aiortc cannot use (the caller reports it to the phone).
        """
        if self._closed:
            raise ShuttingDown("the server is shutting down")
        if "\nm=application " not in offer_sdp.replace("\r\n", "\n"):
            raise ValueError("the offer has no data-channel section (m=application); create the channels first")
        session = Session(
            device_id=device_id,
            device_name=device_name,
            connection_type=connection_type,
            router=self.router,
            hooks=self._hooks,
            timing=self.timing,
            path=path,
            signaling=signaling,
            on_open=self._activate,
        )
        # Only the STUN/TURN servers that answer their probe: a dead one would delay every answer by ~5 s.
        config = ice_configuration(self._ice_servers(), probe=shared_probe())
        pc = create_peer_connection(config, self._certificate)
        peer = Peer(pc, on_message=session.handle_inbound, on_open=session.link_open, on_lost=session.link_lost)
        session.attach(peer)
        self._connecting.add(session)
        wants_video = "\nm=video " in offer_sdp.replace("\r\n", "\n")
        try:
            # The display probe runs while aiortc parses the offer; only when the phone asked for video.
            video = asyncio.ensure_future(self._make_video()) if wants_video else None
            answer = await peer.answer(offer_sdp, video)
            if peer.video_track is not None and self._video_answer_filter is not None:
                answer = self._video_answer_filter(answer)
        except BaseException as exc:  # a cancelled negotiation (shutdown, say) is cleaned up too
            self._connecting.discard(session)
            if not isinstance(exc, Exception):
                await session.aclose(code=1001, reason="negotiation cancelled")
                raise
            session.signaling = None  # the caller tells the phone why on it, then closes it
            await session.aclose(code=1008, reason="invalid offer")
            log.debug("the offer of %s cannot be answered", device_id, exc_info=True)
            raise ValueError(f"cannot answer this offer: {_unanswerable(offer_sdp, exc)}") from exc
        track: Any = peer.video_track
        if track is not None and hasattr(track, "answered"):  # the screen track (any other is sent as it is)
            sender = next((t.sender for t in peer.pc.getTransceivers() if t.sender.track is track), None)
            track.answered(answer, sender)  # frames sized for the codec chosen; keyframe requests answered
            # It says when capture fails and when it recovers.
            track.on_status = lambda kind, text: session.send(
                AgentStatus(payload=AgentStatusPayload(status_type=kind, message=text))
            )
        watcher = asyncio.get_running_loop().create_task(self._watch_connect(session), name="connect-timeout")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return session, answer

    async def _make_video(self) -> MediaStreamTrack | None:
        if self._video is None:
            return None
        try:
            return await self._video()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the screen track could not be created; answering without video")
            return None

    def _activate(self, session: Session) -> None:
        """Both channels of ``session`` are open: it becomes the device's session, replacing any older one."""
        self._connecting.discard(session)
        old = self._current.get(session.device_id)
        self._current[session.device_id] = session
        if old is not None and old is not session:
            session.take_over_from(old)
        # What waited for this device goes first: the greeting a listener sends is the state after all of it (a
        # phone settles a request lost in the drop by the greeting, and must not see "idle" before the answer).
        session.flush()
        for listener in self._connected_listeners:
            try:
                listener(session)
            except Exception:
                log.exception("a connected-listener failed")
        # Older negotiations of this device that never opened are abandoned too.
        for other in [s for s in self._connecting if s.device_id == session.device_id]:
            self._connecting.discard(other)
            other.successor = session
            session.spawn(other.aclose(code=4002, reason="replaced by a newer connection of this device"))

    async def _watch_connect(self, session: Session) -> None:
        try:
            await asyncio.sleep(self.timing.connect)
        except asyncio.CancelledError:
            return
        if session not in self._connecting:
            return
        self._connecting.discard(session)  # opened, or lost before it did (its peer is closing): nothing to watch
        if session.state is SessionState.CONNECTING:
            log.info("device %s did not open its data channels in %.0f s", session.device_id, self.timing.connect)
            await session.aclose(code=1008, reason="connection not established")

    async def close_device(self, device_id: str, reason: str, *, code: int = 4001) -> None:
        """Close every connection of ``device_id`` now (its pairing was revoked or expired: ``reason`` says which, to
        the phone); its queued messages are dropped."""
        doomed = [s for s in self._connecting if s.device_id == device_id]
        current = self._current.pop(device_id, None)
        if current is not None:
            doomed.append(current)
        for session in doomed:
            self._connecting.discard(session)
        await asyncio.gather(*(s.aclose(code=code, reason=reason) for s in doomed), return_exceptions=True)
        if doomed:
            log.info("closed %d connection(s) of device %s: %s", len(doomed), device_id, reason)

    async def aclose(self) -> None:
        """Shutdown: sessions first (they cancel their executions), then the watchers."""
        self._closed = True
        sessions = [*self._current.values(), *self._connecting]
        self._current.clear()
        self._connecting.clear()
        closing = await asyncio.gather(
            *(s.aclose(code=1001, reason="server shutting down") for s in sessions), return_exceptions=True
        )  # every session ends before shutdown goes on (to saving the devices' last state), even if one fails
        for session, outcome in zip(sessions, closing, strict=True):
            if isinstance(outcome, Exception):
                log.error("closing the session of %s failed", session.device_id, exc_info=outcome)
        watchers = list(self._watchers)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
