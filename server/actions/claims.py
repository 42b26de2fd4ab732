"""Claiming due rows (outbox, timers) so that any number of workers can run side by side."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

M = TypeVar("M", bound=Model)


async def claim_due(
    model: type[M], due: Q, *, owner: str, now: datetime, lease_s: float, batch: int
) -> list[M]:
    """Lease up to `batch` due rows to `owner`.

    On PostgreSQL the candidates are read FOR UPDATE SKIP LOCKED, so concurrent workers take
    different rows without waiting. The lease is then set with a compare-and-set UPDATE (still
    unleased or lease expired), which also makes SQLite (no row locks) safe. A worker killed
    with -9 leaves rows whose lease simply runs out; another worker takes them then.
    """
    owner = f"{owner}:{uuid.uuid4().hex[:8]}"  # unique per claim: relays in one process differ
    free = Q(lock_expires_at__isnull=True) | Q(lock_expires_at__lt=now)
    async with in_transaction():
        ids = await (
            model.filter(due & free)
            .order_by("id")
            .limit(batch)
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)
        )
        if not ids:
            return []
        await model.filter(Q(id__in=list(ids)) & free).update(
            lock_owner=owner, lock_expires_at=now + timedelta(seconds=lease_s)
        )
    return await model.filter(id__in=list(ids), lock_owner=owner).order_by("id")


async def release(row: Any, fields: list[str]) -> None:
    """Save the outcome and drop the lease in one write."""
    row.lock_owner = None
    row.lock_expires_at = None
    await row.save(update_fields=[*fields, "lock_owner", "lock_expires_at"])
