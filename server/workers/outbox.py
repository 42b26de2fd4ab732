"""Outbox relay: expands broadcasts and sends queued notifications; any number may run.

Rows are leased (server/actions/claims.py): a relay killed with -9 leaves leases that run out,
and another relay takes the rows then. What a re-sent row means per channel is written at the
top of server/actions/notify.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from contextlib import suppress
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.actions.claims import claim_due
from server.actions.fanout import expand_once
from server.actions.notify import LeaseLost, apply_waiting_receipts, deliver, followers_of
from server.db.outbox import OutboxMessage
from server.services import Services

log = logging.getLogger("wuye.outbox")
IDLE_POLL_S = 0.5
# What a relay writes back after trying a row (the lease is dropped in the same statement).
OUTCOME_FIELDS = (
    "status",
    "channel",
    "skip_channels",
    "msgid",
    "sms_out_id",
    "sms_biz_id",
    "receipt",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
    "delivered_at",
)


# Channels WeChat/Aliyun cannot dedupe: their outcome is written as soon as the send returns.
UNDEDUPED = frozenset({"custom", "subscribe", "sms"})


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def relay_once(
    services: Services, now: datetime | None = None, batch: int | None = None
) -> int:
    """Send what is due now; returns how many rows were claimed.

    Sends run concurrently (notify.relay_concurrency). The outcome of a send WeChat cannot
    dedupe (customer-service, subscribe, SMS) is written the moment it returns; the others
    (template sends, which carry client_msg_id, and rows that sent nothing) are written together
    at the end of the batch, in one statement. A relay stops starting sends once half its lease
    is gone, so it never sends a row another relay may already have re-claimed.
    """
    cfg = services.settings.notify
    now = now or datetime.now(UTC)
    due = Q(status__in=["pending", "sending"], next_attempt_at__lte=now)
    rows = await claim_due(
        OutboxMessage,
        due,
        owner=worker_id(),
        now=now,
        lease_s=cfg.lease_s,
        batch=batch or cfg.relay_batch,
    )
    if not rows:
        return 0
    followers = await followers_of(rows)
    gate = asyncio.Semaphore(max(cfg.relay_concurrency, 1))
    stop_at = time.monotonic() + cfg.lease_s / 2

    later: list[OutboxMessage] = []

    async def handle(message: OutboxMessage) -> None:
        async with gate:
            if time.monotonic() > stop_at:
                later.append(message)  # untouched: written back as it was, lease dropped
                return
            try:
                await deliver(message, services, now, followers=followers)
            except LeaseLost:
                log.warning("outbox %s: lease lost, another relay has it", message.id)
                return
            except Exception as exc:  # a bug in rendering must not stall the queue
                log.exception("outbox %s failed", message.id)
                message.status, message.last_error = "failed", repr(exc)[:2000]
            if message.channel in UNDEDUPED or message.sms_out_id:
                await _release([message])
            else:
                later.append(message)

    await asyncio.gather(*(handle(m) for m in rows))
    await _release(later)
    await apply_waiting_receipts(rows, now)
    return len(rows)


async def _release(messages: list[OutboxMessage]) -> None:
    """Write outcomes and drop the leases, each only if its lease is still ours (compare-and-set).

    One executemany for the batch: building an ORM UPDATE per row cost more CPU than its send.
    """
    if not messages:
        return
    fields = OutboxMessage._meta.fields_map
    rows = [
        [fields[name].to_db_value(getattr(m, name), m) for name in OUTCOME_FIELDS]
        + [m.id, m.lock_owner]
        for m in messages
    ]
    async with in_transaction() as conn:
        await conn.execute_many(_release_sql(conn.capabilities.dialect), rows)
    for message in messages:
        message.lock_owner = message.lock_expires_at = None


def _release_sql(dialect: str) -> str:
    n = len(OUTCOME_FIELDS)
    # Placeholders: `$n` for asyncpg, `?` for sqlite3 (CONTRACT.md names these two).
    marks = [f"${i}" for i in range(1, n + 3)] if dialect == "postgres" else ["?"] * (n + 2)
    sets = ", ".join(f"{name} = {mark}" for name, mark in zip(OUTCOME_FIELDS, marks, strict=False))
    table = OutboxMessage._meta.db_table
    return (
        f"UPDATE {table} SET {sets}, lock_owner = NULL, lock_expires_at = NULL "
        f"WHERE id = {marks[n]} AND lock_owner = {marks[n + 1]}"
    )


async def outbox_loop(services: Services, stop: asyncio.Event) -> None:
    """Expand broadcasts a batch at a time and send what is due, until `stop` is set."""
    cfg = services.settings.notify
    while not stop.is_set():
        expanded = await expand_once(
            datetime.now(UTC), owner=worker_id(), lease_s=cfg.lease_s, batch=cfg.fanout_batch
        )
        handled = await relay_once(services)
        if not handled and not expanded:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_POLL_S)
