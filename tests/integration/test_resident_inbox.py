"""The resident's inbox for the mini-program: GET /api/v1/me/notices and GET /api/v1/me/polls.

A resident sees only what was sent to them: another building of their estate, another estate
and a notice still scheduled stay out of their list; staff are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from server.db.comms import Poll
from server.db.estate import Building, Room, Unit
from server.db.people import Resident, RoomBinding
from tests.support.seed import Estate, bearer, seed_estate, token_for

QUESTIONS = [
    {"kind": "single", "text": "q1", "options": ["yes", "no"]},
    {"kind": "rating", "text": "q2"},
]


async def neighbour(estate: Estate) -> Resident:
    """A resident of building 9 in the same estate as resident_a (building 5)."""
    building = await Building.create(community=estate.a, name="9")
    unit = await Unit.create(building=building, name="1")
    room = await Room.create(community=estate.a, unit=unit, number="101", area_m2=Decimal("80"))
    person = await Resident.create(name="n", phone="13700000021", openid="o_neighbour")
    await RoomBinding.create(resident=person, room=room, relation="owner")
    return person


def as_resident(settings, person: Resident) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(token_for(settings, "resident", person.id))


async def send(app, settings, staff, **body):  # type: ignore[no-untyped-def]
    _, response = await app.asgi_client.post(
        "/api/v1/notices", json=body, headers=bearer(token_for(settings, "staff", staff.id))
    )
    assert response.status == 201, response.json
    return response.json["notice"]


async def my(app, headers, what: str):  # type: ignore[no-untyped-def]
    _, response = await app.asgi_client.get(f"/api/v1/me/{what}", headers=headers)
    return response


async def test_a_resident_sees_the_notices_sent_to_them_newest_first(app, settings):
    estate = await seed_estate()
    other = await neighbour(estate)
    water = await send(
        app,
        settings,
        estate.lead_a,
        community_id=estate.a.id,
        kind="water_outage",
        body="tomorrow 9:00-12:00 no water",
        buildings=["5"],
    )
    party = await send(
        app, settings, estate.lead_a, community_id=estate.a.id, kind="activity", body="party"
    )
    await send(  # still scheduled: not in anyone's list yet
        app,
        settings,
        estate.lead_a,
        community_id=estate.a.id,
        kind="maintenance",
        body="later",
        send_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    await send(  # another estate
        app, settings, estate.manager_all, community_id=estate.b.id, kind="emergency", body="b"
    )

    response = await my(app, as_resident(settings, estate.resident_a), "notices")
    assert response.status == 200
    items = response.json["items"]
    assert [n["id"] for n in items] == [party["id"], water["id"]]
    outage = items[1]
    assert (outage["kind"], outage["urgent"], outage["body"]) == (
        "water_outage",
        True,
        "tomorrow 9:00-12:00 no water",
    )
    assert outage["kind_name"] and outage["title"] and outage["sent_at"]
    assert items[0]["urgent"] is False

    response = await my(app, as_resident(settings, other), "notices")
    assert [n["id"] for n in response.json["items"]] == [party["id"]]


async def test_a_resident_sees_the_polls_they_may_answer_and_whether_they_did(app, settings):
    estate = await seed_estate()
    other = await neighbour(estate)
    closes = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    lead = bearer(token_for(settings, "staff", estate.lead_a.id))
    polls = []
    for title in ("first", "second"):
        _, response = await app.asgi_client.post(
            "/api/v1/polls",
            json={
                "community_id": estate.a.id,
                "title": title,
                "questions": QUESTIONS,
                "closes_at": closes,
                "buildings": ["5"],
            },
            headers=lead,
        )
        assert response.status == 201, response.json
        polls.append(response.json["poll"])
    resident = as_resident(settings, estate.resident_a)
    _, response = await app.asgi_client.put(
        f"/api/v1/polls/{polls[0]['id']}/answers",
        json={"answers": {"1": "A", "2": 4}},
        headers=resident,
    )
    assert response.status == 200
    _, response = await app.asgi_client.post(f"/api/v1/polls/{polls[0]['id']}/close", headers=lead)
    assert response.status == 200

    response = await my(app, resident, "polls")
    assert response.status == 200
    items = response.json["items"]
    assert [(p["title"], p["answered"], p["accepting"], p["status"]) for p in items] == [
        ("second", False, True, "open"),
        ("first", True, False, "closed"),
    ]
    assert items[0]["questions"] == 2

    # building 9 was not invited; a poll closed long ago has left the list
    assert (await my(app, as_resident(settings, other), "polls")).json["items"] == []
    await Poll.filter(id=polls[0]["id"]).update(closed_at=datetime.now(UTC) - timedelta(days=31))
    response = await my(app, resident, "polls")
    assert [p["title"] for p in response.json["items"]] == ["second"]


async def test_staff_and_guests_have_no_inbox(app, settings):
    estate = await seed_estate()
    for kind, person_id in (
        ("staff", estate.lead_a.id),
        ("staff", estate.manager_all.id),
        ("guest", None),
    ):
        headers = bearer(token_for(settings, kind, person_id, openid="o_someone"))
        for what in ("notices", "polls"):
            assert (await my(app, headers, what)).status == 403
    for what in ("notices", "polls"):
        assert (await my(app, {}, what)).status == 401
