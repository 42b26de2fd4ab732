"""Notification HTTP API: mini-program subscribe answers and delivery status per task."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.actions.tasks import create_task
from server.db.outbox import SubscribeAuthorization
from server.workers.outbox import relay_once
from tests.support.seed import bearer, seed_estate, token_for

TZ = ZoneInfo("Asia/Shanghai")


def tomorrow_noon() -> datetime:
    day = datetime.now(TZ).date() + timedelta(days=1)
    return datetime.combine(day, time(12, 0), tzinfo=TZ).astimezone(UTC)


async def test_each_accept_grants_one_subscribe_send(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "resident", estate.resident_a.id, openid="m_res_a"))
    answer = {
        "errMsg": "requestSubscribeMessage:ok",
        "msub_rate_request": "accept",
        "msub_notice": "reject",
    }
    for _ in range(2):
        _, response = await app.asgi_client.post(
            "/api/v1/notify/subscriptions", json=answer, headers=headers
        )
        assert response.status == 200, response.json
    assert response.json["remaining"] == {"msub_rate_request": 2, "msub_notice": 0}
    auth = await SubscribeAuthorization.get(openid="m_res_a", template_id="msub_rate_request")
    assert (auth.app, auth.remaining) == ("miniapp", 2)


async def test_ban_removes_every_grant(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "resident", estate.resident_a.id, openid="m_res_a"))
    post = app.asgi_client.post
    await post("/api/v1/notify/subscriptions", json={"msub_notice": "accept"}, headers=headers)
    _, response = await post(
        "/api/v1/notify/subscriptions", json={"msub_notice": "ban"}, headers=headers
    )
    assert response.json["remaining"] == {"msub_notice": 0}


async def test_templates_we_do_not_send_are_ignored(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "resident", estate.resident_a.id, openid="m_res_a"))
    _, response = await app.asgi_client.post(
        "/api/v1/notify/subscriptions", json={"someone_elses": "accept"}, headers=headers
    )
    assert (response.status, response.json["ignored"]) == (200, ["someone_elses"])
    assert await SubscribeAuthorization.all().count() == 0


async def test_unknown_answer_is_a_400(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "resident", estate.resident_a.id, openid="m_res_a"))
    _, response = await app.asgi_client.post(
        "/api/v1/notify/subscriptions", json={"msub_notice": "maybe"}, headers=headers
    )
    assert response.status == 400


async def test_staff_of_the_community_see_how_each_message_of_a_task_went(app, settings, services):
    estate = await seed_estate()
    task = await create_task(
        community=estate.a,
        category="water",
        source="console",
        now=datetime.now(UTC),
        tz=TZ,
        room=estate.room_a,
        description="漏水",
    )
    await relay_once(services, now=tomorrow_noon())
    headers = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, response = await app.asgi_client.get(f"/api/v1/tasks/{task.ref}/deliveries", headers=headers)
    assert response.status == 200, response.json
    [item] = response.json["items"]
    assert (item["kind"], item["channel"], item["status"]) == ("task_assigned", "template", "sent")
    assert (item["recipient_kind"], item["recipient_id"]) == ("staff", estate.staff_a.id)
    assert response.json["summary"] == {"sent": 1}
    assert "phone" not in item and "openid" not in item


async def test_deliveries_of_another_communitys_task_are_not_found(app, settings):
    estate = await seed_estate()
    task = await create_task(
        community=estate.b,
        category="water",
        source="console",
        now=datetime.now(UTC),
        tz=TZ,
        room=estate.room_b,
        description="漏水",
    )
    headers = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, response = await app.asgi_client.get(f"/api/v1/tasks/{task.ref}/deliveries", headers=headers)
    assert response.status == 404


async def test_residents_may_not_read_delivery_status(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, response = await app.asgi_client.get("/api/v1/tasks/T1001/deliveries", headers=headers)
    assert response.status == 403
