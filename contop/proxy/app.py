"""The proxy's HTTP face: an OpenAI-compatible subset (models, chat completions, streaming) over one provider CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from contop.proxy.calllog import CallLogs, session_key
from contop.proxy.guard import RequestGuard
from contop.proxy.prompt import RequestError, build_prompt, check_messages, parse_reply
from contop.proxy.runner import CliRunner, ProxyError, RunOutcome
from contop.server.limits import BodySizeLimit

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024  # long agent conversations; images are refused anyway
SESSION_HEADER = "x-contop-session"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client gone before the answer; nobody receives it


def _error(exc: ProxyError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def _bad_request(message: str, code: str = "invalid_request") -> JSONResponse:
    return _error(ProxyError(400, message, "invalid_request_error", code))


def completion_body(
    ident: str, model: str, content: str, tool_calls: list[dict[str, Any]], usage: dict[str, int]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    elif not content:
        message["content"] = ""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": _full_usage(usage),
    }


def _full_usage(usage: dict[str, int]) -> dict[str, int]:
    return {
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
    }


def stream_chunks(
    ident: str,
    model: str,
    content: str,
    tool_calls: list[dict[str, Any]],
    usage: dict[str, int],
    include_usage: bool,
) -> list[dict[str, Any]]:
    """The answer as ``chat.completion.chunk`` objects: role, content pieces, tool calls, finish, usage."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    step = 200
    for i in range(0, len(content), step):
        chunks.append(chunk({"content": content[i : i + step]}))
    for index, call in enumerate(tool_calls):
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]},
                        }
                    ]
                }
            )
        )
    chunks.append(chunk({}, "tool_calls" if tool_calls else "stop"))
    if include_usage:
        chunks.append(
            {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _full_usage(usage),
            }
        )
    return chunks


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone: with the body read, ``http.disconnect`` is all that can still come."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(request: Request, call: asyncio.Task[RunOutcome]) -> RunOutcome | None:
    """``call``'s outcome, or None when the client disconnects first: ``call`` is then cancelled (its CLI killed,
    its slot freed) rather than left to run for nobody until the timeout."""
    gone = asyncio.create_task(_disconnected(request))
    try:
        done, _ = await asyncio.wait((call, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        call.cancel()  # nothing once it is done; when this request is cancelled, its CLI must not outlive it
        await asyncio.wait((call, gone))
    return call.result() if call in done else None


async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield f"data: {json.dumps(c, separators=(',', ':'))}\n\n".encode()
    yield b"data: [DONE]\n\n"


def create_app(runner: CliRunner, state_dir: Path) -> Any:
    spec = runner.spec
    provider = spec.provider
    calls = CallLogs(state_dir / "logs")

    if runner.executable() is None:
        # Still served: the user may install the CLI afterwards, and it is looked up again on each request.
        log.warning("%s; the proxy starts anyway and uses it once it is there", runner.missing_message())

    async def health(_request: Request) -> Response:
        exe = runner.executable()
        return JSONResponse(
            {
                "status": "ok",
                "provider": provider,
                "cli": spec.executable,
                "cli_installed": exe is not None,
                "install": spec.install,
                "login": spec.login,
            }
        )

    async def models(_request: Request) -> Response:
        if runner.executable() is None:
            return _error(runner.missing())
        data = [{"id": m, "object": "model", "created": 0, "owned_by": provider} for m in spec.models]
        return JSONResponse({"object": "list", "data": data})

    async def chat(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _bad_request("the request body is not valid JSON")
        if not isinstance(body, dict):
            return _bad_request("the request body must be a JSON object")
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            return _bad_request("'tools' must be a list")
        try:
            messages = check_messages(body.get("messages"))
            prompt = build_prompt(messages, tools, body.get("tool_choice"))
        except RequestError as exc:
            return _bad_request(str(exc), exc.code)
        model = body.get("model") if isinstance(body.get("model"), str) else ""
        model = model or spec.models[0]
        session = session_key(request.headers.get(SESSION_HEADER) or str(body.get("user") or ""))
        record: dict[str, Any] = {
            "provider": provider,
            "model": model,
            "stream": bool(body.get("stream")),
            "messages": len(messages),
            "tools": len(tools),
            "prompt_chars": len(prompt),
        }
        started = time.monotonic()
        try:
            outcome = await _unless_client_leaves(request, runner.start(prompt, model))
        except ProxyError as exc:
            calls.write(session, {**record, "status": exc.status, "error": exc.code})
            log.warning("%s request failed: %s", provider, exc.code)
            return _error(exc)
        if outcome is None:
            waited = time.monotonic() - started
            calls.write(session, {**record, "abandoned": "client_disconnected", "duration_ms": round(waited * 1000)})
            log.info("%s request abandoned by its client after %.1f s: its CLI call was stopped", provider, waited)
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        parsed = parse_reply(outcome.reply.text, tools if body.get("tool_choice") != "none" else None)
        calls.write(
            session,
            {
                **record,
                "status": 200,
                "exit_code": outcome.exit_code,
                "duration_ms": round(outcome.duration_s * 1000),
                "usage": outcome.reply.usage,
                "reply_chars": len(outcome.reply.text),
                "tool_calls": [c["function"]["name"] for c in parsed.tool_calls],
            },
        )
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = stream_chunks(ident, model, parsed.content, parsed.tool_calls, outcome.reply.usage, include_usage)
            return StreamingResponse(
                _sse(chunks), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )
        return JSONResponse(completion_body(ident, model, parsed.content, parsed.tool_calls, outcome.reply.usage))

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/chat/completions", chat, methods=["POST"]),
        ]
    )
    return RequestGuard(BodySizeLimit(app, MAX_BODY_BYTES))


class ProxyServer(uvicorn.Server):
    """uvicorn, where a stop (SIGTERM, SIGINT) first ends the CLI calls in flight, each CLI killed and its client
    answered 503, instead of waiting for them up to the CLI timeout."""

    def __init__(self, config: uvicorn.Config, runner: CliRunner) -> None:
        super().__init__(config)
        self.runner = runner

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.runner.aclose()
        await super().shutdown(sockets)
