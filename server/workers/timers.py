"""Timer runner: fires due SLA warnings, breaches, escalations, rating closes; any number may run.

A batch is claimed and fired in ONE transaction: `SELECT ... FOR UPDATE SKIP LOCKED` on
PostgreSQL gives concurrent workers disjoint batches, and a worker killed with -9 mid-batch
simply rolls back, so its timers are free again at once (no lease to wait out). SQLite has no
row locks: the transaction starts with a write, which takes SQLite's single write lock before
anything is read, so two processes fire batches one after the other, never the same timer twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.exceptions import OperationalError, TransactionManagementError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.actions.clocks import fire_timers
from server.db.tasks import Timer
from server.metrics import METRICS
from server.services import Services

log = logging.getLogger("wuye.timers")
BATCH = 500
IDLE_POLL_S = 0.5  # longest sleep when nothing is due; shorter when a timer is due sooner
MIN_POLL_S = 0.02  # when due timers are all in other workers' batches: let those commit first
MAX_ATTEMPTS = 5
RETRY_S = (5, 30, 120, 600)  # after a timer's own failure, by attempt (not after lock waits)


def _free(now: datetime) -> Q:
    """Not waiting out a retry delay (nor an old lease of a worker from before this runner)."""
    return Q(lock_expires_at__isnull=True) | Q(lock_expires_at__lt=now)


def _due(now: datetime) -> Q:
    return Q(
        fired_at__isnull=True, cancelled=False, due_at__lte=now, attempts__lt=MAX_ATTEMPTS
    ) & _free(now)


async def _take_write_lock() -> None:
    """SQLite only: make the first statement a write so the transaction holds the write lock
    before it reads (a reader that writes later can fail with SQLITE_BUSY_SNAPSHOT instead)."""
    await Timer.filter(id=0).update(attempts=0)


async def run_due_timers(
    services: Services, now: datetime | None = None, batch: int = BATCH
) -> int:
    """Fire up to `batch` timers due by `now` (late ones catch up); returns how many it took.

    Without `now` the real clock is read, and timers are stamped fired at the moment of firing.
    """
    tz = ZoneInfo(services.settings.tz_name)
    sqlite = services.settings.database_url.startswith("sqlite")
    # SQLite compares stored UTC text: an instant in another zone must be converted first.
    now = now.astimezone(UTC) if now else None
    due_by = now or datetime.now(UTC)
    ids: list[int] = []
    try:
        async with in_transaction():
            if sqlite:
                await _take_write_lock()
            timers = await (
                Timer.filter(_due(due_by))
                .order_by("due_at", "id")
                .limit(batch)
                .select_for_update(skip_locked=True)
            )
            ids = [t.id for t in timers]
            if timers:
                started = time.perf_counter()
                await fire_timers(timers, now=now or datetime.now(UTC), tz=tz)
                METRICS.observe("wuye_timer_batch_seconds", time.perf_counter() - started)
                METRICS.inc("wuye_timers_fired_total", len(timers))
    except (OperationalError, TransactionManagementError) as exc:
        # A lock wait that timed out or a dropped connection: nothing was fired, nobody's
        # fault; the next poll tries again without charging the timers an attempt.
        log.warning("timer batch rolled back: %r", exc)
        return 0
    except Exception:
        log.exception("timer batch of %d failed, firing them one by one", len(ids))
        for timer_id in ids:
            await _fire_alone(timer_id, now, tz)
    return len(ids)


async def _fire_alone(timer_id: int, now: datetime | None, tz: ZoneInfo) -> None:
    """Fire one timer of a failed batch; a timer that fails by itself is retried later, then
    given up after MAX_ATTEMPTS (with the error kept on the row)."""
    at = now or datetime.now(UTC)
    try:
        async with in_transaction():
            timer = await (
                Timer.filter(Q(id=timer_id) & _due(at)).select_for_update(skip_locked=True).first()
            )
            if timer is not None:
                await fire_timers([timer], now=at, tz=tz)
    except (OperationalError, TransactionManagementError) as exc:
        log.warning("timer %s rolled back: %r", timer_id, exc)
    except Exception as exc:
        log.exception("timer %s failed", timer_id)
        row = await Timer.get(id=timer_id)
        row.attempts += 1
        row.last_error = repr(exc)[:500]
        row.lock_owner = None
        row.lock_expires_at = at + timedelta(seconds=RETRY_S[min(row.attempts, len(RETRY_S)) - 1])
        await row.save(update_fields=["attempts", "last_error", "lock_owner", "lock_expires_at"])


async def next_due_in(now: datetime) -> float | None:
    """Seconds until the next claimable timer is due (0 if one is due now); None if none waits."""
    pending = Q(fired_at__isnull=True, cancelled=False, attempts__lt=MAX_ATTEMPTS) & _free(now)
    row = await Timer.filter(pending).order_by("due_at").first().values("due_at")
    if row is None:
        return None
    due_at: datetime = row["due_at"]
    return max(0.0, (due_at - now).total_seconds())


async def timer_loop(services: Services, stop: asyncio.Event, batch: int = BATCH) -> None:
    """Fire batches back to back while due timers remain; otherwise sleep until the next one is
    due (at most IDLE_POLL_S, so timers written meanwhile by other processes are not missed)."""
    while not stop.is_set():
        took = await run_due_timers(services, batch=batch)
        if took >= batch:
            continue
        wait = await next_due_in(datetime.now(UTC))
        wait = IDLE_POLL_S if wait is None else min(IDLE_POLL_S, wait)
        if not took:
            wait = max(wait, MIN_POLL_S)
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
