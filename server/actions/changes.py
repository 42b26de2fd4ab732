"""Change requests (article 5.1): field staff propose, the owning department approves or rejects.

A request changes nothing by itself. Approval applies it in ONE transaction with its history
(FacilityVersion / ResidentDataChange rows) and the outbox messages to every subscribed
department; a rejection only records the reason and tells the submitter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from server.actions.facilities import add_facilities, change_facility
from server.actions.notify import Recipient, enqueue
from server.db.estate import Community
from server.db.governance import CHANGE_REF_PREFIX, ChangeRequest, Facility, ResidentDataChange
from server.db.people import Resident, RoomBinding, Staff
from server.db.tasks import Photo
from server.domain.changes import (
    CHANGE_KINDS,
    RESIDENT_SUBJECT,
    ChangeInvalid,
    check_code,
    check_facility_values,
    check_resident_values,
    owner_of,
    subject_of,
    subscribers_of,
)
from server.domain.privacy import mask_phone, mask_phones_in
from server.settings import GovernanceSettings
from templates_msg import label, render_text

APPROVER_ROLES = frozenset({"lead", "manager"})


class ChangeRefused(Exception):
    """The request or decision cannot happen; `code` names a change_refusal label."""

    def __init__(self, code: str, ref: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.ref = ref


def parse_change_ref(text: str) -> int | None:
    """C12 / c12 / 12 -> 12."""
    raw = text.strip().upper().removeprefix(CHANGE_REF_PREFIX)
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


def serves(staff: Staff, community_id: int, community_ids: set[int]) -> bool:
    return staff.all_communities or community_id in community_ids


async def _staff_scope(staff: Staff) -> set[int]:
    return {c.id for c in await staff.communities.all()}


def summary_of(cr: ChangeRequest, facility: Facility | None = None) -> str:
    """One line people read: 东门新增路灯2个 / 路灯lamp-003报废 / 更正住户资料：电话."""
    return summary_text(cr.kind, cr.payload or {}, facility)


def summary_text(kind: str, payload: dict[str, Any], facility: Facility | None) -> str:
    facility_kind = payload.get("kind") or (facility.kind if facility else "other")
    fields = [label("resident_field", f) for f in ("phone", "name", "relation") if f in payload]
    return render_text(
        "change_summary",
        kind=kind,
        kind_name=label("facility_kind", facility_kind),
        location=payload.get("location") or (facility.location if facility else ""),
        count=payload.get("count", 1),
        code=facility.code if facility else payload.get("code", ""),
        fields="、".join(fields),
    )


async def _approvers(department: str, community_id: int) -> list[Staff]:
    people = await Staff.filter(
        department__code=department, role__in=sorted(APPROVER_ROLES)
    ).prefetch_related("communities")
    return [p for p in people if serves(p, community_id, {c.id for c in p.communities})]


async def submit_change(
    *,
    staff: Staff,
    community: Community,
    kind: str,
    values: dict[str, Any],
    photo_ids: list[int],
    now: datetime,
    governance: GovernanceSettings,
    facility_code: str | None = None,
    resident_id: int | None = None,
    note: str = "",
    source: str = "miniapp",
) -> ChangeRequest:
    """Record a proposed change and tell the owning department's approvers."""
    if kind not in CHANGE_KINDS:
        raise ChangeRefused("bad_field")
    if not serves(staff, community.id, await _staff_scope(staff)):
        raise ChangeRefused("no_such_community")
    facility = None
    resident = None
    try:
        if kind == "add_facility":
            payload = check_facility_values(values)
            if "code" in payload and await Facility.exists(
                community_id=community.id, code=payload["code"]
            ):
                raise ChangeRefused("code_taken")
        elif kind == RESIDENT_SUBJECT:
            payload = check_resident_values(values)
        else:
            facility = await Facility.get_or_none(
                community_id=community.id, code=check_code(facility_code or "")
            )
            if facility is None:
                raise ChangeRefused("no_such_facility")
            if facility.status == "retired":
                raise ChangeRefused("already_retired")
            if kind == "retire_facility":
                payload = {}
            else:
                payload = check_facility_values(values, partial=True)
    except ChangeInvalid as exc:
        raise ChangeRefused(exc.code) from None
    if kind == RESIDENT_SUBJECT:
        resident = await Resident.get_or_none(id=resident_id) if resident_id else None
        rooms = (
            set(
                await RoomBinding.filter(
                    resident_id=resident.id, room__community_id=community.id
                ).values_list("room_id", flat=True)
            )
            if resident
            else set()
        )
        if resident is None or not rooms:
            raise ChangeRefused("no_such_resident")
        if "room_id" in payload and payload["room_id"] not in rooms:
            raise ChangeRefused("no_such_room")
        if (
            "phone" in payload
            and await Resident.filter(phone=payload["phone"]).exclude(id=resident.id).exists()
        ):
            raise ChangeRefused("phone_taken")
    elif not photo_ids:
        raise ChangeRefused("needs_photo")  # a facility change shows what is on site (5.1)
    photos = sorted(set(photo_ids))
    if photos and await Photo.filter(id__in=photos).count() != len(photos):
        raise ChangeRefused("needs_photo")
    facility_kind = payload.get("kind") or (facility.kind if facility else None)
    try:
        department = owner_of(subject_of(kind, facility_kind), governance.owners)
    except ChangeInvalid:
        raise ChangeRefused("no_owner") from None
    approvers = await _approvers(department, community.id)
    async with in_transaction():
        cr = await ChangeRequest.create(
            community_id=community.id,
            kind=kind,
            subject=subject_of(kind, facility_kind),
            facility_id=facility.id if facility else None,
            resident_id=resident.id if resident else None,
            payload=payload,
            photo_ids=photos,
            note=note[:200],
            department=department,
            submitted_by_id=staff.id,
            source=source,
            created_at=now,
        )
        values_out = {
            "ref": cr.ref,
            "summary": summary_of(cr, facility),
            "submitter_name": staff.name,
            "community_name": community.name,
        }
        for person in approvers:
            if person.id == staff.id:
                continue
            await enqueue(
                "change_requested",
                Recipient.of_staff(person),
                values_out,
                key=f"change:{cr.id}:requested:{person.id}",
                now=now,
                subject=f"change:{cr.ref}",
            )
    return cr


