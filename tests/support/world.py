"""A seeded world for the generic route walks: the seed estate, one person per role and
something of every kind to read, and how to fill a route's path with its ids.

Used by tests/integration/test_masking_walk.py and tests/abuse/test_cross_community.py (import
the `settings` fixture from here too: exports need their owners and directory).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from server.actions.changes import submit_change
from server.actions.exports import request_export
from server.actions.photos import attach_photo, store_photo
from server.actions.tasks import create_task
from server.api.access import STAFF_ROLES
from server.api.tokens import issue_token
from server.db.fees import FeeRow
from server.db.governance import Facility
from server.db.people import Department, Staff
from tests.support.chat import PNG
from tests.support.seed import seed_estate, seed_supervision

NEW_PHONE = "13877776666"  # a correction waiting for approval: personal data too
PARAM = re.compile(r"<(\w+)(?::([^>]+))?>")


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    governance = replace(
        settings.governance,
        owners={"*": "eng", "resident_data": "cs"},
        export_owners={"residents": "cs"},
        export_dir=tmp_path / "exports",
    )
    return settings.with_(governance=governance)


async def seed_world(settings):  # type: ignore[no-untyped-def]
    """The seed estate plus one person per role and something of every kind to read."""
    estate = await seed_estate()
    await seed_supervision(estate)
    now = datetime.now(UTC)
    tz = ZoneInfo(settings.tz_name)
    task = await create_task(
        community=estate.a,
        category="water",
        source="wechat",
        now=now,
        tz=tz,
        room=estate.room_a,
        description="kitchen pipe leaking",
        reporter=estate.resident_a,
    )
    photo = await store_photo(
        PNG,
        media_dir=settings.media_dir,
        uploaded_by_kind="resident",
        uploaded_by_id=estate.resident_a.id,
        now=now,
    )
    await attach_photo(photo, task.id)
    await FeeRow.create(
        room=estate.room_a,
        period="2026-05",
        item="property_fee",
        amount_due=Decimal("300.00"),
        amount_paid=Decimal("0.00"),
        due_date=now.date(),
    )
    await Facility.create(
        community=estate.a, code="lamp-001", kind="street_lamp", name="lamp", updated_at=now
    )
    walkers = await Department.create(code="walk", name="walk", kind="internal")
    people = {}
    for n, role in enumerate(sorted(STAFF_ROLES)):
        person = await Staff.create(
            employee_no=f"W{n}",
            name=f"w{n}",
            phone=f"1370000000{n}",
            department=walkers,
            role=role,
            all_communities=role == "manager",
        )
        if role != "manager":
            await person.communities.add(estate.a)
        people[role] = person
    change = await submit_change(
        staff=estate.service_desk,
        community=estate.a,
        kind="resident_data",
        values={"phone": NEW_PHONE},
        resident_id=estate.resident_a.id,
        photo_ids=[],
        note=f"new number {NEW_PHONE}",
        now=now,
        governance=settings.governance,
    )
    export = await request_export(
        people["data_admin"],
        dataset="residents",
        filters={},
        fields=[],
        purpose="walk",
        now=now,
        governance=settings.governance,
    )
    values = {
        "code": "alpha",
        "room_id": estate.room_a.id,
        "task_ref": task.ref,
        "change_ref": change.ref,
        "export_id": export.id,
        "photo_id": photo.id,
        "facility_code": "lamp-001",
        "resident_id": estate.resident_a.id,
    }
    return estate, people, values


def fill(path: str, values: dict) -> str:  # type: ignore[type-arg]
    """A route path with its parameters replaced by seeded ids of the caller's community."""

    def one(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2) or "str"
        if name == "ref":
            return str(values["change_ref"] if "change-requests" in path else values["task_ref"])
        if name in values:
            return str(values[name])
        return "1" if kind == "int" else "alpha"

    return "/" + PARAM.sub(one, path)


def get_routes(app, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(
        {r.path for r in app.router.routes if r.path.startswith(prefix) and "GET" in r.methods}
    )


def console_cookie(settings, staff: Staff) -> dict[str, str] | None:  # type: ignore[no-untyped-def]
    """A console session for this staff member, when the console exists (issue 8)."""
    try:
        from server.console import routes as console
    except ImportError:
        return None
    token = issue_token(settings.secret_key, {"kind": "console", "id": staff.id}, 600)
    return {"cookie": f"{console.SESSION_COOKIE}={token}"}
