"""A consultation poll to one building, answered in chat; the owner gets the exact counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from server.actions.fanout import expand_once
from server.db.comms import Poll, PollBallot, PollReport
from server.db.estate import Building, Room, Unit
from server.db.outbox import OutboxMessage
from server.db.people import Resident, RoomBinding
from server.workers.comms import comms_once
from tests.support.chat import Chat
from tests.support.notify import drain
from tests.support.seed import bearer, seed_estate, token_for

QUESTIONS = [
    {"kind": "single", "text": "是否同意加装电梯", "options": ["同意", "不同意", "无所谓"]},
    {"kind": "multiple", "text": "希望改善哪些设施", "options": ["停车", "绿化", "照明"]},
    {"kind": "rating", "text": "对物业服务打分"},
    {"kind": "text", "text": "其他建议"},
]


async def building_with_residents(community, name: str, count: int) -> list[Resident]:  # type: ignore[no-untyped-def]
    building = await Building.create(community=community, name=name)
    unit = await Unit.create(building=building, name="1")
    people = []
    for i in range(count):
        room = await Room.create(
            community=community, unit=unit, number=f"10{i + 1}", area_m2=Decimal("90")
        )
        person = await Resident.create(name=f"住户{i}", phone=f"1350000010{i}", openid=f"o_v{i}")
        await RoomBinding.create(resident=person, room=room, relation="owner")
        people.append(person)
    return people


def next_noon(after: datetime) -> datetime:
    """12:00 in Shanghai (04:00 UTC) after `after`: outside quiet hours whatever the real time."""
    noon = after.replace(hour=4, minute=0, second=0, microsecond=0)
    return noon if noon > after else noon + timedelta(days=1)


async def answer_all(chat: Chat, openid: str, answers: list[str]) -> list[str]:
    replies = [await chat.say(openid, "投票")]
    for said in answers:
        replies.append(await chat.say(openid, said))
    return replies


async def test_poll_answered_in_chat_and_summary_pushed_to_owner(
    app, settings, services, wechat_calls
):
    estate = await seed_estate()
    await building_with_residents(estate.a, "7", 3)
    owner = estate.lead_a
    now = datetime.now(UTC)
    _, response = await app.asgi_client.post(
        "/api/v1/polls",
        json={
            "community_id": estate.a.id,
            "title": "7号楼加装电梯意见征询",
            "questions": QUESTIONS,
            "buildings": ["7"],
            "vote_per": "household",
            "closes_at": (now + timedelta(days=1)).isoformat(),
        },
        headers=bearer(token_for(settings, "staff", owner.id)),
    )
    assert response.status == 201, response.json
    poll_id = response.json["poll"]["id"]
    assert response.json["poll"]["audience_size"] == 3

    # The invitation reaches the building's three households, nobody else.
    while await expand_once(now, owner="t", lease_s=60, batch=100):
        pass
    await drain(services, next_noon(now))
    invited = [c["openid"] for c in wechat_calls.calls(kind="template")]
    assert sorted(invited) == ["o_v0", "o_v1", "o_v2"]

    chat = Chat.of(app, settings)
    first = await answer_all(chat, "o_v0", ["A", "AC", "5", "希望增加停车位"])
    assert "是否同意加装电梯" in first[0] and "A. 同意" in first[0]
    assert "希望改善哪些设施" in first[1]
    assert "感谢参与" in first[-1]
    await answer_all(chat, "o_v1", ["1", "A,B", "4", "停车位太少"])
    await answer_all(chat, "o_v2", ["A", "c", "2", "电梯噪音"])
    # The third household changes its mind: answering again replaces the earlier answers.
    again = await answer_all(chat, "o_v2", ["B", "C", "3", "停车位不够"])
    assert "重新回答会替换原答案" in again[0] and "您原来的答案：A" in again[0]
    # A bad answer is explained and the question asked again.
    bad = await chat.say("o_v1", "投票")
    retry = await chat.say("o_v1", "7")
    assert "是否同意加装电梯" in bad and "是否同意加装电梯" in retry
    await chat.say("o_v1", "取消")
    # Someone outside the building has no poll to answer.
    assert "没有需要您参与的投票" in await chat.say("o_res_a", "投票")

    assert await PollBallot.filter(poll_id=poll_id).count() == 3
    await comms_once(services, now + timedelta(days=1, minutes=1))  # the close time passed
    poll = await Poll.get(id=poll_id)
    assert poll.status == "closed"

    summary = (await PollReport.get(poll_id=poll_id)).summary
    assert (summary["voters"], summary["eligible"], summary["turnout"]) == (3, 3, 100.0)
    single, multiple, rating, text = summary["questions"]
    assert [(o["label"], o["count"], o["percent"]) for o in single["options"]] == [
        ("A", 2, 66.7),
        ("B", 1, 33.3),
        ("C", 0, 0.0),
    ]
    assert [o["count"] for o in multiple["options"]] == [2, 1, 2]
    assert rating["counts"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert rating["average"] == 4.0
    assert text["themes"][0] == {"word": "停车位", "count": 3}
    assert summary["buildings"] == [{"building": "7", "voters": 3, "eligible": 3, "turnout": 100.0}]

    message = await OutboxMessage.get(kind="poll_summary", recipient_id=owner.id)
    assert message.recipient_kind == "staff"
    results = message.values["results"]
    assert "A 同意：2（66.7%）" in results
    assert "B 不同意：1（33.3%）" in results
    assert "C 照明：2（66.7%）" in results
    assert "7号楼参与3/3（100.0%）" in results
    await drain(services, next_noon(now + timedelta(days=1, minutes=1)))
    assert [c for c in wechat_calls.calls() if c["openid"] == "o_lead_a"], "owner not reached"
    # The poll is closed: nothing is left to answer.
    assert "没有需要您参与的投票" in await chat.say("o_v0", "投票")
