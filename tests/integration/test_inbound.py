"""record_inbound: the dedupe mark and follower row, written together for concurrent pushes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from server.actions.inbound import record_inbound
from server.db.inbound import InboundMessage
from server.db.people import WechatUser

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def push(key: str, openid: str = "oFOLLOWER1", **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "dedupe_key": key,
        "openid": openid,
        "kind": "text",
        "content": "hi",
        "received_at": AT,
        "opens_window": True,
        "subscribed": True,
    }
    return values | changes


async def test_concurrent_copies_of_one_push_are_recorded_once(database_url: str) -> None:
    results = await asyncio.gather(*(record_inbound(**push("7001")) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert await InboundMessage.filter(dedupe_key="7001").count() == 1


async def test_a_push_seen_before_is_a_duplicate(database_url: str) -> None:
    assert await record_inbound(**push("7002")) is True
    assert await record_inbound(**push("7002", content="changed")) is False
    assert (await InboundMessage.get(dedupe_key="7002")).content == "hi"


async def test_pushes_of_one_follower_apply_in_arrival_order(database_url: str) -> None:
    subscribe = push("o:1:subscribe_scan", kind="event:subscribe_scan", scene="community_a")
    unsubscribe = push(
        "o:2:unsubscribe",
        kind="event:unsubscribe",
        subscribed=False,
        opens_window=False,
        received_at=AT + timedelta(seconds=1),
    )
    assert await asyncio.gather(record_inbound(**subscribe), record_inbound(**unsubscribe)) == [
        True,
        True,
    ]
    follower = await WechatUser.get(openid="oFOLLOWER1")
    assert (follower.subscribed, follower.scene, follower.last_inbound_at) == (
        False,
        "community_a",
        AT,
    )


async def test_a_push_changes_only_what_it_speaks_about(database_url: str) -> None:
    await record_inbound(**push("7003", scene="community_a"))
    later = AT + timedelta(hours=1)
    await record_inbound(
        **push(
            "o:3:location",
            kind="event:location",
            opens_window=False,
            subscribed=None,
            received_at=later,
        )
    )
    follower = await WechatUser.get(openid="oFOLLOWER1")
    assert (follower.subscribed, follower.scene, follower.last_inbound_at) == (
        True,
        "community_a",
        AT,
    )


async def test_many_followers_at_once_each_get_their_row(database_url: str) -> None:
    pushes = [
        push(f"80{n:02d}", openid=f"oMANY{n:02d}", opens_window=n % 2 == 0) for n in range(20)
    ]
    assert await asyncio.gather(*(record_inbound(**p) for p in pushes)) == [True] * 20
    followers = {f.openid: f for f in await WechatUser.all()}
    assert len(followers) == 20
    assert followers["oMANY00"].last_inbound_at == AT
    assert followers["oMANY01"].last_inbound_at is None
    assert await InboundMessage.all().count() == 20


async def test_a_push_that_cannot_be_written_fails_alone(database_url: str) -> None:
    good = record_inbound(**push("7004", openid="oGOOD"))
    bad = record_inbound(**push("7005", openid="oBAD", received_at=object()))
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert results[0] is True
    assert isinstance(results[1], Exception)
    assert [m.dedupe_key for m in await InboundMessage.all()] == ["7004"]
    assert await WechatUser.filter(openid="oBAD").count() == 0
