"""Notices: targeting, WeChat first then SMS, arrears never withhold an outage notice,
scheduled sending, and progress per recipient over the API."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from server.actions.fanout import expand_once
from server.actions.notices import NoticeRefused, create_notice, resolve_audience
from server.db.comms import Notice
from server.db.estate import Building, Community, Room, Unit
from server.db.fees import FeeRow
from server.db.outbox import OutboxMessage
from server.db.people import Resident, RoomBinding
from server.workers.comms import comms_once
from server.workers.outbox import relay_once
from tests.support.notify import NIGHT, NOON
from tests.support.seed import bearer, seed_estate, token_for

HOUSEHOLDS = 1000
NO_WECHAT = 50  # 5%: openids WeChat refuses (40003), reached by SMS instead


async def households(community: Community, building_name: str, n: int) -> list[Resident]:
    """`n` rooms in one building, each with one owner who follows the account (bulk inserts)."""
    building = await Building.create(community=community, name=building_name)
    unit = await Unit.create(building=building, name="1")
    await Room.bulk_create(
        [
            Room(community=community, unit=unit, number=str(1000 + i), area_m2=Decimal("80"))
            for i in range(n)
        ],
        batch_size=500,
    )
    await Resident.bulk_create(
        [Resident(name=f"r{i}", phone=f"1351{i:07d}", openid=f"o_h{i}") for i in range(n)],
        batch_size=500,
    )
    rooms = dict(await Room.filter(unit=unit).values_list("number", "id"))
    people = await Resident.filter(phone__startswith="1351").order_by("id")
    await RoomBinding.bulk_create(
        [
            RoomBinding(resident_id=p.id, room_id=rooms[str(1000 + i)], relation="owner")
            for i, p in enumerate(people)
        ],
        batch_size=500,
    )
    return list(people)


async def relay_all(services, now: datetime, relays: int = 2) -> None:  # type: ignore[no-untyped-def]
    async def relay(n: int) -> None:
        while True:
            expanded = await expand_once(now, owner=f"r{n}", lease_s=60, batch=500)
            sent = await relay_once(services, now=now, batch=200)
            if not expanded and not sent:
                return

    await asyncio.gather(*(relay(n) for n in range(relays)))


async def test_notice_to_1000_households_reaches_those_without_wechat_by_sms(
    app, settings, services, wechat_calls
):
    estate = await seed_estate()
    people = await households(estate.a, "9", HOUSEHOLDS)
    unreachable = {p.openid for p in people[:NO_WECHAT]}
    wechat_calls.register_openids({p.openid for p in people} - unreachable)
    headers = bearer(token_for(settings, "staff", estate.manager_all.id))
    _, response = await app.asgi_client.post(
        "/api/v1/notices",
        json={
            "community_id": estate.a.id,
            "kind": "water_outage",
            "body": "Building 9: no water tomorrow 9:00-12:00",
            "buildings": ["9"],
        },
        headers=headers,
    )
    assert response.status == 201, response.json
    notice_id = response.json["notice"]["id"]
    assert response.json["notice"]["audience_size"] == HOUSEHOLDS

    await relay_all(services, datetime.now(UTC))

    templates = Counter(c["openid"] for c in wechat_calls.calls(kind="template"))
    sms = Counter(s["phone"] for s in wechat_calls.sms_sends)
    assert templates == {p.openid: 1 for p in people[NO_WECHAT:]}
    assert sms == {p.phone: 1 for p in people[:NO_WECHAT]}
    assert "o_res_a" not in templates  # building 5 is not in the audience

    _, response = await app.asgi_client.get(f"/api/v1/notices/{notice_id}", headers=headers)
    progress = response.json["notice"]["progress"]
    assert progress["recipients"] == HOUSEHOLDS
    assert progress["by_status"] == {"sent": HOUSEHOLDS}
    assert progress["by_channel"] == {"template": HOUSEHOLDS - NO_WECHAT, "sms": NO_WECHAT}

    _, response = await app.asgi_client.get(
        f"/api/v1/notices/{notice_id}/recipients?status=sent&limit=3", headers=headers
    )
    assert response.json["total"] == HOUSEHOLDS
    first = response.json["items"][0]
    assert first["channel"] == "sms" and first["status"] == "sent"
    assert first["phone"] == "135****0000"  # masked unless explicitly revealed


async def test_outage_notice_reaches_households_in_arrears_even_at_night(services, wechat_calls):
    estate = await seed_estate()
    await FeeRow.create(
        room=estate.room_a,
        period="2026-06",
        item="property_fee",
        amount_due=Decimal("1200.00"),
        amount_paid=Decimal("0.00"),
        due_date=date(2026, 6, 30),
    )
    audience = await resolve_audience(estate.a.id)
    outage = await create_notice(
        estate.a, "power_outage", "no power 1:00-3:00", audience, now=NIGHT
    )
    activity = await create_notice(estate.a, "activity", "market on Sunday", audience, now=NIGHT)
    await relay_all(services, NIGHT)
    rows = {
        m.values["notice_id"]: m.status
        for m in await OutboxMessage.filter(recipient_id=estate.resident_a.id)
    }
    assert rows == {outage.id: "sent", activity.id: "pending"}  # activity waits for 07:00
    assert [c["openid"] for c in wechat_calls.calls(kind="template")] == ["o_res_a"]


async def test_audience_by_unit_address_phone_and_relation(services):
    estate = await seed_estate()
    tenant = await Resident.create(name="t", phone="13700000001", openid="o_tenant")
    await RoomBinding.create(resident=tenant, room=estate.room_a, relation="tenant")
    outsider = await Resident.create(name="o", phone="13700000002")
    room = await Room.create(
        community=estate.a,
        unit=await Unit.get(building__community=estate.a),
        number="999",
        area_m2=Decimal("70"),
    )
    await RoomBinding.create(resident=outsider, room=room, relation="owner")

    async def names(**targets) -> set[str]:  # type: ignore[no-untyped-def]
        from server.actions.fanout import audience_query

        audience = await resolve_audience(estate.a.id, **targets)
        return set(await audience_query(audience).values_list("name", flat=True))

    assert await names(addresses=["5-2-302"]) == {"张伟", "t"}
    assert await names(addresses=["5-2-302"], relations=["tenant"]) == {"t"}
    assert await names(units=["5-2"]) == {"张伟", "t", "o"}
    assert await names(phones=["13700000002"]) == {"o"}
    assert await names(rooms=[room.id], phones=["13800001234"]) == {"o", "张伟"}
    for bad in ({"buildings": ["50"]}, {"addresses": ["5-2-1"]}, {"units": ["5"]}):
        try:
            await names(**bad)
        except NoticeRefused:
            continue
        raise AssertionError(f"{bad} was accepted")


async def test_scheduled_notice_goes_out_when_its_time_comes(services):
    estate = await seed_estate()
    audience = await resolve_audience(estate.a.id)
    notice = await create_notice(
        estate.a,
        "maintenance",
        "lift service",
        audience,
        now=NOON,
        send_at=NOON + timedelta(hours=2),
    )
    assert notice.status == "scheduled" and notice.broadcast_id is None
    assert await comms_once(services, NOON + timedelta(hours=1)) == 0
    assert await comms_once(services, NOON + timedelta(hours=2)) == 1
    notice = await Notice.get(id=notice.id)
    assert notice.status == "sent" and notice.broadcast_id is not None
    assert await comms_once(services, NOON + timedelta(hours=3)) == 0  # once only


async def test_notice_api_refuses_bad_input_and_other_roles(app, settings):
    estate = await seed_estate()
    manager = bearer(token_for(settings, "staff", estate.manager_all.id))
    body = {"community_id": estate.a.id, "kind": "water_outage", "body": "x"}
    cases = [
        ({**body, "kind": "party"}, 400),
        ({**body, "buildings": ["50"]}, 400),
        ({**body, "relations": ["landlord"]}, 400),
        ({**body, "send_at": "tomorrow"}, 400),
        ({**body, "community_id": 999}, 404),
    ]
    for sent, status in cases:
        _, response = await app.asgi_client.post("/api/v1/notices", json=sent, headers=manager)
        assert response.status == status, (sent, response.json)
        assert "error" in response.json
    worker = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, response = await app.asgi_client.post("/api/v1/notices", json=body, headers=worker)
    assert response.status == 403
    lead = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, response = await app.asgi_client.post(
        "/api/v1/notices", json={**body, "community_id": estate.b.id}, headers=lead
    )
    assert response.status == 404  # beta is outside the lead's estates
