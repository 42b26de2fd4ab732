"""Notices to residents: targeting, sending now or at `send_at`, and progress per recipient.

A notice is sent as one Broadcast (server/actions/fanout.py): relays expand it into one outbox
row per resident, and the router sends each by WeChat first and SMS when WeChat cannot reach
the person. Outage and emergency notices are urgent (through quiet hours) and, like every
notice, ignore fee status (DESIGN.md, lawful operation).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from server.actions.fanout import RELATIONS, broadcast_progress, broadcast_subject, create_broadcast
from server.db.comms import Notice
from server.db.estate import Building, Community, Room, Unit
from server.db.outbox import Broadcast, OutboxMessage
from server.db.people import Resident, Staff
from templates_msg import label

KINDS = ("water_outage", "power_outage", "gas_outage", "maintenance", "activity", "emergency")
# Outage, safety and emergency notices reach people at night too (issue 7, docs/notices.md).
URGENT_KINDS = frozenset({"water_outage", "power_outage", "gas_outage", "emergency"})
MAX_TARGETS = 5000
SUMMARY_MAX = 20  # a template field holds 20 characters (WeChat rules since 2023-05)
MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds: anything above names nothing


class NoticeRefused(Exception):
    """A notice or poll audience that cannot be sent as asked; `code` is a labels.yaml key."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def _names(values: Iterable[Any]) -> list[str]:
    return [str(v).strip() for v in values if str(v).strip()]


async def resolve_audience(
    community_id: int,
    *,
    buildings: Sequence[Any] = (),
    units: Sequence[Any] = (),
    rooms: Sequence[Any] = (),
    addresses: Sequence[Any] = (),
    phones: Sequence[Any] = (),
    relations: Sequence[Any] = (),
) -> dict[str, Any]:
    """Turn what the sender named (building names, "5-2" units, room ids, "5-2-302" addresses,
    phones, relations) into a broadcast audience of ids inside one community.

    A name that matches nothing is refused, not silently dropped: a notice to "building 50"
    that reaches nobody would look sent.
    """
    total = sum(len(x) for x in (buildings, units, rooms, addresses, phones))
    if total > MAX_TARGETS:
        raise NoticeRefused("too_many_targets")
    if not set(map(str, relations)) <= RELATIONS:
        raise NoticeRefused("bad_relation")
    audience: dict[str, Any] = {"community_ids": [community_id]}
    by_name = {
        b.name: b.id
        for b in await Building.filter(community_id=community_id, name__in=_names(buildings))
    }
    missing = [n for n in _names(buildings) if n not in by_name]
    if missing:
        raise NoticeRefused("unknown_building", missing[0])
    unit_ids = [await _unit_id(community_id, name) for name in _names(units)]
    room_ids = [await _room_id(community_id, name) for name in _names(addresses)]
    given_rooms = [int(r) for r in rooms if str(r).isdigit() and 0 < int(r) <= MAX_ID]
    if len(given_rooms) != len(rooms):
        raise NoticeRefused("unknown_room", "")
    rows = await Room.filter(id__in=given_rooms, community_id=community_id).values("id")
    found = {int(r["id"]) for r in rows}
    if found != set(given_rooms):
        raise NoticeRefused("unknown_room", str(min(set(given_rooms) - found)))
    for key, ids in (
        ("building_ids", list(by_name.values())),
        ("unit_ids", unit_ids),
        ("room_ids", sorted(found | set(room_ids))),
        ("phones", _names(phones)),
        ("relations", sorted(set(map(str, relations)))),
    ):
        if ids:
            audience[key] = sorted(set(ids)) if key != "relations" else ids
    return audience


def _parts(address: str, count: int) -> list[str] | None:
    parts = [p.strip() for p in address.replace("/", "-").split("-")]
    return parts if len(parts) == count and all(parts) else None


async def _unit_id(community_id: int, name: str) -> int:
    parts = _parts(name, 2)
    unit = None
    if parts is not None:
        unit = await Unit.get_or_none(
            building__community_id=community_id, building__name=parts[0], name=parts[1]
        )
    if unit is None:
        raise NoticeRefused("unknown_unit", name)
    return unit.id


async def _room_id(community_id: int, address: str) -> int:
    """ "5-2-302" (building-unit-room) -> the room's id."""
    parts = _parts(address, 3)
    room = None
    if parts is not None:
        room = await Room.get_or_none(
            community_id=community_id,
            unit__building__name=parts[0],
            unit__name=parts[1],
            number=parts[2],
        )
    if room is None:
        raise NoticeRefused("unknown_address", address)
    return room.id


