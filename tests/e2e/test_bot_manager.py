"""Managers in chat (issue 5): instructions by voice or text, questions about running work,
opinions on contractor jobs, orders on running tasks; contractors hear only of their own jobs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

import bot.dialogue
from server.actions.tasks import Actor, Move, create_task, fire, get_task
from server.db.outbox import OutboxMessage
from server.db.people import Staff
from server.db.tasks import Photo, TaskEvent
from server.workers.outbox import relay_once
from templates_msg import label, render_text
from tests.e2e.test_bot_repair import ref_in
from tests.support.chat import PNG, Chat
from tests.support.seed import Estate, Supervision, seed_estate, seed_supervision

TZ = ZoneInfo("Asia/Shanghai")
MANAGER = "o_manager"
LEAD = "o_lead_a"  # 钱工, lead of 工程部 (code eng), serves alpha


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """The bot's clock, pinned to 10:00 today (Asia/Shanghai) and moved only by the test."""

    class Clock:
        now = datetime.combine(datetime.now(TZ).date(), time(10, 0), tzinfo=TZ).astimezone(UTC)

        def advance(self, **delta: float) -> None:
            self.now += timedelta(**delta)

    pinned = Clock()
    monkeypatch.setattr(bot.dialogue, "clock", lambda: pinned.now)
    return pinned


async def people() -> tuple[Estate, Supervision]:
    estate = await seed_estate()
    return estate, await seed_supervision(estate)


async def test_manager_voice_instruction_reaches_the_department_and_its_lead_hears_the_truth(
    app, settings, services, wechat_calls, clock
):
    estate, _ = await people()
    chat = Chat.of(app, settings)

    reply = await chat.speak(MANAGER, "通知工程部明天中午前把3号楼电梯修好。")

    ref = ref_in(reply)
    task = await get_task(ref)
    await task.fetch_related("department", "assignee", "created_by")
    noon_tomorrow = datetime.combine(
        clock.now.astimezone(TZ).date() + timedelta(days=1), time(12, 0), tzinfo=TZ
    )
    assert (task.kind, task.department.code, task.assignee.name) == ("instruction", "eng", "钱工")
    assert (task.created_by.name, task.community_id) == ("周总", estate.a.id)
    assert task.due_at == noon_tomorrow and task.resolve_by == noon_tomorrow
    assert task.description == "把3号楼电梯修好" and task.category == "elevator"
    assert "工程部" in reply and "钱工" in reply and noon_tomorrow.strftime("%m-%d 12:00") in reply

    await relay_once(services, now=clock.now)
    [told] = wechat_calls.calls(kind="template", openid=LEAD)
    assert told["payload"]["data"]["character_string1"]["value"] == ref

    clock.advance(minutes=20)
    assert ref in await chat.say(LEAD, f"接单 {ref}")
    clock.advance(hours=2, minutes=5)
    reply = await chat.speak(LEAD, f"{ref}到哪了")
    accepted = await TaskEvent.get(task_id=task.id, action="accept")
    assert label("state", "accepted") in reply and "钱工" in reply and "工程部" in reply
    assert accepted.at.astimezone(TZ).strftime("%m-%d %H:%M") in reply
    assert "2小时5分钟" in reply
    assert noon_tomorrow.strftime("%m-%d 12:00") in reply and "已超时" not in reply


async def test_photos_sent_before_the_instruction_are_attached_to_it(
    app, settings, wechat_calls, clock
):
    await people()
    wechat_calls.register_media("media_lift_1", PNG, "image/png")
    chat = Chat.of(app, settings)
    assert await chat.photo(MANAGER, "media_lift_1") == render_text(
        "instruction_photo_kept", count=1
    )
    ref = ref_in(await chat.say(MANAGER, "通知工程部今天下班前把3号楼电梯修好"))
    task = await get_task(ref)
    assert await Photo.filter(task_id=task.id).count() == 1
    assert task.due_at == datetime.combine(clock.now.astimezone(TZ).date(), time(18, 0), tzinfo=TZ)


async def test_a_photo_right_after_the_instruction_joins_it(app, settings, wechat_calls, clock):
    await people()
    wechat_calls.register_media("media_lift_2", PNG, "image/png")
    chat = Chat.of(app, settings)
    ref = ref_in(await chat.say(MANAGER, "通知工程部明天把3号楼电梯修好"))
    reply = await chat.photo(MANAGER, "media_lift_2")
    assert reply == render_text("instruction_photo_attached", ref=ref, count=1)


async def test_instruction_without_the_work_asks_for_it(app, settings, clock):
    await people()
    chat = Chat.of(app, settings)
    assert await chat.say(MANAGER, "通知工程部") == render_text(
        "instruction_need_work", department_name="工程部"
    )
    ref = ref_in(await chat.say(MANAGER, "明天中午前把3号楼电梯修好"))
    assert (await get_task(ref)).description == "把3号楼电梯修好"


async def test_estate_is_asked_when_the_department_serves_several(app, settings, clock):
    estate, sup = await people()
    await Staff.filter(id=sup.cleaning_lead.id).update(all_communities=True)
    chat = Chat.of(app, settings)
    reply = await chat.say(MANAGER, "让保洁部今天下班前清理东门垃圾")
    assert reply == render_text("instruction_ask_community", items=[estate.a.name, estate.b.name])
    ref = ref_in(await chat.say(MANAGER, "2"))
    task = await get_task(ref)
    assert (task.community_id, task.department_id) == (estate.b.id, sup.cleaning.id)


