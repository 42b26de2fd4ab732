"""A repair through the HTTP API: routed, accepted, checked in, completed with evidence, rated."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.db.tasks import Task, TaskEvent
from server.workers.outbox import relay_once
from tests.support.seed import bearer, seed_estate, token_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
INSIDE = {"lat": 30.2891, "lng": 120.1212, "accuracy": 15}
OUTSIDE = {"lat": 30.3050, "lng": 120.1500, "accuracy": 15}


def tomorrow_noon() -> datetime:
    """A relay time outside quiet hours (22:00-07:00), when non-urgent messages go out too."""
    tz = ZoneInfo("Asia/Shanghai")
    day = datetime.now(tz).date() + timedelta(days=1)
    return datetime.combine(day, time(12, 0), tzinfo=tz).astimezone(UTC)


async def create_repair(app, settings, estate, **extra):
    headers = bearer(token_for(settings, "staff", estate.service_desk.id))
    body = {
        "community": "alpha",
        "building": "5",
        "unit": "2",
        "room": "302",
        "category": "water",
        "description": "卫生间漏水",
        "reporter_phone": "13800001234",
        **extra,
    }
    _, response = await app.asgi_client.post("/api/v1/tasks", json=body, headers=headers)
    assert response.status == 201, response.json
    return response.json


async def test_customer_service_task_is_routed_to_department_staff(
    app, settings, services, wechat_calls
):
    estate = await seed_estate()
    task = await create_repair(app, settings, estate)
    assert task["ref"].startswith("T")
    assert (task["state"], task["assignee"]["name"], task["department"]) == (
        "assigned",
        "王强",
        "eng",
    )
    await relay_once(services)
    [message] = wechat_calls.calls(kind="template", openid="o_staff_a")
    assert message["payload"]["data"]["character_string1"]["value"] == task["ref"]


async def test_full_repair_lifecycle_through_the_api(app, settings, services, wechat_calls):
    estate = await seed_estate()
    task = await create_repair(app, settings, estate)
    ref = task["ref"]
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    post = app.asgi_client.post

    _, r = await post(f"/api/v1/tasks/{ref}/accept", headers=staff)
    assert r.json["state"] == "accepted"
    _, r = await post(f"/api/v1/tasks/{ref}/checkin", json=OUTSIDE, headers=staff)
    assert (r.status, r.json["error"]["code"]) == (400, "outside_geofence")
    _, r = await post(f"/api/v1/tasks/{ref}/checkin", json=INSIDE, headers=staff)
    assert (r.json["state"], r.json["arrived_late"]) == ("on_site", False)
    _, r = await post(f"/api/v1/tasks/{ref}/complete", json={"note": "换了阀门"}, headers=staff)
    assert (r.status, r.json["error"]["code"]) == (409, "needs_photo")
    _, r = await post(
        f"/api/v1/tasks/{ref}/photos", headers=staff, files={"file": ("site.png", PNG, "image/png")}
    )
    assert r.status == 201
    _, r = await post(f"/api/v1/tasks/{ref}/complete", json={"note": "换了阀门"}, headers=staff)
    assert r.json["state"] == "completed"

    await relay_once(services, now=tomorrow_noon())  # rate_request is not sent in quiet hours
    sent = [c["payload"].get("template_id") for c in wechat_calls.calls(openid="o_res_a")]
    assert "tmpl_rate_request" in sent  # relays send concurrently: order is not guaranteed
    resident = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, r = await post(
        f"/api/v1/tasks/{ref}/rate", json={"score": 5, "comment": "很快"}, headers=resident
    )
    assert (r.json["state"], r.json["score"]) == ("closed", 5)

    _, detail = await app.asgi_client.get(f"/api/v1/tasks/{ref}", headers=resident)
    actions = [e["action"] for e in detail.json["events"]]
    assert actions == ["submit", "assign", "accept", "check_in", "complete", "rate"]
    assert detail.json["events"][3]["lat"] == INSIDE["lat"]
    assert len(detail.json["photo_ids"]) == 1


async def test_low_rating_reopens_to_department_lead(app, settings, services, wechat_calls):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    for path, body in (("accept", None), ("checkin", INSIDE)):
        await app.asgi_client.post(f"/api/v1/tasks/{ref}/{path}", json=body, headers=staff)
    await app.asgi_client.post(
        f"/api/v1/tasks/{ref}/photos", headers=staff, files={"file": ("a.png", PNG, "image/png")}
    )
    await app.asgi_client.post(f"/api/v1/tasks/{ref}/complete", json={}, headers=staff)
    resident = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, r = await app.asgi_client.post(
        f"/api/v1/tasks/{ref}/rate", json={"score": 2, "comment": "还在漏"}, headers=resident
    )
    assert r.status == 200, r.json
    assert (r.json["state"], r.json["assignee"]["name"]) == ("reopened", "钱工")
    await relay_once(services)
    [reopened] = wechat_calls.calls(kind="template", openid="o_lead_a")[-1:]
    assert reopened["payload"]["template_id"] == "tmpl_task_reopened"


async def test_photo_that_is_not_an_image_is_refused(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, r = await app.asgi_client.post(
        f"/api/v1/tasks/{ref}/photos",
        headers=staff,
        files={"file": ("x.png", b"GIF89a....", "image/png")},
    )
    assert (r.status, r.json["error"]["code"]) == (400, "wrong_type")


async def test_other_staff_cannot_accept_someone_elses_task(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    lead = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, r = await app.asgi_client.post(f"/api/v1/tasks/{ref}/accept", headers=lead)
    assert (r.status, r.json["error"]["code"]) == (403, "not_allowed")


async def test_resident_of_another_household_cannot_see_the_task(app, settings):
    from server.db.people import Resident

    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    other = await Resident.get(phone="13900005678")
    _, r = await app.asgi_client.get(
        f"/api/v1/tasks/{ref}", headers=bearer(token_for(settings, "resident", other.id))
    )
    assert r.status == 404


async def test_late_check_in_is_recorded_as_late(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    task = await Task.get(id=int(ref[1:]) - 1000)
    task.arrive_by = datetime.now(UTC) - timedelta(minutes=1)
    await task.save(update_fields=["arrive_by"])
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    await app.asgi_client.post(f"/api/v1/tasks/{ref}/accept", headers=staff)
    _, r = await app.asgi_client.post(f"/api/v1/tasks/{ref}/checkin", json=INSIDE, headers=staff)
    assert r.json["arrived_late"] is True
    event = await TaskEvent.get(task_id=task.id, action="check_in")
    assert event.data == {"late": True}


async def test_residents_photo_is_not_site_evidence(app, settings):
    estate = await seed_estate()
    ref = (await create_repair(app, settings, estate))["ref"]
    resident = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, r = await app.asgi_client.post(
        f"/api/v1/tasks/{ref}/photos",
        headers=resident,
        files={"file": ("leak.png", PNG, "image/png")},
    )
    assert r.status == 201
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    await app.asgi_client.post(f"/api/v1/tasks/{ref}/accept", headers=staff)
    await app.asgi_client.post(f"/api/v1/tasks/{ref}/checkin", json=INSIDE, headers=staff)
    _, r = await app.asgi_client.post(f"/api/v1/tasks/{ref}/complete", json={}, headers=staff)
    assert (r.status, r.json["error"]["code"]) == (409, "needs_photo")
