"""Broadcasts: one message to thousands of residents without a slow request.

Writing 10,000 outbox rows inside an HTTP request takes seconds; a request instead writes ONE
Broadcast row (the fan-out job) and returns. Relays expand it into per-resident outbox rows, a
batch per transaction (cursor = last resident id), and send those like any other message. The
per-recipient idempotency key (broadcast:<id>:resident:<id>) makes a batch written twice (a
relay killed after its insert, before its cursor moved) harmless.

The audience (a JSON object on the Broadcast) is: `community_ids` (the scope), then places and
people within it: `building_ids`, `unit_ids`, `room_ids` and `phones` (a resident matching any of
them is in; none given = the whole scope), then `relations` (owner, family, tenant). Notices and
polls resolve addresses to room ids before they get here (server/actions/notices.py).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any

from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from server.actions.claims import claim_due
from server.actions.notify import Recipient, outbox_row
from server.db.outbox import Broadcast, OutboxMessage
from server.db.people import Resident
from templates_msg import render_message

RELATIONS = frozenset({"owner", "family", "tenant"})


class BroadcastRefused(Exception):
    """The broadcast cannot be queued as asked (`code` says why)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def broadcast_subject(broadcast_id: int) -> str:
    return f"broadcast:{broadcast_id}"


async def create_broadcast(
    kind: str,
    values: dict[str, Any],
    *,
    key: str,
    now: datetime,
    community_ids: list[int] | None = None,
    relations: list[str] | None = None,
    urgent: bool = False,
    audience: dict[str, Any] | None = None,
) -> Broadcast:
    """Queue one message for every resident of the audience: one row, whatever the audience size.

    `key` makes a retried request a no-op (the first broadcast is returned). `urgent` sends it
    through quiet hours (outage, safety and emergency notices).
    """
    render_message(kind, values)  # an undefined variable fails the request, not 10,000 sends
    # `audience`: a whole audience built by notices or polls (AUDIENCE_KEYS)
    audience = {k: v for k, v in (audience or {}).items() if k in AUDIENCE_KEYS and v}
    relations = relations or audience.get("relations")
    if relations and not set(relations) <= RELATIONS:
        raise BroadcastRefused("bad_relation")
    if community_ids is not None:
        audience["community_ids"] = sorted(set(community_ids))
    if relations:
        audience["relations"] = sorted(set(relations))
    broadcast, _ = await Broadcast.get_or_create(
        idempotency_key=key[:128],
        defaults={
            "kind": kind,
            "values": values,
            "audience": audience,
            "urgent": urgent,
            "created_at": now,
        },
    )
    return broadcast


AUDIENCE_KEYS = ("community_ids", "building_ids", "unit_ids", "room_ids", "phones", "relations")
_PLACES = {
    "building_ids": "bindings__room__unit__building_id__in",
    "unit_ids": "bindings__room__unit_id__in",
    "room_ids": "bindings__room_id__in",
    "phones": "phone__in",
}


def audience_query(audience: dict[str, Any]) -> QuerySet[Resident]:
    """Residents a broadcast reaches (no fee filter: notices reach households in arrears too)."""
    residents = Resident.all()
    if "community_ids" in audience:
        residents = residents.filter(
            bindings__room__community_id__in=audience["community_ids"] or [0]
        )
    places = [Q(**{lookup: audience[key]}) for key, lookup in _PLACES.items() if audience.get(key)]
    if places:
        residents = residents.filter(Q(*places, join_type="OR"))
    if audience.get("relations"):
        residents = residents.filter(bindings__relation__in=audience["relations"])
    # A resident bound to two rooms of the audience is one recipient.
    return residents.distinct() if audience else residents


async def expand_once(now: datetime, *, owner: str, lease_s: float, batch: int) -> int:
    """Expand one batch of one broadcast into outbox rows; returns how many rows were written."""
    due = Q(status="pending")
    [*claimed] = await claim_due(Broadcast, due, owner=owner, now=now, lease_s=lease_s, batch=1)
    written = 0
    for broadcast in claimed:
        # _LeaseExpired: the batch was rolled back, the relay now holding the broadcast redoes it.
        with suppress(_LeaseExpired):
            written += await _expand(broadcast, now, batch)
    return written


async def _expand(broadcast: Broadcast, now: datetime, batch: int) -> int:
    people = await (
        audience_query(broadcast.audience)
        .filter(id__gt=broadcast.cursor)
        .order_by("id")
        .limit(batch)
        .values("id", "openid", "miniapp_openid", "phone")
    )
    rows = [
        outbox_row(
            broadcast.kind,
            Recipient(
                "resident", p["id"], p["openid"] or "", p["phone"] or "", p["miniapp_openid"] or ""
            ),
            broadcast.values,
            key=f"broadcast:{broadcast.id}:resident:{p['id']}",
            now=now,
            subject=broadcast_subject(broadcast.id),
            urgent=broadcast.urgent,
        )
        for p in people
    ]
    done = len(people) < batch
    async with in_transaction():
        if rows:
            await OutboxMessage.bulk_create(rows, ignore_conflicts=True)
        moved = await Broadcast.filter(id=broadcast.id, lock_owner=broadcast.lock_owner).update(
            cursor=people[-1]["id"] if people else broadcast.cursor,
            expanded=F("expanded") + len(rows),
            status="done" if done else "pending",
            finished_at=now if done else None,
            lock_owner=None,
            lock_expires_at=None,
        )
        if not moved:
            # Our lease ran out and another relay took the broadcast: undo this batch.
            raise _LeaseExpired()
    return len(rows)


class _LeaseExpired(Exception):
    pass


async def broadcast_progress(broadcast_id: int) -> dict[str, int]:
    """Messages of a broadcast per status (queued, sent, delivered, failed, ...)."""
    counts: dict[str, int] = {}
    subject = broadcast_subject(broadcast_id)
    for status in await OutboxMessage.filter(subject=subject).values_list("status", flat=True):
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts
