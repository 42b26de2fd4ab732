"""What residents want over HTTP: statistics match a hand-counted fixture."""

from __future__ import annotations

from datetime import UTC, datetime

from server.db.inbound import InboundMessage
from server.db.tasks import ProcessVersion, Task
from tests.support.seed import bearer, seed_estate, token_for


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 4, tzinfo=UTC)


async def fixture():  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    for n, (text, when) in enumerate(
        [
            ("楼上漏水了", at(11, 2)),  # water
            ("我家马桶堵了", at(11, 3)),  # drains
            ("你好", at(11, 4)),  # other
            ("门禁坏了", at(10, 30)),  # before the window
        ]
    ):
        await InboundMessage.create(
            dedupe_key=f"m{n}", openid="o_res_a", kind="text", content=text, received_at=when
        )
    await InboundMessage.create(  # a photo is activity WeChat sees, not a message with words
        dedupe_key="img", openid="o_res_a", kind="image", content="", received_at=at(11, 5)
    )
    process = await ProcessVersion.create(kind="repair", version="v1", definition={})
    common = {"process": process, "state": "closed", "source": "wechat"}
    for community, kind, category, created, score, closed in (
        (estate.a, "repair", "water", at(11, 5), 5, at(11, 6)),
        (estate.a, "complaint", "noise", at(11, 10), 2, at(11, 12)),
        (estate.b, "repair", "water", at(11, 5), 1, at(11, 6)),  # another estate
    ):
        await Task.create(
            kind=kind,
            category=category,
            community=community,
            created_at=created,
            updated_at=closed,
            closed_at=closed,
            score=score,
            **common,
        )
    return estate


async def test_insights_match_hand_counted_expectations(app, settings):
    estate = await fixture()
    _, response = await app.asgi_client.get(
        f"/api/v1/communities/{estate.a.id}/insights?from=2026-11-01&to=2026-11-30",
        headers=bearer(token_for(settings, "staff", estate.manager_all.id)),
    )
    assert response.status == 200, response.json
    body = response.json
    assert body["activity"] == {"messages": 3, "households": 1, "messages_per_household": 3.0}
    assert body["top_demands"] == [
        {"category": "water", "count": 2},
        {"category": "drains", "count": 1},
        {"category": "noise", "count": 1},
        {"category": "other", "count": 1},
    ]
    assert body["satisfaction"] == [
        {"category": "noise", "ratings": 1, "average": 2.0, "satisfied_percent": 0.0},
        {"category": "water", "ratings": 1, "average": 5.0, "satisfied_percent": 100.0},
    ]
    assert body["trend"] == [
        {
            "period": "2026-11",
            "message": 3,
            "task": 1,
            "complaint": 1,
            "rating": 2,
            "average_score": 3.5,
        }
    ]


async def test_insights_are_for_overseers_of_that_estate(app, settings):
    estate = await fixture()
    url = f"/api/v1/communities/{estate.b.id}/insights"
    _, response = await app.asgi_client.get(
        url, headers=bearer(token_for(settings, "staff", estate.lead_a.id))
    )
    assert response.status == 404
    _, response = await app.asgi_client.get(
        url, headers=bearer(token_for(settings, "staff", estate.staff_a.id))
    )
    assert response.status == 403
    manager = bearer(token_for(settings, "staff", estate.manager_all.id))
    for query in ("from=2026-13-01", "from=2026-11-30&to=2026-11-01", "period=day"):
        _, response = await app.asgi_client.get(f"{url}?{query}", headers=manager)
        assert response.status == 400, query
