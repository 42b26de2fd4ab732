"""Repair intake in chat: rooms, public spots, categories, urgency, photos, cancel, expiry."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import bot.dialogue
from server.adapters.redis import connect_redis
from server.db.estate import Building, Room, Unit
from server.db.people import RoomBinding
from server.db.tasks import Photo, Task, TaskEvent
from templates_msg import label, render_text
from tests.support.chat import JPEG, PNG, Chat
from tests.support.seed import Estate, seed_estate

RESIDENT = "o_res_a"
ASK_VISIT = "什么时候上门方便"


async def second_room(
    estate: Estate, building: str = "3", unit: str = "2", number: str = "501"
) -> Room:
    """Give 张伟 a second flat in alpha."""
    block = await Building.create(community=estate.a, name=building)
    entrance = await Unit.create(building=block, name=unit)
    room = await Room.create(
        community=estate.a, unit=entrance, number=number, area_m2=Decimal("120.00")
    )
    await RoomBinding.create(resident=estate.resident_a, room=room, relation="owner")
    return room


async def only_task() -> Task:
    [task] = await Task.all().prefetch_related("room__unit__building", "community")
    return task


async def test_chinese_numerals_and_spaces_name_the_room(app, settings):
    estate = await seed_estate()
    room = await second_room(estate)
    reply = await Chat.of(app, settings).say(RESIDENT, "三号楼 二单元 五零一 厨房水龙头漏水")
    assert "单号 T" in reply and "3号楼2单元501" in reply
    task = await only_task()
    assert (task.room.id, task.category, task.urgency) == (room.id, "water", "normal")


async def test_gas_smell_is_an_urgent_task_without_visit_question(app, settings):
    await seed_estate()
    reply = await Chat.of(app, settings).say(RESIDENT, "家里有很大的煤气味")
    assert "单号 T" in reply and ASK_VISIT not in reply
    task = await only_task()
    assert (task.category, task.urgency, task.room.number) == ("gas", "urgent", "302")


async def test_public_spot_needs_no_room(app, settings):
    await seed_estate()
    reply = await Chat.of(app, settings).say(RESIDENT, "3号楼电梯坏了")
    assert "单号 T" in reply and ASK_VISIT not in reply
    task = await only_task()
    assert (task.room, task.place, task.category, task.community.code) == (
        None,
        "3号楼电梯",
        "elevator",
        "alpha",
    )


async def test_public_spot_is_asked_when_no_place_is_said(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.say(RESIDENT, "路灯不亮了")
    assert "公共区域" in reply and "T1" not in reply
    reply = await chat.say(RESIDENT, "东门")
    assert "单号 T" in reply
    task = await only_task()
    assert (task.place, task.category) == ("东门", "lights")


async def test_location_message_gives_the_public_spot(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "路灯不亮了")
    reply = await chat.location(RESIDENT, 30.2893, 120.1205, "阿尔法小区北门")
    assert "单号 T" in reply
    task = await only_task()
    assert (task.place, task.community.code) == ("阿尔法小区北门", "alpha")


async def test_missing_category_is_asked(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.say(RESIDENT, "5号楼2单元302有问题")
    assert "哪类问题" in reply and "2. 下水堵塞" in reply
    assert await Task.all().count() == 0
    reply = await chat.say(RESIDENT, "2")
    assert "单号 T" in reply and label("category", "drains") in reply
    assert (await only_task()).category == "drains"


async def test_unclear_category_answer_is_asked_again(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "5号楼2单元302有问题")
    reply = await chat.say(RESIDENT, "99")
    assert reply.startswith(render_text("not_understood")) and "哪类问题" in reply
    assert await Task.all().count() == 0


async def test_several_rooms_are_asked_which(app, settings):
    estate = await seed_estate()
    room = await second_room(estate)
    chat = Chat.of(app, settings)
    reply = await chat.say(RESIDENT, "卫生间漏水")
    assert "1. 阿尔法小区5号楼2单元302" in reply and "2. 阿尔法小区3号楼2单元501" in reply
    reply = await chat.say(RESIDENT, "第二个")
    assert "单号 T" in reply
    assert (await only_task()).room.id == room.id


async def test_room_that_is_not_theirs_is_not_used(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.say(RESIDENT, "7号楼1单元101卫生间漏水")
    assert "7号楼1单元101不在您绑定的房屋中" in reply
    assert await Task.all().count() == 0


async def test_cancel_drops_the_report(app, settings):
    estate = await seed_estate()
    await second_room(estate)
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "卫生间漏水")
    reply = await chat.say(RESIDENT, "算了")
    assert reply == render_text("dialogue_cancelled", what="report")
    await chat.say(RESIDENT, "1")
    assert await Task.all().count() == 0


async def test_restart_forgets_what_was_said(app, settings):
    estate = await seed_estate()
    await second_room(estate)
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "卫生间漏水")
    assert await chat.say(RESIDENT, "重新开始") == render_text("dialogue_restarted")
    reply = await chat.say(RESIDENT, "3号楼电梯坏了")
    assert "单号 T" in reply
    task = await only_task()
    assert "卫生间" not in task.description and task.category == "elevator"


async def test_dialogue_expires_after_ten_idle_minutes(app, settings, services, monkeypatch):
    estate = await seed_estate()
    await second_room(estate)
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "卫生间漏水")
    key = f"{settings.redis_prefix}dialogue:{RESIDENT}"
    assert 0 < await services.redis.ttl(key) <= 600
    later = bot.dialogue.clock() + timedelta(minutes=10, seconds=5)
    monkeypatch.setattr(bot.dialogue, "clock", lambda: later)
    await chat.say(RESIDENT, "1")
    assert await Task.all().count() == 0


async def test_dialogue_lives_while_the_resident_keeps_answering(app, settings, monkeypatch):
    estate = await seed_estate()
    await second_room(estate)
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "卫生间漏水")
    later = bot.dialogue.clock() + timedelta(minutes=9)
    monkeypatch.setattr(bot.dialogue, "clock", lambda: later)
    assert "单号 T" in await chat.say(RESIDENT, "1")


async def test_corrupt_dialogue_state_starts_afresh(app, settings, services):
    await seed_estate()
    await services.redis.set(f"{settings.redis_prefix}dialogue:{RESIDENT}", "{not json", ex=600)
    assert await Chat.of(app, settings).say(RESIDENT, "你好") == render_text("help")


async def test_voice_report_uses_recognition(app, settings):
    await seed_estate()
    reply = await Chat.of(app, settings).speak(RESIDENT, "五号楼二单元三零二，卫生间漏水了。")
    assert "单号 T" in reply
    assert (await only_task()).room.number == "302"


async def test_photo_sent_during_intake_is_attached(app, settings, wechat_calls):
    estate = await seed_estate()
    await second_room(estate)
    wechat_calls.register_media("media_leak_1", JPEG, "image/jpeg")
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "卫生间漏水")
    reply = await chat.photo(RESIDENT, "media_leak_1")
    assert render_text("photo_added", count=1) in reply and "1. 阿尔法小区" in reply
    await chat.say(RESIDENT, "1")
    task = await only_task()
    assert await Photo.filter(task_id=task.id).count() == 1


async def test_photo_before_the_words_starts_a_report(app, settings, wechat_calls):
    await seed_estate()
    wechat_calls.register_media("media_leak_2", PNG, "image/png")
    chat = Chat.of(app, settings)
    assert await chat.photo(RESIDENT, "media_leak_2") == render_text("photo_start")
    assert "单号 T" in await chat.say(RESIDENT, "5号楼2单元302卫生间漏水了")
    assert await Photo.filter(task_id=(await only_task()).id).count() == 1


async def test_photo_that_is_not_an_image_is_refused(app, settings, wechat_calls):
    await seed_estate()
    wechat_calls.register_media("media_doc", b"%PDF-1.7 ...", "image/jpeg")
    reply = await Chat.of(app, settings).photo(RESIDENT, "media_doc")
    assert label("photo", "wrong_type") in reply
    assert await Photo.all().count() == 0


async def test_visit_time_answer_is_recorded(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.say(RESIDENT, "5号楼2单元302卫生间漏水了")
    assert ASK_VISIT in reply
    reply = await chat.say(RESIDENT, "明天下午3点以后")
    task = await only_task()
    assert task.ref in reply and task.visit_time == "明天下午3点以后"
    event = await TaskEvent.get(task_id=task.id, action="visit_time")
    assert event.actor_kind == "resident" and event.data["from"].endswith("15:00:00+08:00")


async def test_unexpected_input_gets_help_never_an_error(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    for text in ("？？？", "🙂🙂", "a" * 2000, "T99999999 进度", "完工 T1001", "接单"):
        reply = await chat.say(RESIDENT, text)
        assert reply and reply != render_text("busy_retry"), text
    assert await chat.say(RESIDENT, "？？？") == render_text("help")


async def test_redis_down_gets_a_busy_reply(app, settings, services, monkeypatch):
    await seed_estate()
    broken = connect_redis("redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setattr(services, "redis", broken)
    try:
        reply = await Chat.of(app, settings).say(RESIDENT, "5号楼2单元302卫生间漏水了")
    finally:
        await broken.aclose()
    assert reply == render_text("busy_retry")
    assert await Task.all().count() == 0


async def test_reply_names_what_was_understood(app, settings):
    await seed_estate()
    reply = await Chat.of(app, settings).say(RESIDENT, "5号楼2单元302卫生间漏水了")
    assert re.search(r"单号 T\d+", reply)
    assert "5号楼2单元302" in reply and label("category", "water") in reply


async def test_new_fault_instead_of_a_visit_time_is_a_new_report(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.say(RESIDENT, "5号楼2单元302卫生间漏水了")
    reply = await chat.say(RESIDENT, "下午厨房也跳闸了")
    assert "单号 T" in reply and label("category", "electricity") in reply
    first, second = await Task.all().order_by("id")
    assert (first.visit_time, second.category) == ("", "electricity")
