"""Wiring of the WebRTC transport into the server: the session manager, the signaling handler, the screen video
and the ``tool_call`` handler (which goes through the security gate; see ``contop.server.toolcalls``)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from aiortc import RTCCertificate
from starlette.websockets import WebSocketDisconnect

from contop.core.messages import StateUpdate
from contop.server import toolcalls
from contop.server.agent_setup import install_agent
from contop.server.device_control import install_device_control
from contop.server.devices import Device
from contop.server.manual import install_manual_control
from contop.server.network import connection_path
from contop.server.proxy_status import state_payload
from contop.server.state import ServerState
from contop.transport import signaling as negotiation
from contop.transport.handlers import tool_call_handler
from contop.transport.ice import shared_probe
from contop.transport.manager import SessionManager
from contop.transport.router import Router
from contop.transport.session import Session

log = logging.getLogger(__name__)


def install_transport(state: ServerState) -> None:
    """The WebRTC transport: a session manager owned by the state, behind the authenticated signaling route."""
    router = Router()
    video, answer_filter = _screen_video(state)
    manager = SessionManager(
        router=router,
        hooks=state.pairing,
        certificate=RTCCertificate(key=state.dtls.key, cert=state.dtls.cert),
        ice_servers=lambda: state.settings.get().ice_servers,
        video=video,
        video_answer_filter=answer_filter,
    )

    # Probe the STUN/TURN servers now and whenever they change, so the first connection knows which answer.
    def probe_ice(_old: Any, new: Any) -> None:
        shared_probe().refresh(new.ice_servers)

    probe_ice(None, state.settings.get())
    state.settings.add_listener(probe_ice)
    sandbox = state.sandbox = toolcalls.sandbox_provider()
    router.register("tool_call", tool_call_handler(toolcalls.runner(state, sandbox)))
    state.sessions = manager
    agent = install_agent(state, router, sandbox)
    install_manual_control(state, router)
    install_device_control(state, router)

    def greet(session: Session) -> None:
        session.send(StateUpdate(payload=state_payload(state, session)))  # with the models and their vision

    manager.on_connected(greet)
    state.on_shutdown(manager.aclose)  # runs before anything registered earlier (sessions first)

    async def stop_runs() -> None:  # registered last, so it runs first: each answer reaches its phone
        await agent.stop_all("the desktop's Contop server is shutting down")

    state.on_shutdown(stop_runs)
    state.pairing.on_revoke(manager.close_device)

    async def handler(ws: Any, offer: dict[str, Any], _token: Any, device: Device) -> None:
        tunnel_host = _tunnel_host(state)
        path = connection_path(ws.client.host if ws.client else None, ws.headers, tunnel_host)
        await negotiation.negotiate(
            ws,
            offer,
            manager=manager,
            device_id=device.device_id,
            device_name=device.device_name,
            connection_type=device.connection_type,
            path=path,
            set_location=lambda location: state.pairing.devices.set_location(device.device_id, location),
            disconnect_errors=(WebSocketDisconnect,),
        )

    state.signaling_handler = handler


def _tunnel_host(state: ServerState) -> str | None:
    """The public host name of the remote-access tunnel while one runs (requests through it are "Tunnel")."""
    tunnel = getattr(state, "tunnel", None)
    host = getattr(tunnel, "host", None)
    if isinstance(host, str) and host:
        return host
    url = getattr(state, "tunnel_url", None)
    return urlsplit(url).hostname if isinstance(url, str) and url else None


def _screen_video(state: ServerState) -> tuple[Any, Any]:
    """The screen track factory and SDP filter when the video module is in this build, else (None, None)."""
    try:
        from contop.transport import video
    except ImportError as exc:
        log.info("no screen video in this build (%s)", exc)
        return None, None
    video.apply_bitrate_caps()
    video.use_screen_encoder()

    async def make() -> Any:
        return await video.create_screen_track(state.settings.get())

    return make, video.add_bitrate_hints
