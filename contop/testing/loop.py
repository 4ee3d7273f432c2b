"""Whether the event loop stayed free: a sleeper that counts how often it woke while some work ran."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass
class Ticks:
    count: int = 0


@contextlib.asynccontextmanager
async def loop_ticks(interval: float = 0.01) -> AsyncIterator[Ticks]:
    """Count the wake-ups of a task sleeping ``interval`` at a time while the body runs. Blocking work on the loop
    shows as too few: over ``t`` seconds a free loop counts about ``t / interval``."""
    ticks = Ticks()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(interval)
            ticks.count += 1

    task = asyncio.create_task(ticker())
    try:
        yield ticks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
