"""Background work: loops that run in `python -m server worker` processes (or the dev process).

Loops register here; each gets the shared Services and a stop event. Any number of worker
processes may run: every loop must be safe to run concurrently (claims with SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable

from server.services import Services

log = logging.getLogger("wuye.worker")

Loop = Callable[[Services, asyncio.Event], Awaitable[None]]
HEARTBEAT_S = 10


async def heartbeat(services: Services, stop: asyncio.Event) -> None:
    """Publish liveness in Redis so /healthz and operators can see live workers."""
    key = f"{services.settings.redis_prefix}worker:{socket.gethostname()}:{os.getpid()}"
    while not stop.is_set():
        await services.redis.set(key, str(int(time.time())), ex=HEARTBEAT_S * 3)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEARTBEAT_S)
    await services.redis.delete(key)


def registered_loops() -> list[Loop]:
    from server.workers.comms import comms_loop
    from server.workers.gateway_sync import gateway_sync_loop
    from server.workers.outbox import outbox_loop
    from server.workers.retention import retention_loop
    from server.workers.timers import timer_loop

    return [heartbeat, outbox_loop, timer_loop, gateway_sync_loop, comms_loop, retention_loop]


async def run_loops(services: Services, stop: asyncio.Event) -> None:
    """Run every registered loop until `stop` is set; a crashing loop is logged and restarted."""

    async def guarded(loop: Loop) -> None:
        while not stop.is_set():
            try:
                await loop(services, stop)
            except Exception:
                log.exception("worker loop %s crashed, restarting in 1 s", loop.__name__)
                await asyncio.sleep(1)

    await asyncio.gather(*(guarded(loop) for loop in registered_loops()))