def _summary(body: str) -> str:
    first = body.strip().splitlines()[0] if body.strip() else ""
    return first if len(first) <= SUMMARY_MAX else first[: SUMMARY_MAX - 1] + "…"


async def create_notice(
    community: Community,
    kind: str,
    body: str,
    audience: dict[str, Any],
    *,
    now: datetime,
    title: str = "",
    summary: str = "",
    send_at: datetime | None = None,
    created_by: Staff | None = None,
    source: str = "console",
) -> Notice:
    """Record a notice and, unless it is scheduled for later, queue its broadcast at once."""
    if kind not in KINDS:
        raise NoticeRefused("bad_kind")
    if not body.strip():
        raise NoticeRefused("empty_body")
    async with in_transaction():
        notice = await Notice.create(
            community=community,
            kind=kind,
            title=(title.strip() or label("notice_kind", kind))[:64],
            summary=(summary.strip() or _summary(body))[:64],
            body=body.strip(),
            audience=audience,
            urgent=kind in URGENT_KINDS,
            send_at=send_at if send_at is not None and send_at > now else now,
            created_by=created_by,
            source=source,
            created_at=now,
        )
        if notice.send_at <= now:
            await _send(notice, community, now)
    return notice


async def _send(notice: Notice, community: Community, now: datetime) -> None:
    values = {
        "notice_id": notice.id,
        "title": notice.title,
        "community_name": community.name,
        "summary": notice.summary,
        "body": notice.body,
    }
    broadcast = await create_broadcast(
        "notice",
        values,
        key=f"notice:{notice.id}",
        now=now,
        audience=notice.audience,
        urgent=notice.urgent,
    )
    notice.status, notice.broadcast_id, notice.sent_at = "sent", broadcast.id, now
    await Notice.filter(id=notice.id).update(status="sent", broadcast_id=broadcast.id, sent_at=now)


async def send_due_notices(now: datetime, *, batch: int = 50) -> int:
    """Start the scheduled notices whose time has come (worker loop); returns how many.

    Each notice moves scheduled -> sent with a compare-and-set, so two workers never both send
    it; the broadcast key notice:<id> would make a second broadcast a no-op anyway.
    """
    started = 0
    due = await Notice.filter(status="scheduled", send_at__lte=now).order_by("send_at").limit(batch)
    for notice in due:
        async with in_transaction():
            if not await Notice.filter(id=notice.id, status="scheduled").update(status="sending"):
                continue
            await _send(notice, await Community.get(id=notice.community_id), now)
            started += 1
    return started


async def notice_progress(notice: Notice) -> dict[str, Any]:
    """Totals: residents reached so far (expanded) and messages per status and channel."""
    if notice.broadcast_id is None:
        return {"recipients": 0, "expanding": False, "by_status": {}, "by_channel": {}}
    broadcast = await Broadcast.get(id=notice.broadcast_id)
    channels: dict[str, int] = {}
    subject = broadcast_subject(broadcast.id)
    for channel in await OutboxMessage.filter(subject=subject).values_list("channel", flat=True):
        channels[str(channel or "none")] = channels.get(str(channel or "none"), 0) + 1
    return {
        "recipients": broadcast.expanded,
        "expanding": broadcast.status != "done",
        "by_status": await broadcast_progress(broadcast.id),
        "by_channel": channels,
    }


async def notice_recipients(
    notice: Notice, *, status: str | None, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """One row per recipient: who (name, phone as stored), channel, status, times."""
    if notice.broadcast_id is None:
        return 0, []
    rows = OutboxMessage.filter(subject=broadcast_subject(notice.broadcast_id))
    if status:
        rows = rows.filter(status=status)
    total = await rows.count()
    page = await rows.order_by("id").offset(offset).limit(limit)
    names = dict(
        await Resident.filter(id__in=[m.recipient_id for m in page]).values_list("id", "name")
    )
    return total, [
        {
            "resident_id": m.recipient_id,
            "name": names.get(m.recipient_id, ""),
            "phone": m.phone,
            "status": m.status,
            "channel": m.channel,
            "attempts": m.attempts,
            "receipt": m.receipt,
            "sent_at": m.sent_at,
            "delivered_at": m.delivered_at,
        }
        for m in page
    ]
