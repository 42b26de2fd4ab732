"""Outbox relay: sends queued notifications; any number of relays may run (claims are leased)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime

from tortoise.expressions import Q

from server.actions.claims import claim_due, release
from server.actions.notify import deliver
from server.db.outbox import OutboxMessage
from server.services import Services

log = logging.getLogger("wuye.outbox")
LEASE_S = 60.0
IDLE_POLL_S = 0.5


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def relay_once(services: Services, now: datetime | None = None, batch: int = 50) -> int:
    """Send what is due now; returns how many rows were handled."""
    now = now or datetime.now(UTC)
    due = Q(status="pending", next_attempt_at__lte=now)
    rows = await claim_due(OutboxMessage, due, owner=worker_id(), now=now, lease_s=LEASE_S,
                           batch=batch)
    for message in rows:
        try:
            await deliver(message, services, now)
        except Exception as exc:  # a bug in rendering must not stall the queue
            log.exception("outbox %s failed", message.id)
            message.status, message.last_error = "failed", repr(exc)
        await release(message, ["status", "channel", "attempts", "next_attempt_at",
                                "last_error", "sent_at"])
    return len(rows)


async def outbox_loop(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        handled = await relay_once(services)
        if not handled:
            try:
                await asyncio.wait_for(stop.wait(), IDLE_POLL_S)
            except TimeoutError:
                pass
