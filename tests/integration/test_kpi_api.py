"""KPIs over HTTP: who may see whose figures, and figures that follow the task as it moves."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.db.reporting import TaskFact
from tests.integration.test_task_control import completed_repair, post
from tests.integration.test_task_lifecycle import create_repair
from tests.support.seed import bearer, seed_estate, seed_supervision, token_for

TZ = ZoneInfo("Asia/Shanghai")


def this_month() -> str:
    return datetime.now(UTC).astimezone(TZ).strftime("%Y-%m")


async def ask(app, settings, who, path: str = "/kpi", **query: str):  # type: ignore[no-untyped-def]
    query.setdefault("period", "month")
    query.setdefault("at", this_month())
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    headers = bearer(token_for(settings, "staff", who.id))
    _, response = await app.asgi_client.get(f"/api/v1{path}?{qs}", headers=headers)
    return response


async def test_staff_see_their_own_figures_only(app, settings):
    estate = await seed_estate()
    await completed_repair(app, settings, estate)
    mine = await ask(app, settings, estate.staff_a, scope="person")
    assert mine.status == 200, mine.json
    assert (mine.json["name"], mine.json["kpis"]["tasks"], mine.json["kpis"]["completed"]) == (
        "王强",
        1,
        1,
    )
    other = await ask(app, settings, estate.staff_a, scope="person", id=str(estate.lead_a.id))
    assert (other.status, other.json["error"]["code"]) == (403, "forbidden")
    team = await ask(app, settings, estate.staff_a, scope="department", id="eng")
    assert team.status == 403


async def test_a_lead_sees_the_department_and_its_people_but_not_others(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    await completed_repair(app, settings, estate)
    team = await ask(app, settings, estate.lead_a, scope="department", id="eng")
    assert (team.status, team.json["kpis"]["tasks"]) == (200, 1)
    person = await ask(app, settings, estate.lead_a, scope="person", id=str(estate.staff_a.id))
    assert (person.status, person.json["kpis"]["completion_ratio"]) == (200, 1.0)
    cleaning = await ask(app, settings, estate.lead_a, scope="department", id="cleaning")
    assert cleaning.status == 403
    outsider = await ask(
        app, settings, sup.cleaning_lead, scope="person", id=str(estate.staff_a.id)
    )
    assert outsider.status == 403


async def test_a_manager_sees_a_community_and_an_empty_one_has_no_ratios(app, settings):
    estate = await seed_estate()
    await completed_repair(app, settings, estate)
    alpha = await ask(app, settings, estate.manager_all, scope="community", id="alpha")
    assert (alpha.json["kpis"]["tasks"], alpha.json["kpis"]["completion_ratio"]) == (1, 1.0)
    beta = await ask(app, settings, estate.manager_all, scope="community", id="beta")
    assert (beta.json["kpis"]["tasks"], beta.json["kpis"]["completion_ratio"]) == (0, None)
    assert beta.json["kpis"]["timely_ratio"] is None


async def test_reopening_a_completed_task_changes_the_numbers(app, settings):
    estate = await seed_estate()
    ref = await completed_repair(app, settings, estate)
    before = await ask(app, settings, estate.lead_a, scope="department", id="eng")
    assert (before.json["kpis"]["completion_ratio"], before.json["kpis"]["rework_rate"]) == (
        1.0,
        0.0,
    )
    rework = await post(app, settings, estate.lead_a, f"/tasks/{ref}/rework", {"reason": "没修好"})
    assert rework.status == 200, rework.json
    after = await ask(app, settings, estate.lead_a, scope="department", id="eng")
    assert after.json["kpis"]["completion_ratio"] == 0.0
    assert after.json["kpis"]["rework_rate"] == 1.0
    fact = await TaskFact.get(task_id=int(ref[1:]) - 1000)
    assert (fact.completed, fact.ever_completed, fact.reworked, fact.assignee_id) == (
        False,
        True,
        True,
        estate.staff_a.id,
    )


async def test_the_summary_lists_what_was_done_and_how_it_was_rated(app, settings):
    estate = await seed_estate()
    ref = await completed_repair(app, settings, estate)
    rated = await post(app, settings, estate.service_desk, f"/tasks/{ref}/rate", {"score": 5})
    assert rated.status == 200, rated.json
    summary = await ask(app, settings, estate.lead_a, "/kpi/summary", scope="department", id="eng")
    assert summary.status == 200, summary.json
    [item] = summary.json["items"]
    assert (item["ref"], item["score"], item["on_time"]) == (ref, 5, True)
    [person] = summary.json["people"]
    assert (person["name"], person["kpis"]["excellence_rate"]) == ("王强", 1.0)


async def test_bad_periods_and_unknown_subjects_are_clear_errors(app, settings):
    estate = await seed_estate()
    bad = await ask(app, settings, estate.manager_all, scope="community", id="alpha", at="2026-13")
    assert (bad.status, bad.json["error"]["code"]) == (400, "bad_period")
    missing = await ask(app, settings, estate.manager_all, scope="department", id="nope")
    assert missing.status == 404
    scope = await ask(app, settings, estate.manager_all, scope="planet")
    assert (scope.status, scope.json["error"]["code"]) == (400, "bad_scope")


async def test_custom_report_groups_by_a_whitelisted_dimension(app, settings):
    estate = await seed_estate()
    await completed_repair(app, settings, estate)
    await create_repair(app, settings, estate, category="drains")
    report = await ask(
        app,
        settings,
        estate.manager_all,
        "/reports/custom",
        dimension="category",
        measure="count,completed",
    )
    assert report.status == 200, report.json
    rows = {r["key"]: (r["count"], r["completed"]) for r in report.json["rows"]}
    assert rows == {"water": (1, 1), "drains": (1, 0)}
    bad = await ask(app, settings, estate.manager_all, "/reports/custom", dimension="1;drop")
    assert (bad.status, bad.json["error"]["code"]) == (400, "bad_dimension")
    staff = await ask(app, settings, estate.staff_a, "/reports/custom")
    assert staff.status == 403


async def test_a_recorded_cost_shows_in_the_cost_report(app, settings):
    estate = await seed_estate()
    ref = await completed_repair(app, settings, estate)
    open_ref = (await create_repair(app, settings, estate))["ref"]
    early = await post(app, settings, estate.lead_a, f"/tasks/{open_ref}/cost", {"cost": 10})
    assert (early.status, early.json["error"]["code"]) == (409, "not_completed")
    saved = await post(app, settings, estate.lead_a, f"/tasks/{ref}/cost", {"cost": 85.5})
    assert (saved.status, saved.json["cost"]) == (200, 85.5)
    costs = await ask(app, settings, estate.manager_all, "/reports/costs")
    [row] = [r for r in costs.json["rows"] if r["cost"] is not None]
    assert (row["name"], row["cost"]) == ("阿尔法小区 5", 85.5)
    # a later transition keeps the recorded cost
    await post(app, settings, estate.service_desk, f"/tasks/{ref}/rate", {"score": 4})
    assert float((await TaskFact.get(task_id=int(ref[1:]) - 1000)).cost or 0) == 85.5