async def get_change(ref: str) -> ChangeRequest:
    number = parse_change_ref(ref)
    cr = await ChangeRequest.get_or_none(id=number) if number is not None else None
    if cr is None:
        raise ChangeRefused("no_such_change", ref)
    return cr


async def decide_change(
    ref: str,
    staff: Staff,
    *,
    approve: bool,
    reason: str = "",
    now: datetime,
    governance: GovernanceSettings,
) -> ChangeRequest:
    """Approve (apply it, with history, and tell every subscribed department) or reject."""
    cr = await get_change(ref)
    if not serves(staff, cr.community_id, await _staff_scope(staff)):
        raise ChangeRefused("no_such_change", ref)
    await staff.fetch_related("department")
    if staff.role not in APPROVER_ROLES or staff.department.code != cr.department:
        raise ChangeRefused("not_owner", cr.ref)
    if not approve and not reason.strip():
        raise ChangeRefused("no_reason", cr.ref)
    async with in_transaction():
        locked = await ChangeRequest.filter(id=cr.id).select_for_update().get()
        if locked.status != "pending":
            raise ChangeRefused("wrong_state", cr.ref)
        cr = locked
        facility = await Facility.get_or_none(id=cr.facility_id) if cr.facility_id else None
        summary = summary_of(cr, facility)
        cr.status = "approved" if approve else "rejected"
        cr.decided_by_id, cr.decided_at, cr.reason = staff.id, now, reason.strip()[:200]
        await cr.save(update_fields=["status", "decided_by_id", "decided_at", "reason"])
        if approve:
            await _apply(cr, facility, now)
        community = await Community.get(id=cr.community_id)
        values = {
            "ref": cr.ref,
            "summary": summary,
            "approved": approve,
            "reason": cr.reason,
            "decider_name": staff.name,
            "community_name": community.name,
        }
        subject = f"change:{cr.ref}"
        submitter = await Staff.get(id=cr.submitted_by_id)
        if submitter.id != staff.id:
            await enqueue(
                "change_decided",
                Recipient.of_staff(submitter),
                values,
                key=f"change:{cr.id}:decided",
                now=now,
                subject=subject,
            )
        if approve:
            for person in await _told(cr, governance):
                await enqueue(
                    "change_applied",
                    Recipient.of_staff(person),
                    values,
                    key=f"change:{cr.id}:applied:{person.id}",
                    now=now,
                    subject=subject,
                )
    return cr


