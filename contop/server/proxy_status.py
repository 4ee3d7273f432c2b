"""The server's side of the subscription proxies: which models the phone is told about (with their vision), the
proxy health check behind ``POST /api/provider-health`` and the ``state_update`` pushed when proxies change."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import httpx

from contop.agent.models import DEFAULT_MODELS, ModelSpec, _proxy_url, resolve_model
from contop.core.errors import ConfigError
from contop.core.messages import StateUpdate, StateUpdatePayload
from contop.core.settings import PROVIDERS, Settings

if TYPE_CHECKING:
    from contop.server.state import ServerState
    from contop.transport.session import Session

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0
HealthStatus = Literal["ok", "unreachable", "error", "api_key"]


def _entry(spec: ModelSpec) -> dict[str, Any]:
    return {"id": f"{spec.provider}:{spec.model}", "label": spec.label, "vision": spec.vision}


def phone_models(settings: Settings, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """The execution model first, then each provider routed through its proxy; ``vision`` False for proxied ones."""
    models: list[dict[str, Any]] = []
    try:
        current = resolve_model(settings, env)
    except ConfigError:
        current = None
    if current is not None:
        models.append(_entry(current))
    for provider in PROVIDERS:
        url = _proxy_url(settings, provider)
        if url is None:
            continue
        entry = _entry(ModelSpec(provider, DEFAULT_MODELS[provider], base_url=url, via_proxy=True))
        if all(m["id"] != entry["id"] for m in models):
            models.append(entry)
    return models


def device_name(state: ServerState, device_id: str) -> str:
    """What a phone calls another device: the name the device registry holds for it (sent when it paired)."""
    device = state.pairing.devices.get(device_id)
    return (device.device_name if device is not None else "") or "another device"


def state_payload(state: ServerState, session: Session) -> StateUpdatePayload:
    settings = state.settings.get()
    busy = session.execution is not None
    data: dict[str, Any] = {
        "ai_state": "executing" if busy else "idle",
        "connection_type": "temp" if session.connection_type == "temp" else "permanent",
        "keep_host_awake": settings.keep_host_awake,
    }
    # Another device's run holds the desk: this phone waits (its Manual button, its requests) without taking the
    # run for its own, which it could neither stop nor get the answer of.
    running = state.agent.running() if state.agent is not None else None
    if running is not None and running[0] != session.device_id:
        data["desk_busy"] = {"device": device_name(state, running[0])}
    # An empty list says "no model configured": the phone then says so on its model chip.
    data["models"] = phone_models(settings, state.config.env)
    return StateUpdatePayload.model_validate(data)


def push_state(state: ServerState, *, but: str | None = None) -> int:
    """Send a fresh ``state_update`` to every connected phone, except those of device ``but``; how many were sent."""
    manager = state.sessions
    if manager is None:
        return 0
    pushed = 0
    for session in manager.sessions():
        if session.device_id == but:
            continue
        try:
            session.send(StateUpdate(payload=state_payload(state, session)))
            pushed += 1
        except Exception:
            log.exception("could not push state_update to a session")
    return pushed


class PhoneStateWatch:
    """Tells the phones when the settings change what their ``state_update`` says (the models, keep-awake).

    Without it a phone kept the model list it got on connecting: after ``execution_model`` changed it offered the
    old model, and the desktop refused it. The settings are looked at every ``every`` seconds (a hand edit of
    settings.json is found then; a change saved through the API is found at once); a change may be noticed in a
    worker thread, so the push itself happens here, on the event loop."""

    def __init__(self, state: ServerState, every: float = 1.0) -> None:
        self._state = state
        self._every = every
        self._changed = threading.Event()
        state.settings.add_listener(self._settings_changed)

    def _view(self, settings: Settings) -> tuple[Any, ...]:
        return phone_models(settings, self._state.config.env), settings.keep_host_awake

    def _settings_changed(self, old: Settings, new: Settings) -> None:
        if self._view(old) != self._view(new):
            self._changed.set()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                self._state.settings.get()  # a stat; the file is read only when it changed
                if self._changed.is_set():
                    self._changed.clear()
                    push_state(self._state)
            except Exception:
                log.exception("telling the phones about a settings change failed")


async def provider_health(settings: Settings, provider: str) -> dict[str, Any]:
    """Ask the provider's proxy for its models: ``{status, models, auth_type}`` plus ``error`` when not ok."""
    auth = settings.provider_auth.get(provider)
    if auth is None or auth.mode != "cli_proxy":
        return {"status": "api_key", "models": [], "auth_type": "api_key"}
    url = _proxy_url(settings, provider)
    assert url is not None
    out: dict[str, Any] = {"status": "ok", "models": [], "auth_type": "cli_proxy", "proxy_url": url}
    try:
        async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S, trust_env=False) as client:
            r = await client.get(url + "/models")
    except httpx.TimeoutException:
        return {**out, "status": "unreachable", "error": f"the proxy at {url} did not answer in {HEALTH_TIMEOUT_S:g} s"}
    except httpx.HTTPError as exc:
        return {
            **out,
            "status": "unreachable",
            "error": f"the proxy at {url} is not running ({type(exc).__name__}): start it from the desktop app "
            f"or with `contop proxy {provider}`",
        }
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return {**out, "status": "error", "error": message or f"the proxy answered HTTP {r.status_code}"}
    data = body.get("data") if isinstance(body, dict) else None
    models = [m["id"] for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    return {**out, "models": models}
