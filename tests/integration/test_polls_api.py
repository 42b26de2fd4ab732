"""Polls over HTTP: the mini-program answers (one vote per household or per person), the
owner closes, and the report is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.db.comms import PollBallot, PollReport
from server.db.outbox import OutboxMessage
from server.db.people import Resident, RoomBinding
from tests.support.seed import bearer, seed_estate, seed_supervision, token_for

QUESTIONS = [
    {"kind": "single", "text": "q1", "options": ["yes", "no"]},
    {"kind": "rating", "text": "q2"},
]


async def make_poll(app, settings, estate, **changes):  # type: ignore[no-untyped-def]
    body = {
        "community_id": estate.a.id,
        "title": "t",
        "questions": QUESTIONS,
        "closes_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        **changes,
    }
    _, response = await app.asgi_client.post(
        "/api/v1/polls", json=body, headers=bearer(token_for(settings, "staff", estate.lead_a.id))
    )
    return response


async def test_one_vote_per_household_the_later_answer_replaces(app, settings):
    estate = await seed_estate()
    spouse = await Resident.create(name="s", phone="13700000009", openid="o_spouse")
    await RoomBinding.create(resident=spouse, room=estate.room_a, relation="family")
    poll = (await make_poll(app, settings, estate)).json["poll"]
    for person, answers in ((estate.resident_a, {"1": "A", "2": 5}), (spouse, {"1": 1, "2": "2"})):
        _, response = await app.asgi_client.put(
            f"/api/v1/polls/{poll['id']}/answers",
            json={"answers": answers},
            headers=bearer(token_for(settings, "resident", person.id)),
        )
        assert response.status == 200, response.json
    ballots = await PollBallot.filter(poll_id=poll["id"])
    assert [(b.voter_key, b.answers) for b in ballots] == [
        (f"room:{estate.room_a.id}", {"1": 1, "2": 2})
    ]
    _, response = await app.asgi_client.get(
        f"/api/v1/polls/{poll['id']}",
        headers=bearer(token_for(settings, "resident", estate.resident_a.id)),
    )
    assert response.json["poll"]["answers"] == {"1": 1, "2": 2}


async def test_one_vote_per_person_keeps_both(app, settings):
    estate = await seed_estate()
    spouse = await Resident.create(name="s", phone="13700000009", openid="o_spouse")
    await RoomBinding.create(resident=spouse, room=estate.room_a, relation="family")
    poll = (await make_poll(app, settings, estate, vote_per="person")).json["poll"]
    for person in (estate.resident_a, spouse):
        _, response = await app.asgi_client.put(
            f"/api/v1/polls/{poll['id']}/answers",
            json={"answers": {"1": "A"}},
            headers=bearer(token_for(settings, "resident", person.id)),
        )
        assert response.status == 200
    assert await PollBallot.filter(poll_id=poll["id"]).count() == 2


async def test_bad_answers_are_refused_with_a_reason(app, settings):
    estate = await seed_estate()
    poll = (await make_poll(app, settings, estate)).json["poll"]
    resident = bearer(token_for(settings, "resident", estate.resident_a.id))
    for answers in ({"1": "C"}, {"2": 9}, {"3": "A"}, {"x": "A"}):
        _, response = await app.asgi_client.put(
            f"/api/v1/polls/{poll['id']}/answers", json={"answers": answers}, headers=resident
        )
        assert response.status == 400, answers
        assert response.json["error"]["message"]
    outsider = await Resident.create(name="x", phone="13700000010")
    await RoomBinding.create(resident=outsider, room=estate.room_b, relation="owner")
    _, response = await app.asgi_client.put(
        f"/api/v1/polls/{poll['id']}/answers",
        json={"answers": {"1": "A"}},
        headers=bearer(token_for(settings, "resident", outsider.id)),
    )
    assert response.status == 404  # another estate's poll is not disclosed


async def test_poll_creation_checks_questions_and_times(app, settings):
    estate = await seed_estate()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for changes in (
        {"questions": [{"kind": "single", "text": "q", "options": ["only"]}]},
        {"questions": "q"},
        {"closes_at": past},
        {"vote_per": "family"},
        {"responsible_ids": [99999]},
    ):
        response = await make_poll(app, settings, estate, **changes)
        assert response.status == 400, (changes, response.json)


async def test_owner_closes_and_responsible_people_get_the_summary(app, settings, services):
    estate = await seed_estate()
    people = await seed_supervision(estate)
    poll = (await make_poll(app, settings, estate, responsible_ids=[people.cleaning_lead.id])).json[
        "poll"
    ]
    _, response = await app.asgi_client.put(
        f"/api/v1/polls/{poll['id']}/answers",
        json={"answers": {"1": "B", "2": 4}},
        headers=bearer(token_for(settings, "resident", estate.resident_a.id)),
    )
    assert response.status == 200
    other = bearer(token_for(settings, "staff", people.cleaning_lead.id))
    _, response = await app.asgi_client.post(f"/api/v1/polls/{poll['id']}/close", headers=other)
    assert response.status == 403
    owner = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, response = await app.asgi_client.post(f"/api/v1/polls/{poll['id']}/close", headers=owner)
    assert response.status == 200, response.json
    summary = response.json["poll"]["summary"]
    assert summary["questions"][0]["options"][1]["count"] == 1
    assert summary["questions"][1]["average"] == 4.0
    assert (await PollReport.get(poll_id=poll["id"])).summary == summary
    recipients = await OutboxMessage.filter(kind="poll_summary").values_list(
        "recipient_id", flat=True
    )
    assert sorted(recipients) == sorted([estate.lead_a.id, people.cleaning_lead.id])
    _, response = await app.asgi_client.post(f"/api/v1/polls/{poll['id']}/close", headers=owner)
    assert response.status == 409
    _, response = await app.asgi_client.put(
        f"/api/v1/polls/{poll['id']}/answers",
        json={"answers": {"1": "A"}},
        headers=bearer(token_for(settings, "resident", estate.resident_a.id)),
    )
    assert response.status == 409  # closed: answers can no longer change
