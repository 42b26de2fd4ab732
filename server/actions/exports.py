"""Governed exports (article 5.3, PIPL): a data admin asks, the owning department approves,
the approval writes the CSV with personal fields masked unless it names them, the file expires,
and every download is logged. Nothing can be downloaded before approval or after expiry.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from server.actions.changes import APPROVER_ROLES
from server.actions.notify import Recipient, enqueue
from server.db.estate import Community
from server.db.fees import FeeRow
from server.db.governance import AuditLog, ExportDownload, ExportRequest, Facility
from server.db.people import RoomBinding, Staff
from server.db.tasks import Task
from server.domain.changes import FACILITY_COLUMNS
from server.domain.privacy import PERSONAL_FIELDS, mask_field
from server.domain.roster import ROSTER_COLUMNS
from server.settings import GovernanceSettings
from templates_msg import label

EXPORT_REF_PREFIX = "X"
DATASET_FIELDS: dict[str, tuple[str, ...]] = {
    "residents": ("community", "building", "unit", "room", "name", "phone", "relation"),
    "tasks": (
        "ref",
        "kind",
        "state",
        "category",
        "community",
        "place",
        "description",
        "created_at",
        "score",
        "reporter_name",
        "reporter_phone",
    ),
    "facilities": (*FACILITY_COLUMNS, "status", "version"),
    "fees": ROSTER_COLUMNS["fees.csv"],  # the roster's own columns: an export re-imports
}


class ExportRefused(Exception):
    """`code` names an export_refusal label; `status` is the HTTP status it maps to."""

    def __init__(self, code: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


def export_ref(export: ExportRequest) -> str:
    return f"{EXPORT_REF_PREFIX}{export.id}"


def export_json(e: ExportRequest) -> dict[str, Any]:
    return {
        "id": e.id,
        "ref": export_ref(e),
        "dataset": e.dataset,
        "dataset_name": label("export_dataset", e.dataset),
        "filters": e.filters,
        "fields": e.fields_wanted,
        "purpose": e.purpose,
        "department": e.department,
        "status": e.status,
        "unmasked_fields": e.unmasked_fields,
        "reason": e.reason,
        "row_count": e.row_count,
        "created_at": e.created_at.isoformat(),
        "decided_at": e.decided_at.isoformat() if e.decided_at else None,
        "expires_at": e.expires_at.isoformat() if e.expires_at else None,
    }


async def _people(department: str) -> list[Staff]:
    return list(await Staff.filter(department__code=department, role__in=sorted(APPROVER_ROLES)))


async def request_export(
    staff: Staff,
    *,
    dataset: str,
    filters: dict[str, Any],
    fields: list[str],
    purpose: str,
    now: datetime,
    governance: GovernanceSettings,
) -> ExportRequest:
    """Record the request and tell the owning department; no data leaves yet."""
    if dataset not in DATASET_FIELDS:
        raise ExportRefused("bad_dataset")
    wanted = list(dict.fromkeys(fields)) or list(DATASET_FIELDS[dataset])
    if not set(wanted) <= set(DATASET_FIELDS[dataset]):
        raise ExportRefused("bad_field")
    code = filters.get("community")
    if code is not None:
        community = await Community.get_or_none(code=str(code))
        in_scope = community is not None and (
            staff.all_communities or await staff.communities.filter(id=community.id).exists()
        )
        if not in_scope:
            raise ExportRefused("no_such_community", 404)
    department = governance.export_owners.get(dataset)
    if not department:
        raise ExportRefused("no_owner")
    async with in_transaction():
        export = await ExportRequest.create(
            dataset=dataset,
            filters={"community": code} if code else {},
            fields_wanted=wanted,
            purpose=purpose.strip()[:200],
            department=department,
            requested_by_id=staff.id,
            created_at=now,
        )
        values = {
            "ref": export_ref(export),
            "dataset_name": label("export_dataset", dataset),
            "purpose": export.purpose,
            "requester_name": staff.name,
        }
        for person in await _people(department):
            await enqueue(
                "export_requested",
                Recipient.of_staff(person),
                values,
                key=f"export:{export.id}:requested:{person.id}",
                now=now,
                subject=f"export:{export_ref(export)}",
            )
    return export


async def decide_export(
    export_id: int,
    staff: Staff,
    *,
    approve: bool,
    unmasked_fields: list[str],
    reason: str,
    now: datetime,
    governance: GovernanceSettings,
) -> ExportRequest:
    """The owner's lead or manager decides; approval writes the file (masked as approved)."""
    export = await ExportRequest.get_or_none(id=export_id)
    if export is None:
        raise ExportRefused("no_such_export", 404)
    await staff.fetch_related("department")
    if staff.role not in APPROVER_ROLES or staff.department.code != export.department:
        raise ExportRefused("not_owner", 403)
    if not approve and not reason.strip():
        raise ExportRefused("no_reason")
    personal = PERSONAL_FIELDS[export.dataset] & set(export.fields_wanted)
    if not set(unmasked_fields) <= personal:
        raise ExportRefused("bad_unmask")
    async with in_transaction():
        locked = await ExportRequest.filter(id=export.id).select_for_update().get()
        if locked.status != "pending":
            raise ExportRefused("wrong_state", 409)
        export = locked
        export.decided_by_id, export.decided_at = staff.id, now
        export.reason = reason.strip()[:200]
        if approve:
            export.status = "approved"
            export.unmasked_fields = sorted(set(unmasked_fields))
            export.expires_at = now + timedelta(seconds=governance.export_ttl_s)
            rows = await dataset_rows(export)
            export.file_name = f"export-{export.id}-{secrets.token_hex(8)}.csv"
            export.row_count = len(rows)
            _write_csv(governance.export_dir / export.file_name, export, rows)
        else:
            export.status = "rejected"
        await export.save()
        requester = await Staff.get(id=export.requested_by_id)
        await enqueue(
            "export_decided",
            Recipient.of_staff(requester),
            {
                "ref": export_ref(export),
                "dataset_name": label("export_dataset", export.dataset),
                "approved": approve,
                "reason": export.reason,
                "expires": export.expires_at.isoformat(timespec="minutes")
                if export.expires_at
                else "",
            },
            key=f"export:{export.id}:decided",
            now=now,
            subject=f"export:{export_ref(export)}",
        )
    return export


