"""Dispatch of inbound phone messages to the handlers other parts register (agent, tools, manual control…).

A type nobody registered is answered with ``error`` ``not_available``; a handler that raises is answered with
``error`` ``internal``. The routing decision itself is a pure lookup; the session runs the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from contop.core.messages import PHONE_MESSAGES, Envelope, Error

if TYPE_CHECKING:
    from contop.transport.session import Session

log = logging.getLogger(__name__)

Handler = Callable[["Session", Envelope], Awaitable[None]]


class Router:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, message_type: str, handler: Handler, *, replace: bool = False) -> None:
        """Route ``message_type`` (a phone → server type) to ``handler(session, message)``."""
        if message_type not in PHONE_MESSAGES:
            raise ValueError(f"{message_type!r} is not a message the phone sends")
        if message_type in self._handlers and not replace:
            raise ValueError(f"a handler for {message_type!r} is already registered")
        self._handlers[message_type] = handler

    def unregister(self, message_type: str) -> None:
        self._handlers.pop(message_type, None)

    def handler_for(self, message_type: str) -> Handler | None:
        return self._handlers.get(message_type)

    def registered(self) -> list[str]:
        return sorted(self._handlers)

    async def dispatch(self, session: Session, message: Envelope) -> None:
        handler = self._handlers.get(message.type)
        if handler is None:
            session.send(Error.reply("not_available", f"{message.type} is not available in this build", message.id))
            return
        try:
            await handler(session, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("handler for %s failed", message.type)
            session.send(Error.reply("internal", f"{message.type} failed: {type(exc).__name__}", message.id))
