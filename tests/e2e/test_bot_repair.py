"""Issue 3's acceptance: a repair from a resident's chat message to their rating, all in chat."""

from __future__ import annotations

import re

from server.actions.tasks import get_task
from server.workers.outbox import relay_once
from templates_msg import label, render_text
from tests.support.chat import PNG, Chat
from tests.support.notify import daytime
from tests.support.seed import bearer, seed_estate, token_for

INSIDE = (30.2891, 120.1212)  # alpha's centre is 30.2890, 120.1210, radius 300 m
OUTSIDE = (30.3050, 120.1500)  # beta's centre, about 3.3 km away


def ref_in(reply: str) -> str:
    found = re.search(r"T\d{4,}", reply)
    assert found, reply
    return found.group(0)


async def state_of(ref: str) -> str:
    return (await get_task(ref)).state


async def test_resident_repair_from_chat_to_rating(app, settings, services, wechat_calls):
    estate = await seed_estate()
    chat = Chat.of(app, settings)

    reply = await chat.say("o_res_a", "5号楼2单元302卫生间漏水了")
    ref = ref_in(reply)
    assert "5号楼2单元302" in reply and label("category", "water") in reply

    await relay_once(services, now=daytime())
    [assigned] = wechat_calls.calls(kind="template", openid="o_staff_a")
    assert assigned["payload"]["data"]["character_string1"]["value"] == ref

    reply = await chat.say("o_staff_a", f"接单 {ref}")
    assert ref in reply and await state_of(ref) == "accepted"

    reply = await chat.location("o_staff_a", *OUTSIDE, "文一西路")
    assert ref in reply and label("refusal", "outside_geofence") in reply
    assert re.search(r"\d{3,} 米", reply)  # how far away they are
    assert await state_of(ref) == "accepted"

    reply = await chat.location("o_staff_a", *INSIDE, "阿尔法小区")
    assert ref in reply and await state_of(ref) == "on_site"

    reply = await chat.say("o_staff_a", f"完工 {ref}")
    assert label("refusal", "needs_photo") in reply and await state_of(ref) == "on_site"

    wechat_calls.register_media("media_site_1", PNG, "image/png")
    reply = await chat.photo("o_staff_a", "media_site_1")
    assert ref in reply

    reply = await chat.say("o_staff_a", f"完工 {ref}")
    assert ref in reply and await state_of(ref) == "completed"

    await relay_once(services, now=daytime())
    asked = render_text("rate_request", ref=ref)
    assert any(
        call["payload"].get("template_id") == "tmpl_rate_request"
        or call["payload"].get("text", {}).get("content") == asked
        for call in wechat_calls.calls(openid="o_res_a")
    )

    reply = await chat.say("o_res_a", "满意")
    assert ref in reply
    task = await get_task(ref)
    assert (task.state, task.score) == ("closed", 5)

    headers = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, response = await app.asgi_client.get(f"/api/v1/tasks/{ref}", headers=headers)
    events = response.json["events"]
    assert [e["action"] for e in events] == [
        "submit",
        "assign",
        "accept",
        "check_in",
        "complete",
        "rate",
    ]
    assert events[3]["lat"] == INSIDE[0]
    assert len(response.json["photo_ids"]) == 1
