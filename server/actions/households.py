"""The customer-service view of a household (article 5.2), the lookup by phone, and the audit
log every unmasked read of personal data writes (PIPL art. 51, 55: record processing)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from server.db.estate import Room
from server.db.fees import FeeRow
from server.db.governance import AuditLog, ChangeRequest
from server.db.people import Resident, RoomBinding
from server.db.tasks import Task
from server.domain.privacy import mask_phone
from templates_msg import label, render_text

TASK_LIMIT = 20


async def record_audit(
    *,
    actor_kind: str,
    actor_id: int | None,
    role: str,
    action: str,
    subject: str,
    ip: str,
    now: datetime,
) -> None:
    """One audit row: who read what in clear, when, from where."""
    await AuditLog.create(
        actor_kind=actor_kind,
        actor_id=actor_id,
        role=role,
        action=action,
        subject=subject[:64],
        ip=ip[:64],
        at=now,
    )


def address_of(room: Room) -> str:
    place = render_text(
        "place_room", building=room.unit.building.name, unit=room.unit.name, room=room.number
    )
    return room.community.name + place


async def household_view(room: Room, *, reveal_phone: bool) -> dict[str, Any]:
    """Members with contacts (masked unless revealed), their rooms, fee status, past tasks."""
    bindings = await RoomBinding.filter(room_id=room.id).order_by("id").prefetch_related("resident")
    resident_ids = [b.resident_id for b in bindings]
    others = await RoomBinding.filter(resident_id__in=resident_ids or [0]).prefetch_related(
        "room__unit__building", "room__community"
    )
    rooms_of: dict[int, list[dict[str, Any]]] = {}
    for b in others:
        rooms_of.setdefault(b.resident_id, []).append(
            {"room_id": b.room_id, "address": address_of(b.room), "relation": b.relation}
        )
    members = [
        {
            "resident_id": b.resident.id,
            "name": b.resident.name,
            "relation": b.relation,
            "relation_name": label("relation", b.relation),
            "phone": b.resident.phone if reveal_phone else mask_phone(b.resident.phone),
            "wechat_bound": bool(b.resident.openid or b.resident.miniapp_openid),
            "rooms": rooms_of.get(b.resident_id, []),
        }
        for b in bindings
    ]
    return {
        "room_id": room.id,
        "community": room.community.code,
        "address": address_of(room),
        "area_m2": str(room.area_m2),
        "members": members,
        "fees": await fee_status(room.id),
        "tasks": await past_tasks(room.id),
        "pending_changes": [
            cr.ref
            for cr in await ChangeRequest.filter(
                resident_id__in=resident_ids or [0], status="pending"
            ).order_by("id")
        ],
    }


async def fee_status(room_id: int) -> dict[str, Any]:
    """What the room owes: totals and the unpaid rows (read straight from the fee ledger)."""
    rows = await FeeRow.filter(room_id=room_id).order_by("due_date", "item")
    due = sum((r.amount_due for r in rows), Decimal("0"))
    paid = sum((r.amount_paid for r in rows), Decimal("0"))
    unpaid = [
        {
            "period": r.period,
            "item": r.item,
            "amount_due": str(r.amount_due),
            "amount_paid": str(r.amount_paid),
            "due_date": r.due_date.isoformat(),
        }
        for r in rows
        if r.amount_paid < r.amount_due
    ]
    return {
        "amount_due": str(due),
        "amount_paid": str(paid),
        "outstanding": str(max(due - paid, Decimal("0"))),
        "unpaid": unpaid,
    }


async def past_tasks(room_id: int) -> list[dict[str, Any]]:
    tasks = await Task.filter(room_id=room_id).order_by("-id").limit(TASK_LIMIT)
    return [
        {
            "ref": t.ref,
            "kind": t.kind,
            "category_name": label("category", t.category),
            "state_name": label("state", t.state),
            "description": t.description,
            "created_at": t.created_at.isoformat(),
            "score": t.score,
            "rating_comment": t.rating_comment,
        }
        for t in tasks
    ]


async def find_by_phone(phone: str, community_ids: set[int] | None) -> list[dict[str, Any]]:
    """Households of the resident with this exact phone (the caller typed it: nothing is shown
    in clear that they did not already know, and the answer is masked all the same)."""
    resident = await Resident.get_or_none(phone=phone)
    if resident is None:
        return []
    bindings = await RoomBinding.filter(resident_id=resident.id).prefetch_related(
        "room__unit__building", "room__community"
    )
    return [
        {
            "room_id": b.room_id,
            "address": address_of(b.room),
            "resident_id": resident.id,
            "name": resident.name,
            "relation": b.relation,
            "phone": mask_phone(resident.phone),
        }
        for b in bindings
        if community_ids is None or b.room.community_id in community_ids
    ]
