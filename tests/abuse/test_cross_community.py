"""Every role of estate A tries estate B's data through every route and console page.

Generic like tests/integration/test_masking_walk.py: the route table is walked (new routes are
covered without editing this test) with every path parameter filled with estate B's ids and
references. Reads must show nothing of B; writes must change nothing of B.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx

from server.actions.tasks import create_task
from server.db.fees import FeeRow
from server.db.governance import Facility
from server.db.people import Resident
from server.db.tasks import Task, TaskEvent
from server.domain.privacy import mask_phone
from tests.support.seed import bearer, token_for
from tests.support.servers import serving
from tests.support.world import PARAM, console_cookie, seed_world
from tests.support.world import settings as settings  # its settings fixture

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


async def seed_beta(settings, estate):  # type: ignore[no-untyped-def]
    """Estate B's own things, each carrying a marker that must never reach A's people."""
    now = datetime.now(UTC)
    neighbour = await Resident.get(phone="13900005678")  # 李娜, owner of B's room
    task = await create_task(
        community=estate.b,
        category="water",
        source="wechat",
        now=now,
        tz=ZoneInfo(settings.tz_name),
        room=estate.room_b,
        description="beta-secret-leak",
        reporter=neighbour,
    )
    await FeeRow.create(
        room=estate.room_b,
        period="2026-04",
        item="property_fee",
        amount_due=Decimal("4321.09"),
        amount_paid=Decimal("0.00"),
        due_date=now.date(),
    )
    await Facility.create(
        community=estate.b, code="beta-lamp-77", kind="street_lamp", name="beta", updated_at=now
    )
    values = {
        "code": "beta",
        "community_id": estate.b.id,
        "room_id": estate.room_b.id,
        "task_ref": task.ref,
        "ref": task.ref,
        "facility_code": "beta-lamp-77",
        "resident_id": neighbour.id,
    }
    # The phone as shown masked and whole. A short marker of hex digits alone, such as a bare
    # "5678", turns up by chance in the 64-hex CSRF token every console page carries (about 4 %
    # of runs failed on it).
    phone = {neighbour.phone, mask_phone(neighbour.phone)}
    markers = {task.ref, "beta-secret-leak", "李娜", "4321.09", "beta-lamp-77", *phone}
    return task, values, markers


def fill_beta(path: str, values: dict) -> str:  # type: ignore[type-arg]
    def one(match):  # type: ignore[no-untyped-def]
        name, kind = match.group(1), match.group(2) or "str"
        if name in values:
            return str(values[name])
        return str(values["room_id"]) if kind == "int" else "beta"

    return "/" + PARAM.sub(one, path)


def routes(app, prefix: str, methods: tuple[str, ...]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = set()
    for route in app.router.routes:
        if route.path.startswith(prefix) and "static" not in route.path:
            found |= {(m, route.path) for m in route.methods if m in methods}
    return sorted(found)


async def beta_state(task: Task) -> tuple:  # type: ignore[type-arg]
    fresh = await Task.get(id=task.id)
    return (
        fresh.state,
        fresh.assignee_id,
        await TaskEvent.filter(task_id=task.id).count(),
        await FeeRow.filter(room_id=task.room_id, amount_paid__gt=0).count(),
        await Facility.filter(community_id=task.community_id).count(),
    )


async def test_people_of_estate_a_cannot_read_or_change_estate_b(app, settings):  # type: ignore[no-untyped-def]
    estate, people, _ = await seed_world(settings)
    task, values, markers = await seed_beta(settings, estate)
    before = await beta_state(task)
    callers = [
        (role, bearer(token_for(settings, "staff", s.id)), s)
        for role, s in people.items()
        if not s.all_communities  # a manager of every estate may see B: not an intruder
    ]
    callers.append(
        ("resident", bearer(token_for(settings, "resident", estate.resident_a.id)), None)
    )
    leaks, errors, walked = [], [], 0
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        reads = routes(app, "api/v1", ("GET",))
        writes = routes(app, "api/v1", WRITE_METHODS)
        pages = routes(app, "console", ("GET",))
        assert len(reads) >= 20 and len(writes) >= 10
        for role, headers, staff in callers:
            cookie = console_cookie(settings, staff) if staff is not None else None
            attempts = [(m, p, headers) for m, p in reads + writes]
            if cookie is not None:
                attempts += [(m, p, cookie) for m, p in pages]
            for method, path, auth in attempts:
                url = fill_beta(path, values)
                body = {"note": "x", "reason": "x", "score": 5, "amount": "4321.09"}
                response = await client.request(
                    method,
                    url,
                    headers=auth,
                    json=body if method != "GET" else None,
                    follow_redirects=False,
                )
                walked += 1
                if response.status_code >= 500:
                    errors.append(f"{role} {method} {url}: {response.status_code}")
                if method != "GET" and response.status_code < 400:
                    leaks.append(f"{role} {method} {url}: accepted ({response.status_code})")
                shown = {m for m in markers if m in response.text}
                if shown:
                    leaks.append(f"{role} {method} {url}: {sorted(shown)}")
    assert walked > 200
    assert not errors, "server errors:\n" + "\n".join(errors)
    assert not leaks, "estate B reached by estate A:\n" + "\n".join(leaks)
    assert await beta_state(task) == before
