"""The facilities registry: reading it, and the writes an approved change (or the roster import)
makes, each leaving a FacilityVersion row behind (the registry's history)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db.governance import Facility, FacilityVersion
from server.domain.changes import SNAPSHOT_KEYS, next_codes, snapshot
from templates_msg import label


def facility_json(f: Facility) -> dict[str, Any]:
    return {
        "id": f.id,
        "code": f.code,
        "kind": f.kind,
        "kind_name": label("facility_kind", f.kind),
        "name": f.name,
        "location": f.location,
        "lat": f.lat,
        "lng": f.lng,
        "building": f.building,
        "photo_id": f.photo_id,
        "status": f.status,
        "version": f.version,
        "updated_at": f.updated_at.isoformat(),
    }


async def list_facilities(
    community_id: int, *, kind: str | None = None, status: str | None = None
) -> list[Facility]:
    query = Facility.filter(community_id=community_id)
    if kind:
        query = query.filter(kind=kind)
    if status:
        query = query.filter(status=status)
    return list(await query.order_by("kind", "code"))


async def _record_version(facility: Facility, change_request_id: int | None, now: datetime) -> None:
    await FacilityVersion.create(
        facility_id=facility.id,
        version=facility.version,
        snapshot=snapshot({k: getattr(facility, k) for k in SNAPSHOT_KEYS}),
        change_request_id=change_request_id,
        at=now,
    )


async def add_facilities(
    community_id: int,
    values: dict[str, Any],
    *,
    count: int,
    code: str | None,
    photo_id: int | None,
    change_request_id: int | None,
    now: datetime,
) -> list[Facility]:
    """Create `count` facilities (codes generated unless one is given), version 1 each."""
    if code is None:
        existing = await Facility.filter(
            community_id=community_id, kind=values["kind"]
        ).values_list("code", flat=True)
        codes = next_codes(values["kind"], [str(c) for c in existing], count)
    else:
        codes = [code]
    created = []
    name = values.get("name") or label("facility_kind", values["kind"])
    for n, each in enumerate(codes, start=1):
        facility = await Facility.create(
            community_id=community_id,
            code=each,
            kind=values["kind"],
            name=name if len(codes) == 1 else f"{name}{n}"[:64],
            location=values.get("location", ""),
            lat=values.get("lat"),
            lng=values.get("lng"),
            building=values.get("building", ""),
            photo_id=photo_id,
            status="active",
            version=1,
            updated_at=now,
        )
        await _record_version(facility, change_request_id, now)
        created.append(facility)
    return created


async def change_facility(
    facility: Facility,
    changes: dict[str, Any],
    *,
    change_request_id: int | None,
    now: datetime,
) -> Facility:
    """Apply field changes (or status=retired) as the next version of the facility."""
    for name, value in changes.items():
        setattr(facility, name, value)
    facility.version += 1
    facility.updated_at = now
    await facility.save()
    await _record_version(facility, change_request_id, now)
    return facility
