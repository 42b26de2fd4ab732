"""Shutting down MQTT readers: a task that swallowed a cancellation still ends."""

from __future__ import annotations

import asyncio
import contextlib

from hardware_gateway.link import cancel_and_wait


async def test_a_task_that_swallowed_one_cancellation_still_ends():
    async def stubborn() -> None:
        # as Python 3.11's asyncio.wait_for may when its future completes at the same moment
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        await asyncio.sleep(60)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)  # let it start waiting
    async with asyncio.timeout(5):  # cancel-then-gather would wait the full minute
        await cancel_and_wait([task])
    assert task.cancelled()


async def test_finished_and_failed_tasks_are_collected_without_waiting():
    async def fails() -> None:
        raise RuntimeError("link down")

    done = asyncio.create_task(asyncio.sleep(0))
    failed = asyncio.create_task(fails())
    await asyncio.sleep(0.01)
    async with asyncio.timeout(1):
        await cancel_and_wait([done, failed])
    assert done.done() and isinstance(failed.exception(), RuntimeError)
