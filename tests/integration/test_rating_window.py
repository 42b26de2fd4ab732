"""After completion the resident has 72 h to rate; then the task closes unrated and customer
service gets a callback task (repair.yaml: rating_window_s, callback_on_unrated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.db.outbox import OutboxMessage
from server.db.tasks import REF_OFFSET, Task, TaskEvent
from server.workers.timers import run_due_timers
from tests.integration.test_task_lifecycle import INSIDE, PNG, create_repair
from tests.support.seed import bearer, seed_estate, token_for


async def completed_repair(app, settings, estate):  # type: ignore[no-untyped-def]
    ref = (await create_repair(app, settings, estate))["ref"]
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    post = app.asgi_client.post
    await post(f"/api/v1/tasks/{ref}/accept", headers=staff)
    await post(f"/api/v1/tasks/{ref}/checkin", json=INSIDE, headers=staff)
    await post(
        f"/api/v1/tasks/{ref}/photos", headers=staff, files={"file": ("a.png", PNG, "image/png")}
    )
    _, done = await post(f"/api/v1/tasks/{ref}/complete", json={"note": "ok"}, headers=staff)
    assert done.json["state"] == "completed"
    return ref


async def fire_timers_at(services, when: datetime) -> None:  # type: ignore[no-untyped-def]
    while await run_due_timers(services, now=when):
        pass


async def test_unrated_repair_closes_after_72_h_and_customer_service_calls_back(
    app, settings, services
):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    ref = await completed_repair(app, settings, estate)
    task_id = int(ref[1:]) - REF_OFFSET

    await fire_timers_at(services, datetime.now(UTC) + timedelta(hours=71))
    assert (await Task.get(id=task_id)).state == "completed"  # still the resident's to rate
    assert not await Task.exists(kind="instruction")

    await fire_timers_at(services, datetime.now(UTC) + timedelta(hours=73))
    closed = await Task.get(id=task_id)
    assert (closed.state, closed.score) == ("closed", None)
    assert await TaskEvent.exists(task_id=task_id, action="close_unrated")
    [callback] = await Task.filter(kind="instruction")
    assert (callback.state, callback.assignee_id) == ("assigned", estate.service_desk.id)
    assert ref in callback.description and callback.source == "callback"
    told = await OutboxMessage.filter(kind="task_assigned", recipient_id=estate.service_desk.id)
    assert [m.subject for m in told] == [f"task:{callback.ref}"]

    # the desk calls, reports the outcome, and the callback is done
    desk = bearer(token_for(settings, "staff", estate.service_desk.id))
    post = app.asgi_client.post
    _, accepted = await post(f"/api/v1/tasks/{callback.ref}/accept", headers=desk)
    assert accepted.json["state"] == "accepted"


async def test_a_rated_repair_gets_no_callback(app, settings, services):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    ref = await completed_repair(app, settings, estate)
    resident = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, rated = await app.asgi_client.post(
        f"/api/v1/tasks/{ref}/rate", json={"score": 5}, headers=resident
    )
    assert rated.json["state"] == "closed"
    await fire_timers_at(services, datetime.now(UTC) + timedelta(hours=73))
    assert not await Task.exists(kind="instruction")
