"""No resident's full phone number where the caller's role does not permit it, and no resident's
openid anywhere (issue 9, PIPL).

The walk is generic: every GET route in the app's route table under /api/v1 (those feed
/openapi.json) and every GET page under /console, as every staff role, a resident and a guest,
with path parameters filled from the seeded estate. New routes are covered without editing this
test. A full number may appear only for a role `may_see_phone` allows, only when asked for
(`?reveal=phone`), and only with an audit-log row written for that read.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from server.actions.changes import submit_change
from server.actions.exports import request_export
from server.actions.photos import attach_photo, store_photo
from server.actions.tasks import create_task
from server.api.access import STAFF_ROLES
from server.api.tokens import issue_token
from server.db.fees import FeeRow
from server.db.governance import AuditLog, Facility
from server.db.people import Department, Resident, Staff
from server.domain.privacy import may_see_phone
from tests.support.chat import PNG
from tests.support.seed import bearer, seed_estate, seed_supervision, token_for
from tests.support.servers import serving

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


async def test_no_full_resident_phone_where_the_role_does_not_permit_it(app, settings):
    estate, people, values = await seed_world(settings)
    phones = set(await Resident.all().values_list("phone", flat=True)) | {NEW_PHONE}
    # ID-like fields: residents' WeChat openids are never shown to anyone
    openids = {o for o in await Resident.all().values_list("openid", flat=True) if o}
    assert openids
    callers = [(role, bearer(token_for(settings, "staff", s.id)), s) for role, s in people.items()]
    callers.append(
        ("resident", bearer(token_for(settings, "resident", estate.resident_a.id)), None)
    )
    callers.append(("guest", bearer(token_for(settings, "guest", None)), None))
    leaks, errors, walked = [], [], 0
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        api = get_routes(app, "api/v1")  # the served app's finalized route table
        console = [p for p in get_routes(app, "console") if "static" not in p]
        assert len(api) >= 20
        for role, headers, staff in callers:
            pages = [(p, headers) for p in api]
            cookie = console_cookie(settings, staff) if staff is not None else None
            if cookie is not None:
                pages += [(p, cookie) for p in console]
            # Roles that may reveal are walked plain (never a number) and asking (only with an
            # audit row); the others asking, which is the plain walk plus the parameter.
            queries = ("", "?reveal=phone") if may_see_phone(role) else ("?reveal=phone",)
            for path, auth in pages:
                for query in queries:
                    url = fill(path, values) + query
                    audits = await AuditLog.all().count()
                    response = await client.get(url, headers=auth, follow_redirects=False)
                    walked += 1
                    if response.status_code >= 500:
                        errors.append(f"{role} GET {url}: {response.status_code}")
                    ids = {o for o in openids if o in response.text}
                    if ids:
                        leaks.append(f"{role} GET {url}: openids {sorted(ids)}")
                    shown = {p for p in phones if p in response.text}
                    if not shown:
                        continue
                    allowed = (
                        may_see_phone(role) and query and await AuditLog.all().count() > audits
                    )
                    if not allowed:
                        leaks.append(f"{role} GET {url}: {sorted(shown)}")
    assert walked > 100
    assert not leaks, "unmasked resident phones:\n" + "\n".join(leaks)
    assert not errors, "server errors:\n" + "\n".join(errors)


async def test_customer_service_sees_a_phone_in_clear_only_when_asking_and_it_is_logged(
    app, settings
):
    estate, people, _ = await seed_world(settings)
    desk = bearer(token_for(settings, "staff", people["customer_service"].id))
    url = f"/api/v1/households/{estate.room_a.id}"
    _, masked = await app.asgi_client.get(url, headers=desk)
    assert masked.status == 200
    assert [m["phone"] for m in masked.json["members"]] == ["138****1234"]
    assert await AuditLog.all().count() == 0

    _, clear = await app.asgi_client.get(url + "?reveal=phone", headers=desk)
    assert [m["phone"] for m in clear.json["members"]] == ["13800001234"]
    [audit] = await AuditLog.all()
    assert (audit.actor_id, audit.role, audit.action, audit.subject) == (
        people["customer_service"].id,
        "customer_service",
        "reveal_phone",
        f"room:{estate.room_a.id}",
    )
    staff = bearer(token_for(settings, "staff", people["staff"].id))
    _, refused = await app.asgi_client.get(url + "?reveal=phone", headers=staff)
    assert refused.status == 403


async def test_household_view_shows_rooms_fees_tasks_and_the_lookup_by_phone_is_masked(
    app, settings
):
    estate, people, values = await seed_world(settings)
    desk = bearer(token_for(settings, "staff", people["customer_service"].id))
    _, view = await app.asgi_client.get(f"/api/v1/households/{estate.room_a.id}", headers=desk)
    body = view.json
    [member] = body["members"]
    assert (member["name"], member["relation"]) == ("张伟", "owner")
    assert [r["room_id"] for r in member["rooms"]] == [estate.room_a.id]
    assert body["fees"]["outstanding"] == "300.00"
    assert [t["ref"] for t in body["tasks"]] == [values["task_ref"]]
    assert body["pending_changes"] == [values["change_ref"]]

    _, found = await app.asgi_client.get("/api/v1/households?phone=138-0000-1234", headers=desk)
    assert [(h["room_id"], h["phone"]) for h in found.json["items"]] == [
        (estate.room_a.id, "138****1234")
    ]
    _, bad = await app.asgi_client.get("/api/v1/households?phone=1234", headers=desk)
    assert bad.status == 400
    # a room of a community outside the caller's scope is not disclosed
    _, other = await app.asgi_client.get(f"/api/v1/households/{estate.room_b.id}", headers=desk)
    assert other.status == 404
