"""The app factory: builds the server state, runs the startup sequence, wires the routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from contop import __version__
from contop.core.errors import StateDirError
from contop.core.settings import API_KEY_ENV, Settings
from contop.server import dtls, proxy_status
from contop.server.admin import AdminGate, OutsideApiMount, is_admin_path, local_address
from contop.server.keepawake import HostKeepAwake
from contop.server.limits import BodySizeLimit
from contop.server.logsetup import RedactingFilter
from contop.server.network import OwnOrigins, through_proxy
from contop.server.pairing_service import PairingService
from contop.server.routes import away as away_routes
from contop.server.routes import devices, echo, pairing, pending, public, settings, signaling
from contop.server.routes.common import not_saved
from contop.server.settings_store import SettingsStore
from contop.server.skills_install import install_builtin_skills
from contop.server.state import ServerConfig, ServerState
from contop.server.statedir import StateDir
from contop.server.transport_setup import install_transport
from contop.server.tunnel import Tunnel, TunnelGuard
from contop.server.webapp import PhoneApp
from contop.tools.desktop import aclose_desktops

log = logging.getLogger(__name__)


def web_dir() -> Path:
    return Path(str(resources.files("contop"))) / "web"


def _load_admin_token(state_dir: StateDir) -> str:
    """The admin token, saying so when a file that held no valid one was replaced: whoever wrote it there (a script
    that keeps its own token, the desktop app) is refused from now on, and would not otherwise learn why."""
    path = state_dir.admin_token
    try:
        # Only a regular file is read here: a FIFO would block (the load below refuses it with a reason).
        before: bytes | None = path.read_bytes() if path.is_file() else None
    except OSError:  # missing: created on first start, nothing to say; unreadable: the load below says why
        before = None
    dangling = path.is_symlink() and not path.exists()  # a link to nothing: replaced by a file of our own
    token = state_dir.load_or_create_admin_token()
    if dangling or (before is not None and before.strip() != token.encode("ascii")):
        log.warning(
            "%s held no valid admin token (it must be 64 characters or more): it was replaced with a new one; "
            "programs that kept the old one must read the file again",
            path,
        )
    return token


def build_state(config: ServerConfig, redactor: RedactingFilter | None = None) -> ServerState:
    """The startup sequence of the seed server document, steps that must finish before we accept a request."""
    state_dir = config.state_dir
    state_dir.ensure()
    redactor = redactor or RedactingFilter()
    admin_token = _load_admin_token(state_dir)
    redactor.add_secret(admin_token)

    # 1. settings.json exists (defaults when missing, corrupt file set aside).
    store = SettingsStore(state_dir.settings, state_dir_display=state_dir.display(), env=config.env)
    current = store.load()
    for key in API_KEY_ENV:
        redactor.add_secret(store.effective_api_key(key))

    def hide_new_keys(_old: Settings, new: Settings) -> None:
        for key in API_KEY_ENV:
            redactor.add_secret(str(getattr(new, key, "")))

    store.add_listener(hide_new_keys)

    # 2. permanent pairing tokens restored.
    pairing_service = PairingService(state_dir.tokens)
    pairing_service.on_new_secret(redactor.add_secret)
    restored = pairing_service.load()
    log.info("restored %d permanent pairing token(s)", restored)

    # 3. keep-awake setting restored, and re-applied whenever it changes.
    keep_awake = HostKeepAwake(record_path=state_dir.keep_awake_record)
    if recovered := keep_awake.recover():  # before it is turned on again, which would save "off" as the old value
        log.warning("%s", recovered)
    if current.keep_host_awake:
        log.info("keep_host_awake restored: %s", keep_awake.apply(True))
    store.add_listener(keep_awake.listener)

    # 4. built-in skills installed where missing.
    install_builtin_skills(state_dir.skills_dir)

    identity = dtls.load_or_create(state_dir.dtls_dir)
    state = ServerState(
        config=config,
        settings=store,
        pairing=pairing_service,
        admin_token=admin_token,
        dtls=identity,
        redactor=redactor,
        tunnel=Tunnel(config.port, host=local_address(config.host) or "127.0.0.1"),
        keep_awake=keep_awake,
    )
    state.on_shutdown(pairing_service.persisted)  # registered first, so it runs last: after sessions close
    state.on_shutdown(state.tunnel.stop)
    state.on_shutdown(keep_awake.aclose)  # the desktop may sleep again once the server is gone
    # After manual control and agent runs stop (registered later, they run first), so no action binds a key anew.
    state.on_shutdown(aclose_desktops)
    return state


def create_app(config: ServerConfig, *, redactor: RedactingFilter | None = None) -> FastAPI:
    state = build_state(config, redactor)
    install_transport(state)  # last, so its sessions close first at shutdown

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "contop %s serving on %s:%d (state in %s)", __version__, config.host, config.port, config.state_dir.root
        )
        if state.sandbox is not None:
            backend = await state.sandbox()  # detected at start, so doctor, logs and the agent agree from the outset
            if backend is not None:  # none: the detection has said why
                log.info("sandbox: %s", backend.describe())
        state.started()
        expiry = asyncio.create_task(_expire_codes(state), name="pairing-expiry")
        watch = asyncio.create_task(proxy_status.PhoneStateWatch(state).run(), name="settings-watch")
        # keep-awake is put back on a desktop whose X server restarted (or that was not there at start)
        awake = asyncio.create_task(
            state.keep_awake.watch(lambda: state.settings.get().keep_host_awake), name="keep-awake-watch"
        )
        try:
            yield
        finally:
            expiry.cancel()
            watch.cancel()
            awake.cancel()
            log.info("shutting down: closing sessions and flushing logs")
            await asyncio.shield(state.shutdown())
            for handler in logging.getLogger().handlers:
                handler.flush()

    app = FastAPI(
        title="Contop",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.contop = state
    app.state.own_origins = OwnOrigins(extra=(config.advertise_host, config.host))  # signaling's Origin check
    app.add_middleware(BodySizeLimit)
    app.add_middleware(AdminGate, admin_token=state.admin_token, routes=lambda: app.router.routes)
    app.add_middleware(ProxiedAdminRefusal)
    app.add_middleware(TunnelGuard, tunnel_host=lambda: state.tunnel.host)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "body is not valid JSON"}, status_code=400)
        parts = []
        for err in errors:
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(StateDirError)
    async def not_saved_error(_request: Request, exc: StateDirError) -> JSONResponse:
        # A change the disk refused, from any route (Away Mode PINs, skills…): say so, as the settings routes do.
        refused = not_saved(exc)
        return JSONResponse({"detail": refused.detail}, status_code=refused.status_code)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, _exc: Exception) -> JSONResponse:
        # The traceback still reaches the log (Starlette re-raises after answering); the client gets JSON.
        return JSONResponse({"detail": "internal error; the server log has the details"}, status_code=500)

    for module in (public, pairing, devices, settings, pending, signaling):
        app.include_router(module.router)
    if config.env.get(echo.ENV) == "1":
        app.include_router(echo.router)
    app.include_router(away_routes.router)  # its lifespan runs the Away Mode controller
    app.router.routes.append(OutsideApiMount("/", app=PhoneApp(directory=web_dir(), html=True), name="web"))
    return app


class ProxiedAdminRefusal:
    """ASGI middleware: an ``/api`` request a proxy forwarded (it names another client) gets 403, whatever its
    peer and ``Host``. The admin rule judges the TCP peer (uvicorn's proxy-header rewriting is off, so that nobody
    picks the address they are counted as), and a proxy on this computer is a loopback peer for every client of
    its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and is_admin_path(scope.get("path", "")):
            if through_proxy(Headers(scope=scope)):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                refused = JSONResponse({"detail": "admin API is only served to this computer (loopback)"}, 403)
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


EXPIRY_CHECK_S = 30.0


async def _expire_codes(state: ServerState) -> None:
    """Every ``EXPIRY_CHECK_S``: codes that ran out are dropped and their phones disconnected."""
    while True:
        await asyncio.sleep(EXPIRY_CHECK_S)
        try:
            for device_id in await state.pairing.expire():
                log.info("the pairing code of device %s expired: disconnected", device_id)
        except Exception:
            log.exception("checking pairing codes for expiry failed")
