"""The lawful arrears hold: a chargeable in-home repair of a household in arrears waits for
payment with its clocks paused; a signed payment notification resumes it at once; a manager may
override; safety, public-spot and urgent tasks are never held (docs/fees.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.actions.gateway_policy import DIRTY_KEY
from server.db.outbox import OutboxMessage
from server.db.tasks import Task, TaskClock, TaskEvent, Timer
from server.workers.timers import run_due_timers
from tests.support.fees import billing_clerk, notification, notify, owe
from tests.support.seed import bearer, seed_estate, token_for


async def report(app, settings, estate, **extra):
    """The service desk files a repair for 5-2-302 on behalf of its resident (张伟)."""
    body = {
        "community": "alpha",
        "building": "5",
        "unit": "2",
        "room": "302",
        "category": "water",
        "description": "厨房水龙头坏了",
        "reporter_phone": "13800001234",
        **extra,
    }
    headers = bearer(token_for(settings, "staff", estate.service_desk.id))
    _, response = await app.asgi_client.post("/api/v1/tasks", json=body, headers=headers)
    assert response.status == 201, response.json
    return response.json


async def in_arrears(estate):
    """Four months of property fees overdue: past the 3-month threshold."""
    await owe(estate.room_a, days_overdue=130, amount="960.00")


async def test_chargeable_in_home_repair_of_a_household_in_arrears_is_held(app, settings, services):
    estate = await seed_estate()
    clerk = await billing_clerk(estate)
    await in_arrears(estate)
    task = await report(app, settings, estate)
    assert (task["state"], task["assignee"]) == ("held_for_payment", None)
    held = await Task.get(id=ref_id(task))
    assert held.respond_by is None and held.resolve_by is None  # unknown while paused
    clocks = await TaskClock.filter(task_id=held.id)
    assert clocks and all(c.paused_at is not None for c in clocks)
    assert await Timer.filter(task_id=held.id, cancelled=False, fired_at=None).count() == 0
    # a month later nothing has breached: timers do not fire while the task is held
    later = datetime.now(UTC) + timedelta(days=30)
    while await run_due_timers(services, now=later):
        pass
    assert await TaskEvent.filter(task_id=held.id, action__startswith="sla_").count() == 0
    told = {
        (m.kind, m.recipient_kind, m.recipient_id)
        for m in await OutboxMessage.filter(subject=f"task:{task['ref']}")
    }
    assert told == {
        ("arrears_hold", "resident", estate.resident_a.id),
        ("arrears_hold_billing", "staff", clerk.id),
    }
    message = await OutboxMessage.get(kind="arrears_hold")
    assert message.values["overdue_amount"] == "960.00" and message.values["overdue_months"] >= 4


def ref_id(task_json) -> int:
    return int(task_json["ref"][1:]) - 1000


async def test_signed_payment_notification_resumes_the_held_task(app, settings, services):
    estate = await seed_estate()
    await in_arrears(estate)
    task = await report(app, settings, estate)
    held_since = datetime.now(UTC)
    response = await notify(app, settings, notification("wx-pay-0001", "960.00"))
    assert response.status == 201, response.json
    assert response.json["resumed"] == [task["ref"]]

    resumed = await Task.get(id=ref_id(task))
    assert (resumed.state, resumed.assignee_id) == ("assigned", estate.staff_a.id)
    actions = [e.action for e in await TaskEvent.filter(task_id=resumed.id).order_by("id")]
    assert actions == ["submit", "hold", "resume", "assign"]
    # the handler is told as for any new task, the resident that the work goes ahead
    kinds = {
        (m.kind, m.recipient_id) for m in await OutboxMessage.filter(subject=f"task:{task['ref']}")
    }
    assert ("task_assigned", estate.staff_a.id) in kinds
    assert ("task_resumed", estate.resident_a.id) in kinds
    # the clocks run again from the payment: the held time is not counted
    clocks = await TaskClock.filter(task_id=resumed.id)
    assert all(c.paused_at is None and c.started_at >= held_since for c in clocks)
    assert resumed.respond_by is not None and resumed.respond_by > held_since
    assert await Timer.filter(task_id=resumed.id, cancelled=False, fired_at=None).count() > 0
    # the gateway policy of the community is rebuilt (gate reminders depend on arrears)
    queued = await services.redis.lrange(f"{settings.redis_prefix}{DIRTY_KEY}", 0, -1)
    assert b"alpha" in queued or "alpha" in queued


async def test_a_partial_payment_still_over_the_threshold_keeps_the_task_held(
    app, settings, services
):
    estate = await seed_estate()
    await owe(estate.room_a, days_overdue=130, amount="960.00")
    await owe(estate.room_a, days_overdue=100, amount="960.00")
    task = await report(app, settings, estate)
    response = await notify(app, settings, notification("wx-pay-0002", "960.00"))
    assert (response.status, response.json["resumed"]) == (201, [])
    assert (await Task.get(id=ref_id(task))).state == "held_for_payment"


async def test_manager_overrides_a_hold_with_a_reason(app, settings, services):
    estate = await seed_estate()
    await in_arrears(estate)
    task = await report(app, settings, estate)
    manager = bearer(token_for(settings, "staff", estate.manager_all.id))
    url = f"/api/v1/tasks/{task['ref']}/override-hold"
    _, r = await app.asgi_client.post(url, json={}, headers=manager)
    assert (r.status, r.json["error"]["code"]) == (400, "missing_field")
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, r = await app.asgi_client.post(url, json={"reason": "我想放行"}, headers=staff)
    assert r.status == 403
    _, r = await app.asgi_client.post(url, json={"reason": "业主已承诺本周缴清"}, headers=manager)
    assert r.status == 200, r.json
    assert (r.json["state"], r.json["assignee"]["name"]) == ("assigned", "王强")
    event = await TaskEvent.get(task_id=ref_id(task), action="override")
    assert (event.actor_name, event.note) == ("赵敏", "业主已承诺本周缴清")


async def test_safety_public_and_urgent_tasks_of_the_same_household_are_never_held(
    app, settings, services
):
    estate = await seed_estate()
    await in_arrears(estate)
    gas = await report(app, settings, estate, category="gas", description="厨房有燃气味")
    public = await report(
        app, settings, estate, room="", building="", unit="", place="东门", description="东门水管漏"
    )
    urgent = await report(app, settings, estate, urgency="urgent", description="水管爆了")
    for task in (gas, public, urgent):
        assert task["state"] != "held_for_payment", task
        assert not await TaskEvent.filter(task_id=ref_id(task), action="hold").exists()
    assert not await OutboxMessage.filter(kind__startswith="arrears_hold").exists()


async def test_a_household_not_past_the_threshold_is_served_as_usual(app, settings, services):
    estate = await seed_estate()
    await owe(estate.room_a, days_overdue=20, amount="320.00")  # overdue, below the thresholds
    task = await report(app, settings, estate)
    assert task["state"] == "assigned"


async def test_resident_may_cancel_a_held_task(app, settings, services):
    estate = await seed_estate()
    await in_arrears(estate)
    task = await report(app, settings, estate)
    resident = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, r = await app.asgi_client.post(
        f"/api/v1/tasks/{task['ref']}/cancel", json={}, headers=resident
    )
    assert (r.status, r.json["state"]) == (200, "cancelled")
