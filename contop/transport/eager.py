"""Start a coroutine at once, in the caller's stack, instead of in a task on the next turn of the event loop.

Python 3.12's eager tasks do this; on 3.11 ``run_eagerly`` does it by hand. aiortc sends every data-channel
message from a task of its own (``ensure_future``), although the whole path down to ``sendto`` almost never has
to wait: the task costs an extra turn of the loop and its bookkeeping on each message, in each direction. Run
eagerly, a reply leaves in the same turn as the request that caused it arrived.

When the coroutine does have to wait (a TURN relay binding a channel, say), a task carries it on from exactly
where it stopped, so its result and its errors end where a task's would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

_carrying: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones


def run_eagerly(coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None] | None:
    """Run ``coro`` until it finishes or first has to wait; in the second case return the task that finishes it.

    An exception is logged (``ConnectionError`` quietly: the link is going away), never raised to the caller,
    just as it would have stayed inside a task.
    """
    try:
        awaited = coro.send(None)
    except StopIteration:
        return None
    except Exception as exc:
        _report(name, exc)
        return None
    task = asyncio.get_running_loop().create_task(_carry_on(coro, awaited, name), name=name)
    _carrying.add(task)
    task.add_done_callback(_carrying.discard)
    return task


async def _carry_on(coro: Coroutine[Any, Any, None], awaited: Any, name: str) -> None:
    """Go on with a coroutine that stopped on ``awaited``, driving it as ``asyncio.Task`` would."""
    while True:
        try:
            try:
                if awaited is None:  # a bare yield (asyncio.sleep(0)): just let the loop turn
                    await asyncio.sleep(0)
                else:
                    awaited._asyncio_future_blocking = False
                    await asyncio.wait((awaited,))
            except asyncio.CancelledError as cancelled:
                if awaited is not None:
                    awaited.cancel()  # as Task.cancel() does, and the coroutine sees it where it waits
                awaited = coro.throw(cancelled)
            else:
                awaited = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # CancelledError is not one: it ends this task as it would a task of its own
            _report(name, exc)
            return


def _report(name: str, exc: Exception) -> None:
    if isinstance(exc, ConnectionError):
        log.debug("%s: %s", name, exc)
    else:
        log.error("%s failed", name, exc_info=exc)