def _write_csv(path: Path, export: ExportRequest, rows: list[dict[str, Any]]) -> None:
    """The file, written atomically; personal fields masked unless the approval named them."""
    fields = list(export.fields_wanted)
    masked = PERSONAL_FIELDS[export.dataset] - set(export.unmasked_fields)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(fields)
    for row in rows:
        writer.writerow(
            [mask_field(f, str(row[f] or "")) if f in masked else _cell(row[f]) for f in fields]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(out.getvalue(), encoding="utf-8-sig")  # BOM: Excel reads it as UTF-8
    tmp.replace(path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


async def dataset_rows(export: ExportRequest) -> list[dict[str, Any]]:
    """Every row of the dataset in the requester's scope (and the community filter)."""
    requester = await Staff.get(id=export.requested_by_id)
    code = export.filters.get("community")
    if code:
        community_ids: list[int] | None = [c.id for c in await Community.filter(code=code)]
    elif requester.all_communities:
        community_ids = None
    else:
        community_ids = [c.id for c in await requester.communities.all()]
    codes = {c.id: c.code for c in await Community.all()}
    if export.dataset == "residents":
        query = RoomBinding.all()
        if community_ids is not None:
            query = query.filter(room__community_id__in=community_ids or [0])
        bindings = await query.order_by("id").prefetch_related("resident", "room__unit__building")
        return [
            {
                "community": codes[b.room.community_id],
                "building": b.room.unit.building.name,
                "unit": b.room.unit.name,
                "room": b.room.number,
                "name": b.resident.name,
                "phone": b.resident.phone,
                "relation": b.relation,
            }
            for b in bindings
        ]
    if export.dataset == "tasks":
        tasks = Task.all()
        if community_ids is not None:
            tasks = tasks.filter(community_id__in=community_ids or [0])
        rows = []
        for t in await tasks.order_by("id").prefetch_related("reporter"):
            rows.append(
                {
                    "ref": t.ref,
                    "kind": t.kind,
                    "state": t.state,
                    "category": t.category,
                    "community": codes[t.community_id],
                    "place": t.place,
                    "description": t.description,
                    "created_at": t.created_at,
                    "score": t.score,
                    "reporter_name": t.reporter.name if t.reporter else "",
                    "reporter_phone": t.reporter.phone if t.reporter else "",
                }
            )
        return rows
    if export.dataset == "facilities":
        facilities = Facility.all()
        if community_ids is not None:
            facilities = facilities.filter(community_id__in=community_ids or [0])
        return [
            {
                "community": codes[f.community_id],
                "code": f.code,
                "kind": f.kind,
                "name": f.name,
                "location": f.location,
                "building": f.building,
                "lat": f.lat,
                "lng": f.lng,
                "status": f.status,
                "version": f.version,
            }
            for f in await facilities.order_by("community_id", "code")
        ]
    fees = FeeRow.all()
    if community_ids is not None:
        fees = fees.filter(room__community_id__in=community_ids or [0])
    return [
        {
            "community": codes[r.room.community_id],
            "building": r.room.unit.building.name,
            "unit": r.room.unit.name,
            "room": r.room.number,
            "period": r.period,
            "item": r.item,
            "amount_due": r.amount_due,
            "amount_paid": r.amount_paid,
            "due_date": r.due_date.isoformat(),
        }
        for r in await fees.order_by("id").prefetch_related("room__unit__building")
    ]


async def open_download(
    export_id: int, staff_id: int, *, ip: str, now: datetime, governance: GovernanceSettings
) -> tuple[ExportRequest, Path]:
    """The file to send, after logging the download; refused unless approved, unexpired and
    asked for by the requester."""
    export = await ExportRequest.get_or_none(id=export_id)
    if export is None or export.requested_by_id != staff_id:
        # another person's export: as if it did not exist
        raise ExportRefused("no_such_export", 404)
    if export.status == "expired" or (
        export.status == "approved" and export.expires_at is not None and export.expires_at <= now
    ):
        raise ExportRefused("expired", 410)
    if export.status != "approved":
        raise ExportRefused("not_approved", 409)
    path = governance.export_dir / export.file_name
    if not export.file_name or not path.is_file():
        raise ExportRefused("expired", 410)
    await ExportDownload.create(export_id=export.id, staff_id=staff_id, ip=ip[:64], at=now)
    return export, path


async def purge_expired(now: datetime, governance: GovernanceSettings) -> dict[str, int]:
    """Retention: delete expired export files, and audit/download logs past their periods."""
    expired = await ExportRequest.filter(status="approved", expires_at__lte=now)
    for export in expired:
        if export.file_name:
            (governance.export_dir / export.file_name).unlink(missing_ok=True)
        await ExportRequest.filter(id=export.id).update(status="expired")
    audit_before = now - timedelta(days=governance.audit_retention_days)
    downloads_before = now - timedelta(days=governance.download_log_retention_days)
    audits = await AuditLog.filter(at__lt=audit_before).delete()
    downloads = await ExportDownload.filter(at__lt=downloads_before).delete()
    return {"exports": len(expired), "audit_log": audits, "downloads": downloads}
