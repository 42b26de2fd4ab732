"""GET /api/v1/sla/breaches: late tasks, where they are stuck, how late, how far escalated."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.actions.tasks import Actor, Move, create_task, fire
from server.workers.timers import run_due_timers
from tests.support.seed import bearer, seed_estate, token_for

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


async def report(estate, when: str, room=None, community=None):  # type: ignore[no-untyped-def]
    return await create_task(
        community=community or estate.a,
        category="water",
        source="console",
        now=at(when),
        tz=TZ,
        room=room or estate.room_a,
        description="漏水",
    )


async def breaches(app, settings, staff, query: str = ""):  # type: ignore[no-untyped-def]
    headers = bearer(token_for(settings, "staff", staff.id))
    _, response = await app.asgi_client.get(f"/api/v1/sla/breaches{query}", headers=headers)
    return response


async def test_late_tasks_are_listed_most_late_first(app, settings, services):
    estate = await seed_estate()
    newer = await report(estate, "2026-03-03 09:00")
    older = await report(estate, "2026-03-02 09:00")
    response = await breaches(app, settings, estate.manager_all)
    assert response.status == 200
    assert [item["ref"] for item in response.json["items"]] == [older.ref, newer.ref]


async def test_a_breach_says_where_the_task_is_stuck(app, settings, services):
    estate = await seed_estate()
    task = await report(estate, "2026-03-02 09:00")
    while await run_due_timers(services, now=at("2026-03-02 12:01")):
        pass  # respond breached at 11:00, escalated to the lead at 12:00
    [item] = (await breaches(app, settings, estate.manager_all)).json["items"]
    assert (item["ref"], item["state"], item["department"], item["assignee"]["name"]) == (
        task.ref,
        "assigned",
        "eng",
        "王强",
    )
    assert item["since"] == at("2026-03-02 09:00").isoformat()  # breach notices are not progress
    respond = next(c for c in item["clocks"] if c["clock"] == "respond")
    assert (respond["due_at"], respond["level"]) == (at("2026-03-02 11:00").isoformat(), 2)
    assert item["level"] == 2 and item["late_s"] > 0


async def test_stopped_clocks_are_not_late(app, settings, services):
    estate = await seed_estate()
    task = await report(estate, "2026-03-02 09:00")
    await fire(
        task.ref,
        "accept",
        Actor.of_staff(estate.staff_a),
        Move(),
        now=at("2026-03-02 09:30"),
        tz=TZ,
    )
    [item] = (await breaches(app, settings, estate.manager_all)).json["items"]
    assert sorted(c["clock"] for c in item["clocks"]) == ["arrive", "resolve"]


async def test_tasks_on_time_are_not_listed(app, settings, services):
    estate = await seed_estate()
    await create_task(
        community=estate.a,
        category="water",
        source="console",
        now=datetime.now(UTC),
        tz=TZ,
        room=estate.room_a,
        description="漏水",
    )
    assert (await breaches(app, settings, estate.manager_all)).json["items"] == []


async def test_field_staff_may_not_see_the_overview(app, settings, services):
    estate = await seed_estate()
    assert (await breaches(app, settings, estate.staff_a)).status == 403


async def test_a_lead_sees_only_the_communities_they_serve(app, settings, services):
    estate = await seed_estate()
    await report(estate, "2026-03-02 09:00", room=estate.room_b, community=estate.b)
    assert (await breaches(app, settings, estate.lead_a)).json["items"] == []
    assert len((await breaches(app, settings, estate.manager_all)).json["items"]) == 1


async def test_a_community_outside_the_scope_is_not_found(app, settings, services):
    estate = await seed_estate()
    response = await breaches(app, settings, estate.lead_a, "?community=beta")
    assert (response.status, response.json["error"]["code"]) == (404, "not_found")


async def test_filter_by_community_and_department(app, settings, services):
    estate = await seed_estate()
    await report(estate, "2026-03-02 09:00")
    await report(estate, "2026-03-02 09:00", room=estate.room_b, community=estate.b)
    manager = estate.manager_all
    assert len((await breaches(app, settings, manager, "?community=alpha")).json["items"]) == 1
    assert len((await breaches(app, settings, manager, "?department=eng")).json["items"]) == 2
    assert (await breaches(app, settings, manager, "?department=cs")).json["items"] == []
    assert (await breaches(app, settings, manager, "?department=nope")).status == 404


async def test_a_bad_limit_is_refused(app, settings, services):
    estate = await seed_estate()
    response = await breaches(app, settings, estate.manager_all, "?limit=0")
    assert (response.status, response.json["error"]["code"]) == (400, "bad_limit")


async def test_contractor_lead_cannot_read_the_company_breach_overview(app, settings):
    from tests.support.seed import bearer, seed_estate, seed_supervision, token_for

    supervision = await seed_supervision(await seed_estate())
    headers = bearer(token_for(settings, "staff", supervision.contractor_lead.id))
    _, response = await app.asgi_client.get("/api/v1/sla/breaches", headers=headers)
    assert response.status == 403
