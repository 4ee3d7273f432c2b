"""Helpers shared by the routers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request

from contop.core.errors import StateDirError
from contop.core.messages import MAX_JSON_DEPTH, nested_deeper_than
from contop.server.state import ServerState
from contop.server.statedir import disk_full


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.contop
    return state


def not_available(feature: str) -> HTTPException:
    """503 for an endpoint whose feature has not landed: never a fake success."""
    return HTTPException(503, f"{feature} not available yet")


def not_saved(exc: StateDirError) -> HTTPException:
    """A change the disk refused: 507 when it is full, 503 otherwise; the message says what to do."""
    return HTTPException(507 if disk_full(exc.__cause__) else 503, str(exc))


def parse_json(raw: bytes) -> Any:
    """A request body decoded as JSON; 400 when it is not JSON or nests deeper than ``MAX_JSON_DEPTH``."""
    too_deep = HTTPException(400, f"body is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"body is not valid JSON: {exc}") from None
    if nested_deeper_than(data, MAX_JSON_DEPTH):
        raise too_deep
    return data


async def json_body(request: Request) -> Any:
    return parse_json(await request.body())
