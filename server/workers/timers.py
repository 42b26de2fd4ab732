"""Timer runner: fires due SLA warnings, breaches and rating closes; any number may run."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tortoise.expressions import Q

from server.actions.claims import claim_due, release
from server.actions.tasks import fire_timer
from server.db.tasks import Timer
from server.services import Services
from server.workers.outbox import worker_id

log = logging.getLogger("wuye.timers")
LEASE_S = 60.0
IDLE_POLL_S = 0.5
MAX_ATTEMPTS = 5


async def run_due_timers(services: Services, now: datetime | None = None, batch: int = 50) -> int:
    """Fire every timer due by `now` (late ones catch up); returns how many were claimed."""
    now = now or datetime.now(UTC)
    tz = ZoneInfo(services.settings.tz_name)
    due = Q(fired_at__isnull=True, cancelled=False, due_at__lte=now, attempts__lt=MAX_ATTEMPTS)
    timers = await claim_due(Timer, due, owner=worker_id(), now=now, lease_s=LEASE_S, batch=batch)
    for timer in timers:
        try:
            await fire_timer(timer.id, now=now, tz=tz)
        except Exception as exc:
            log.exception("timer %s (%s) failed", timer.id, timer.name)
            timer.attempts += 1
            timer.last_error = repr(exc)[:500]
            await release(timer, ["attempts", "last_error"])
    return len(timers)


async def timer_loop(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if not await run_due_timers(services):
            try:
                await asyncio.wait_for(stop.wait(), IDLE_POLL_S)
            except TimeoutError:
                pass
