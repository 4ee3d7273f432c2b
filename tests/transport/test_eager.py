"""run_eagerly: a coroutine runs in the caller's stack, and one that has to wait is finished by a task."""

from __future__ import annotations

import asyncio
import logging

import pytest

from contop.transport.eager import run_eagerly


async def test_a_coroutine_that_never_waits_is_done_before_run_eagerly_returns() -> None:
    done: list[str] = []

    async def send() -> None:
        done.append("sent")

    assert run_eagerly(send(), name="t") is None
    assert done == ["sent"]  # no turn of the loop was needed


async def test_a_coroutine_that_waits_is_finished_by_a_task_from_where_it_stopped() -> None:
    steps: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def relay() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield as well
        steps.append("after")

    task = run_eagerly(relay(), name="t")
    assert task is not None and steps == ["before"]
    await asyncio.sleep(0.01)
    assert steps == ["before"] and not task.done()  # still waiting on the gate
    gate.set_result("bound")
    await asyncio.wait_for(task, 1)
    assert steps == ["before", "bound", "after"]


async def test_errors_are_logged_not_raised_to_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    async def broken_now() -> None:
        raise ValueError("bad chunk")

    async def broken_later(gate: asyncio.Future[None]) -> None:
        await gate
        raise ValueError("bad later")

    async def closing() -> None:
        raise ConnectionError("not connected")

    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with caplog.at_level(logging.DEBUG, logger="contop.transport.eager"):
        assert run_eagerly(broken_now(), name="now") is None
        assert run_eagerly(closing(), name="closing") is None
        task = run_eagerly(broken_later(gate), name="later")
        assert task is not None
        gate.set_result(None)
        await asyncio.wait_for(task, 1)
    errors = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("ERROR", "now failed") in errors and ("ERROR", "later failed") in errors
    assert ("DEBUG", "closing: not connected") in errors  # a link going away is not an error worth shouting


async def test_cancelling_the_task_cancels_what_the_coroutine_waits_on() -> None:
    seen: list[str] = []
    inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        try:
            await inner
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = run_eagerly(waits(), name="t")
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"] and inner.cancelled()