async def _told(cr: ChangeRequest, governance: GovernanceSettings) -> list[Staff]:
    """Leads and managers of every subscribed department serving the change's community; a
    department without either is told through everyone of it who serves there."""
    codes = subscribers_of(cr.subject, cr.department, governance.subscribers)
    people = []
    for code in codes:
        heads = await _approvers(code, cr.community_id)
        if not heads:
            everyone = await Staff.filter(department__code=code).prefetch_related("communities")
            heads = [
                p for p in everyone if serves(p, cr.community_id, {c.id for c in p.communities})
            ]
        people.extend(heads)
    return people


async def _apply(cr: ChangeRequest, facility: Facility | None, now: datetime) -> None:
    payload = dict(cr.payload or {})
    photo_id = cr.photo_ids[0] if cr.photo_ids else None
    if cr.kind == "add_facility":
        await add_facilities(
            cr.community_id,
            payload,
            count=int(payload.pop("count", 1)),
            code=payload.pop("code", None),
            photo_id=photo_id,
            change_request_id=cr.id,
            now=now,
        )
        return
    if cr.kind in ("modify_facility", "retire_facility"):
        assert facility is not None
        if facility.status == "retired":
            raise ChangeRefused("already_retired", cr.ref)
        changes = {"status": "retired"} if cr.kind == "retire_facility" else payload
        if photo_id is not None:
            changes["photo_id"] = photo_id
        await change_facility(facility, changes, change_request_id=cr.id, now=now)
        return
    await _apply_resident(cr, payload, now)


async def _apply_resident(cr: ChangeRequest, payload: dict[str, Any], now: datetime) -> None:
    resident = await Resident.get(id=cr.resident_id)
    history: list[tuple[str, int | None, str, str]] = []
    if "phone" in payload and payload["phone"] != resident.phone:
        if await Resident.filter(phone=payload["phone"]).exclude(id=resident.id).exists():
            raise ChangeRefused("phone_taken", cr.ref)
        history.append(("phone", None, resident.phone, payload["phone"]))
        resident.phone = payload["phone"]
    if "name" in payload and payload["name"] != resident.name:
        history.append(("name", None, resident.name, payload["name"]))
        resident.name = payload["name"]
    await resident.save(update_fields=["phone", "name"])
    if "relation" in payload:
        binding = await RoomBinding.get(resident_id=resident.id, room_id=payload["room_id"])
        if binding.relation != payload["relation"]:
            history.append(("relation", binding.room_id, binding.relation, payload["relation"]))
            binding.relation = payload["relation"]
            await binding.save(update_fields=["relation"])
    for field, room_id, old, new in history:
        await ResidentDataChange.create(
            resident_id=resident.id,
            field=field,
            room_id=room_id,
            old_value=old,
            new_value=new,
            change_request_id=cr.id,
            at=now,
        )


def change_json(
    cr: ChangeRequest, *, facility: Facility | None = None, submitter: Staff | None = None
) -> dict[str, Any]:
    """A change request as the API shows it: a corrected phone number is masked (PIPL)."""
    payload = dict(cr.payload or {})
    if "phone" in payload:
        payload["phone"] = mask_phone(str(payload["phone"]))
    return {
        "ref": cr.ref,
        "kind": cr.kind,
        "kind_name": label("change_kind", cr.kind),
        "subject": cr.subject,
        "summary": summary_of(cr, facility),
        "status": cr.status,
        "status_name": label("change_status", cr.status),
        "department": cr.department,
        "facility": facility.code if facility else None,
        "resident_id": cr.resident_id,
        "payload": payload,
        "photo_ids": list(cr.photo_ids or []),
        "note": mask_phones_in(cr.note),
        "source": cr.source,
        "submitted_by": submitter.name if submitter else None,
        "reason": cr.reason,
        "created_at": cr.created_at.isoformat(),
        "decided_at": cr.decided_at.isoformat() if cr.decided_at else None,
    }
