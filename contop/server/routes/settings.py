"""``/api/settings`` and the API keys: read, replace (validated), reset."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError

from contop.agent.models import parse_model_string
from contop.core.errors import ConfigError, StateDirError
from contop.core.settings import (
    API_KEY_ENV,
    EXECUTION_MODEL_FORMS,
    AwayModeSettings,
    describe_validation_error,
    ice_servers_problem,
    missing_required_keys,
    validate_settings,
)
from contop.core.urlsecrets import hide_url_passwords
from contop.server.admin import require_admin
from contop.server.away import BCRYPT_COST
from contop.server.routes.common import json_body, not_saved, server_state

router = APIRouter(dependencies=[Depends(require_admin)])


@router.get("/api/settings")
async def get_settings(request: Request) -> dict[str, Any]:
    return server_state(request).settings.get().to_json_dict()


_HTTP_URL = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?$", re.IGNORECASE)


def _refused(status: int, detail: str) -> HTTPException:
    """A refusal whose text shows no URL's password (the README promises every message shows them as ``***``)."""
    return HTTPException(status, hide_url_passwords(detail))


def _ice_servers_hidden(servers: Any) -> Any:
    """``ice_servers`` with the passwords in its URLs hidden, to be judged in place of the list given: no valid
    STUN/TURN URL holds an "@", so each entry is refused or not as before, and a message quoting a URL (cut at 200
    characters, perhaps inside the password) quotes it hidden."""
    if not isinstance(servers, list):
        return servers
    hidden: list[Any] = []
    for server in servers:
        if isinstance(server, dict):
            urls = server.get("urls")
            if isinstance(urls, str):
                server = {**server, "urls": hide_url_passwords(urls)}
            elif isinstance(urls, list):
                server = {**server, "urls": [hide_url_passwords(u) if isinstance(u, str) else u for u in urls]}
        hidden.append(server)
    return hidden


# What ``POST /api/away-mode/pin`` makes (``contop.server.away.hash_pin``): bcrypt ``$2b$`` at our cost, with the
# canonical last character of the salt and of the hash. bcrypt refuses another salt ("Invalid salt") and no PIN
# matches another hash, so such a value would be a PIN nobody can type.
_BCRYPT = re.compile(rf"\$2b\${BCRYPT_COST:02d}\$[./A-Za-z0-9]{{21}}[.Oeu][./A-Za-z0-9]{{30}}[.CGKOSWaeimquy26]")
_PIN_KEYS = ("pin_hash", "emergency_pin_hash")


def _away_engaged(request: Request) -> bool:
    away = getattr(server_state(request), "away", None)
    return away is not None and bool(away.engaged)


def _check_away_pins(request: Request, given: object, current: AwayModeSettings) -> None:
    """The Away Mode PIN hashes may only be what ``POST /api/away-mode/pin`` makes (a PIN nobody knows would lock
    the desk for good), and may not be removed while the lock is up, as ``DELETE /api/away-mode/pin`` refuses.

    A hash kept as it is passes: the desktop app saves its settings with the hashes it read, and one written into
    settings.json by hand must not stop every other setting from being saved."""
    if given is None:
        given = {}  # left out: the defaults, no PINs
    if not isinstance(given, dict):
        return  # the model names a wrong shape
    for key in _PIN_KEYS:
        value = given.get(key, "")
        if isinstance(value, str) and value and value != getattr(current, key) and not _BCRYPT.fullmatch(value):
            raise HTTPException(422, f"away_mode.{key}: set the PINs with POST /api/away-mode/pin, not by hand")
    removed = [k for k in _PIN_KEYS if getattr(current, k) and not given.get(k)]
    if removed and _away_engaged(request):
        raise HTTPException(409, "Away Mode is engaged: disengage it before removing the PINs")


@router.put("/api/settings")
async def put_settings(request: Request) -> dict[str, Any]:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise HTTPException(422, "settings must be a JSON object")
    missing = missing_required_keys(data)
    if missing:
        raise HTTPException(422, f"missing required keys: {', '.join(missing)}")
    model = data.get("execution_model")
    provider = ""
    if isinstance(model, str) and model.strip():
        try:
            provider, _name = parse_model_string(model)
        except ConfigError:
            # Hidden before it is cut: a cut inside a password would leave no "@" to find it by.
            raise _refused(
                422, f"execution_model {hide_url_passwords(model)[:200]!r} is not valid: use {EXECUTION_MODEL_FORMS}"
            ) from None
    base_url = data.get("local_model_base_url")
    if isinstance(base_url, str) and base_url.strip() and not _HTTP_URL.match(base_url.strip()):
        raise _refused(
            422,
            f"local_model_base_url {hide_url_passwords(base_url)[:200]!r} is not valid: give the server's http(s) "
            "address, for Ollama http://localhost:11434/v1",
        )
    if provider == "openai-compatible" and not (isinstance(base_url, str) and base_url.strip()):
        # The agent could not run it (contop.agent.models needs the URL): save both together.
        raise _refused(
            422,
            f"execution_model {hide_url_passwords(str(model))[:200]!r} needs local_model_base_url, the address of the "
            "OpenAI-compatible server (for Ollama http://localhost:11434/v1): set both in the same save",
        )
    store = server_state(request).settings
    _check_away_pins(request, data.get("away_mode"), store.get().away_mode)
    # An ICE server a browser would refuse makes it refuse the whole configuration: no phone could connect.
    ice_problem = ice_servers_problem(_ice_servers_hidden(data.get("ice_servers")))
    try:
        if ice_problem:
            validate_settings(data)  # every other field's problem is named too, and a wrong shape as the model says
            raise _refused(422, ice_problem)
        return store.replace(data).to_json_dict()
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        if ice_problem and not problems.startswith("ice_servers") and "; ice_servers" not in problems:
            problems = f"{problems}; {ice_problem}"
        raise _refused(422, problems) from None
    except StateDirError as exc:  # the settings in use stay as they were
        raise not_saved(exc) from exc


@router.post("/api/settings/reset")
async def reset_settings(request: Request) -> dict[str, Any]:
    store = server_state(request).settings
    current = store.get().away_mode
    if (current.pin_hash or current.emergency_pin_hash) and _away_engaged(request):
        # The defaults have no PINs: a lock screen put up again (after a crash, say) would have none to open it.
        raise HTTPException(
            409, "Away Mode is engaged: disengage it before resetting the settings (a reset removes the PINs)"
        )
    try:
        return store.reset().to_json_dict()
    except StateDirError as exc:
        raise not_saved(exc) from exc


@router.get("/api/decrypted-keys")
async def decrypted_keys(request: Request) -> dict[str, str]:
    store = server_state(request).settings
    return {key: store.effective_api_key(key) for key in API_KEY_ENV}


@router.get("/api/default-prompts")
async def default_prompts() -> dict[str, str]:
    """The built-in prompts the user's custom prompts are appended to (one agent answers both roles)."""
    from contop.agent.prompts import default_conversation_prompt, default_execution_prompt

    return {"conversation": default_conversation_prompt(), "execution": default_execution_prompt()}
