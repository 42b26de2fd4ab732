"""Field staff in chat: their task list, accepting without a reference, photos and check-in."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.actions.tasks import create_task, get_task
from server.db.tasks import Photo
from templates_msg import label, render_text
from tests.support.chat import PNG, Chat
from tests.support.seed import Estate, seed_estate

STAFF = "o_staff_a"
TZ = ZoneInfo("Asia/Shanghai")


async def reported(estate: Estate, category: str = "water") -> str:
    task = await create_task(
        community=estate.a,
        category=category,
        source="console",
        now=datetime.now(UTC),
        tz=TZ,
        room=estate.room_a,
        description="卫生间漏水",
        reporter=estate.resident_a,
    )
    return task.ref


async def test_my_tasks_lists_open_tasks(app, settings):
    estate = await seed_estate()
    first, second = await reported(estate), await reported(estate, "drains")
    reply = await Chat.of(app, settings).say(STAFF, "我的任务")
    assert first in reply and second in reply and label("state", "assigned") in reply


async def test_accept_without_reference_takes_the_only_assigned_task(app, settings):
    estate = await seed_estate()
    ref = await reported(estate)
    reply = await Chat.of(app, settings).say(STAFF, "接单")
    assert ref in reply and (await get_task(ref)).state == "accepted"


async def test_accept_without_reference_asks_which_when_several(app, settings):
    estate = await seed_estate()
    first, second = await reported(estate), await reported(estate)
    reply = await Chat.of(app, settings).say(STAFF, "接单")
    assert first in reply and second in reply
    assert (await get_task(first)).state == "assigned"


async def test_accepting_someone_elses_task_is_refused(app, settings):
    estate = await seed_estate()
    ref = await reported(estate)
    reply = await Chat.of(app, settings).say("o_lead_a", f"接单 {ref}")
    assert ref in reply and label("refusal", "not_allowed") in reply
    assert (await get_task(ref)).state == "assigned"


async def test_photo_without_an_on_site_task_is_not_kept(app, settings, wechat_calls):
    estate = await seed_estate()
    await reported(estate)
    wechat_calls.register_media("media_early", PNG, "image/png")
    reply = await Chat.of(app, settings).photo(STAFF, "media_early")
    assert reply == render_text("staff_nothing", action="photo")
    assert await Photo.all().count() == 0


async def test_location_without_an_accepted_task_says_so(app, settings):
    estate = await seed_estate()
    await reported(estate)
    reply = await Chat.of(app, settings).location(STAFF, 30.2891, 120.1212, "阿尔法小区")
    assert reply == render_text("staff_nothing", action="check_in")


async def test_check_in_names_which_task_when_several_are_accepted(app, settings):
    estate = await seed_estate()
    first, second = await reported(estate), await reported(estate)
    chat = Chat.of(app, settings)
    await chat.say(STAFF, f"接单 {first}")
    await chat.say(STAFF, f"接单 {second}")
    reply = await chat.location(STAFF, 30.2891, 120.1212, "阿尔法小区")
    assert second in reply and "1 个" in reply
    assert [(await get_task(r)).state for r in (first, second)] == ["accepted", "on_site"]