async def test_late_tasks_of_a_department_are_listed(app, settings, clock):
    _estate, _sup = await people()
    chat = Chat.of(app, settings)
    late = ref_in(await chat.say(MANAGER, "通知工程部今天中午前把3号楼电梯修好"))
    other = ref_in(await chat.say(MANAGER, "通知保洁部今天中午前清理东门垃圾"))
    on_time = ref_in(await chat.say(MANAGER, "通知工程部3天内检修水泵"))
    clock.advance(hours=3)

    reply = await chat.say(MANAGER, "工程部有哪些超时任务？")

    assert late in reply and other not in reply and on_time not in reply
    assert "1小时" in reply  # due at 12:00, asked at 13:00
    assert other in await chat.say(MANAGER, "有哪些超时任务")


async def test_nothing_late_is_said_plainly(app, settings, clock):
    await people()
    reply = await Chat.of(app, settings).say(MANAGER, "工程部有哪些超时任务")
    assert reply == render_text("late_tasks_none", department_name="工程部")


async def test_completed_today_counts_the_managers_estates(app, settings, clock):
    estate, _ = await people()
    chat = Chat.of(app, settings)
    ref = ref_in(await chat.say(MANAGER, "通知工程部明天把3号楼电梯修好"))
    lead = Actor.of_staff(estate.lead_a)
    await fire(ref, "accept", lead, Move(), now=clock.now, tz=TZ)
    await fire(ref, "complete", lead, Move(note="已修好"), now=clock.now, tz=TZ)

    reply = await chat.say(MANAGER, "今天完成了多少？")

    assert reply == render_text(
        "done_today",
        date=clock.now.astimezone(TZ).strftime("%m-%d"),
        total=1,
        items=[{"name": label("kind", "instruction"), "count": 1}],
    )


async def test_lead_completes_an_instruction_in_chat_with_a_report(app, settings, clock):
    await people()
    chat = Chat.of(app, settings)
    ref = ref_in(await chat.say(MANAGER, "通知工程部明天把3号楼电梯修好"))
    await chat.say(LEAD, f"接单 {ref}")
    assert label("refusal", "needs_report") in await chat.say(LEAD, f"完工 {ref}")
    await chat.say(LEAD, f"完工 {ref} 已更换门机皮带")
    task = await get_task(ref)
    assert task.state == "completed"
    assert (await TaskEvent.get(task_id=task.id, action="complete")).note == "已更换门机皮带"


async def test_manager_instruction_on_a_running_task_reaches_its_handler(
    app, settings, services, clock
):
    estate, _ = await people()
    task = await create_task(
        community=estate.a,
        category="water",
        source="console",
        now=clock.now,
        tz=TZ,
        room=estate.room_a,
        description="卫生间漏水",
    )
    reply = await Chat.of(app, settings).say(MANAGER, f"{task.ref} 指示：今天下班前务必处理完")
    assert label("action", "instruct") in reply
    message = await OutboxMessage.get(kind="instruction", recipient_id=estate.staff_a.id)
    assert message.values["note"] == "今天下班前务必处理完"
    assert message.values["author_name"] == "周总"


async def test_manager_rates_an_instruction_in_chat(app, settings, clock):
    estate, _ = await people()
    chat = Chat.of(app, settings)
    ref = ref_in(await chat.say(MANAGER, "通知工程部明天把3号楼电梯修好"))
    lead = Actor.of_staff(estate.lead_a)
    await fire(ref, "accept", lead, Move(), now=clock.now, tz=TZ)
    await fire(ref, "complete", lead, Move(note="已修好"), now=clock.now, tz=TZ)
    await chat.say(MANAGER, f"评价 {ref} 5分 很及时")
    task = await get_task(ref)
    assert (task.state, task.score, task.rating_comment) == ("closed", 5, "很及时")


async def test_field_staff_cannot_issue_instructions(app, settings, clock):
    await people()
    reply = await Chat.of(app, settings).say("o_staff_a", "通知工程部明天把3号楼电梯修好")
    assert "T1" not in reply
    assert not await TaskEvent.filter(action="submit").exists()


async def test_contractor_hears_nothing_of_jobs_not_theirs(app, settings, clock):
    estate, _ = await people()
    task = await create_task(
        community=estate.a,
        category="water",
        source="console",
        now=clock.now,
        tz=TZ,
        room=estate.room_a,
        description="卫生间漏水",
    )
    reply = await Chat.of(app, settings).say("o_lift_lead", f"{task.ref} 到哪了")
    assert reply == render_text(
        "task_refused", ref=task.ref, reason=label("refusal", "no_such_task")
    )


async def test_department_and_contractor_agree_in_chat(app, settings, clock):
    estate, sup = await people()
    job = await create_task(
        kind="contractor_job",
        community=estate.a,
        category="elevator",
        source="console",
        now=clock.now,
        tz=TZ,
        place="3号楼电梯",
        description="更换3号楼电梯曳引机",
        created_by=estate.lead_a,
        contractor=sup.contractor,
    )
    chat = Chat.of(app, settings)
    reply = await chat.say(LEAD, f"同意 {job.ref}")
    assert label("state", "contractor_review") in reply and "孙浩" in reply
    assert (await get_task(job.ref)).state == "contractor_review"
    await chat.say("o_lift_lead", "同意")  # the only job waiting for them
    assert (await get_task(job.ref)).state == "in_progress"


async def test_contractor_sees_their_own_job_in_chat(app, settings, clock):
    estate, sup = await people()
    job = await create_task(
        kind="contractor_job",
        community=estate.a,
        category="elevator",
        source="console",
        now=clock.now,
        tz=TZ,
        place="3号楼电梯",
        description="更换3号楼电梯曳引机",
        created_by=estate.lead_a,
        contractor=sup.contractor,
    )
    reply = await Chat.of(app, settings).say("o_lift_staff", f"{job.ref} 到哪了")
    assert label("state", "dept_review") in reply and "钱工" in reply
