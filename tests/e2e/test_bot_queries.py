"""What residents ask in chat about their reports: list, progress, urge, cancel, rating."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.actions.photos import store_photo
from server.actions.tasks import Actor, Move, create_task, fire, get_task
from server.db.estate import Community
from server.db.people import Resident
from server.db.tasks import Task, TaskEvent
from server.workers.outbox import relay_once
from templates_msg import label, render_text
from tests.support.chat import PNG, Chat
from tests.support.notify import daytime
from tests.support.seed import Estate, seed_estate

RESIDENT = "o_res_a"
TZ = ZoneInfo("Asia/Shanghai")


async def reported(
    estate: Estate,
    *,
    reporter: Resident | None = None,
    community: Community | None = None,
    category: str = "water",
) -> str:
    task = await create_task(
        community=community or estate.a,
        category=category,
        source="wechat",
        now=datetime.now(UTC),
        tz=TZ,
        room=estate.room_a if community is None else estate.room_b,
        description="卫生间漏水",
        reporter=reporter or estate.resident_a,
        reporter_openid=RESIDENT,
    )
    return task.ref


async def completed(estate: Estate, settings) -> str:
    ref = await reported(estate)
    staff, now = Actor.of_staff(estate.staff_a), datetime.now(UTC)
    await fire(ref, "accept", staff, Move(), now=now, tz=TZ)
    await fire(ref, "check_in", staff, Move(lat=30.2891, lng=120.1212), now=now, tz=TZ)
    photo = await store_photo(
        PNG,
        media_dir=settings.media_dir,
        uploaded_by_kind="staff",
        uploaded_by_id=estate.staff_a.id,
        now=now,
    )
    await fire(ref, "complete", staff, Move(photo_ids=[photo.id]), now=now, tz=TZ)
    return ref


async def test_my_reports_lists_recent_tasks_with_states(app, settings):
    estate = await seed_estate()
    first = await reported(estate)
    second = await completed(estate, settings)
    reply = await Chat.of(app, settings).say(RESIDENT, "我的报修")
    assert first in reply and second in reply
    assert label("state", "assigned") in reply and label("state", "completed") in reply
    assert reply.index(second) < reply.index(first)  # newest first


async def test_my_reports_when_there_are_none(app, settings):
    await seed_estate()
    assert await Chat.of(app, settings).say(RESIDENT, "我的报修") == render_text("my_reports_none")


async def test_progress_names_state_handler_and_since_when(app, settings):
    estate = await seed_estate()
    ref = await reported(estate)
    reply = await Chat.of(app, settings).say(RESIDENT, f"{ref} 进度")
    assert ref in reply and label("state", "assigned") in reply and "王强" in reply
    assert "起" in reply


async def test_progress_of_someone_elses_task_is_not_found(app, settings):
    estate = await seed_estate()
    other = await Resident.get(phone="13900005678")
    ref = await reported(estate, reporter=other, community=estate.b)
    reply = await Chat.of(app, settings).say(RESIDENT, f"{ref} 进度")
    assert label("refusal", "no_such_task") in reply and "王强" not in reply


async def test_urge_chases_the_latest_open_task(app, settings, services, wechat_calls):
    estate = await seed_estate()
    await reported(estate)
    latest = await reported(estate)
    chat = Chat.of(app, settings)
    reply = await chat.say(RESIDENT, "催单")
    assert latest in reply and "王强" in reply
    assert await TaskEvent.filter(action="urge").values_list("task__id", flat=True) == [
        (await get_task(latest)).id
    ]
    await relay_once(services, now=daytime())
    urged = render_text("task_urged", ref=latest, place="5号楼2单元302")
    assert any(
        latest in str(call["payload"]) or call["payload"].get("text", {}).get("content") == urged
        for call in wechat_calls.calls(openid="o_staff_a")
    )
    # a second urge within half an hour does not ring the handler's phone again
    assert await chat.say(RESIDENT, "催一下") == render_text("urge_recent", ref=latest)
    assert await TaskEvent.filter(action="urge").count() == 1


async def test_urge_a_named_task(app, settings):
    estate = await seed_estate()
    first = await reported(estate)
    await reported(estate)
    reply = await Chat.of(app, settings).say(RESIDENT, f"催一下 {first}")
    assert first in reply
    [event] = await TaskEvent.filter(action="urge").prefetch_related("task")
    assert event.task.ref == first


async def test_cancel_report_by_reference(app, settings):
    estate = await seed_estate()
    ref = await reported(estate)
    reply = await Chat.of(app, settings).say(RESIDENT, f"取消报修 {ref}")
    assert reply == render_text("cancel_done", ref=ref)
    assert (await get_task(ref)).state == "cancelled"


async def test_cancel_of_a_task_on_site_is_refused_with_the_reason(app, settings):
    estate = await seed_estate()
    ref = await completed(estate, settings)
    reply = await Chat.of(app, settings).say(RESIDENT, f"取消报修 {ref}")
    assert ref in reply and label("refusal", "wrong_state") in reply
    assert (await get_task(ref)).state == "completed"


async def test_satisfied_rating_closes_the_task(app, settings):
    estate = await seed_estate()
    ref = await completed(estate, settings)
    reply = await Chat.of(app, settings).say(RESIDENT, "5")
    task = await get_task(ref)
    assert ref in reply and (task.state, task.score) == ("closed", 5)


async def test_low_rating_with_comment_reopens_to_the_lead(app, settings):
    estate = await seed_estate()
    ref = await completed(estate, settings)
    reply = await Chat.of(app, settings).say(RESIDENT, "不满意 太慢了")
    assert ref in reply
    task = await Task.get(id=(await get_task(ref)).id).prefetch_related("assignee")
    assert (task.state, task.score, task.rating_comment) == ("reopened", 2, "太慢了")
    assert task.assignee.name == "钱工"


async def test_rating_without_a_completed_task_says_so(app, settings):
    estate = await seed_estate()
    await reported(estate)
    assert await Chat.of(app, settings).say(RESIDENT, "满意") == render_text("rate_none")


async def test_unbound_follower_asking_for_reports_is_told_to_bind(app, settings):
    await seed_estate()
    assert await Chat.of(app, settings).say("o_stranger", "我的报修") == render_text("bind_needed")
