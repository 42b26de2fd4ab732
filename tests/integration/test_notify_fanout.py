"""Broadcasts: the request writes one row, relays fan it out and send each resident one message."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from server.actions.fanout import (
    BroadcastRefused,
    broadcast_progress,
    create_broadcast,
    expand_once,
)
from server.db.estate import Building, Room, Unit
from server.db.outbox import Broadcast, OutboxMessage
from server.db.people import Resident, RoomBinding
from server.workers.outbox import relay_once
from tests.support.notify import NIGHT, NOON, values
from tests.support.seed import seed_estate

LEASE_S = 60


async def residents_in(community, n: int, *, start: int = 0) -> list[Resident]:  # type: ignore[no-untyped-def]
    building = await Building.create(community=community, name=f"b{start}")
    unit = await Unit.create(building=building, name="1")
    people = []
    for i in range(start, start + n):
        room = await Room.create(
            community=community, unit=unit, number=str(100 + i), area_m2=Decimal("80.00")
        )
        person = await Resident.create(name=f"r{i}", phone=f"139{i:08d}", openid=f"o_b{i}")
        await RoomBinding.create(resident=person, room=room, relation="owner")
        people.append(person)
    return people


async def run_relays(services, now, relays: int = 3, batch: int = 25) -> None:  # type: ignore[no-untyped-def]
    async def relay(n: int) -> None:
        while True:
            expanded = await expand_once(now, owner=f"relay{n}", lease_s=LEASE_S, batch=batch)
            sent = await relay_once(services, now=now, batch=batch)
            if not expanded and not sent:
                return

    await asyncio.gather(*(relay(n) for n in range(relays)))


async def test_broadcast_request_writes_one_row_whatever_the_audience(services):
    estate = await seed_estate()
    await residents_in(estate.a, 60)
    await create_broadcast(
        "notice", values("notice"), key="notice:1", now=NOON, community_ids=[estate.a.id]
    )
    assert await Broadcast.all().count() == 1
    assert await OutboxMessage.all().count() == 0


async def test_relays_fan_out_and_each_resident_gets_one_message(services, wechat_calls):
    estate = await seed_estate()
    people = await residents_in(estate.a, 70)
    await residents_in(estate.b, 5, start=500)  # another community: not in the audience
    broadcast = await create_broadcast(
        "notice", values("notice"), key="notice:1", now=NOON, community_ids=[estate.a.id]
    )
    await run_relays(services, NOON)
    expected = {p.openid: 1 for p in people} | {"o_res_a": 1}  # seed_estate's resident in alpha
    assert Counter(c["openid"] for c in wechat_calls.calls(kind="template")) == expected
    assert await broadcast_progress(broadcast.id) == {"sent": 71}
    broadcast = await Broadcast.get(id=broadcast.id)
    assert (broadcast.status, broadcast.expanded) == ("done", 71)


async def test_batch_written_twice_after_a_crash_makes_no_duplicate(services, wechat_calls):
    estate = await seed_estate()
    await residents_in(estate.a, 30)
    broadcast = await create_broadcast(
        "notice", values("notice"), key="notice:1", now=NOON, community_ids=[estate.a.id]
    )
    await expand_once(NOON, owner="r1", lease_s=LEASE_S, batch=20)
    # The relay died after inserting the batch but before its cursor update was durable.
    await Broadcast.filter(id=broadcast.id).update(cursor=0, expanded=0)
    await run_relays(services, NOON, batch=20)
    assert await OutboxMessage.all().count() == 31
    assert len(wechat_calls.calls(kind="template")) == 31


async def test_the_same_request_twice_queues_one_broadcast(services):
    await seed_estate()
    first = await create_broadcast("notice", values("notice"), key="notice:1", now=NOON)
    again = await create_broadcast("notice", values("notice"), key="notice:1", now=NOON)
    assert first.id == again.id


async def test_outage_notice_marked_urgent_goes_out_in_quiet_hours(services, wechat_calls):
    estate = await seed_estate()
    outage = await create_broadcast(
        "notice",
        values("notice"),
        key="outage:1",
        now=NIGHT,
        community_ids=[estate.a.id],
        urgent=True,
    )
    activity = await create_broadcast(
        "notice", values("notice"), key="activity:1", now=NIGHT, community_ids=[estate.a.id]
    )
    await run_relays(services, NIGHT)
    assert await broadcast_progress(outage.id) == {"sent": 1}
    assert await broadcast_progress(activity.id) == {"pending": 1}


async def test_audience_by_relation(services, wechat_calls):
    estate = await seed_estate()
    tenant = await Resident.create(name="t", phone="13700000001", openid="o_tenant")
    await RoomBinding.create(resident=tenant, room=estate.room_a, relation="tenant")
    await create_broadcast(
        "notice",
        values("notice"),
        key="n",
        now=NOON,
        community_ids=[estate.a.id],
        relations=["tenant"],
    )
    await run_relays(services, NOON)
    assert [c["openid"] for c in wechat_calls.calls()] == ["o_tenant"]


async def test_unknown_relation_is_refused(services):
    with pytest.raises(BroadcastRefused):
        await create_broadcast(
            "notice", values("notice"), key="n", now=NOON, relations=["landlord"]
        )
