"""Binding a WeChat follower to a room in chat: estate, room, phone check, unbinding."""

from __future__ import annotations

from decimal import Decimal

from server.db.estate import Building, Community, Room, Unit
from server.db.people import Resident, RoomBinding
from server.db.tasks import Task
from templates_msg import render_text
from tests.support.chat import Chat
from tests.support.seed import seed_estate

NEW = "o_new_follower"


async def test_follower_from_estate_qr_binds_with_last_four_digits(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.follow(NEW, "community_beta")
    assert render_text("bind_offer", community_name="贝塔家园") in reply

    reply = await chat.say(NEW, "5号楼2单元302")
    assert "贝塔家园5号楼2单元302" in reply  # asked for the phone of that very room

    reply = await chat.say(NEW, "5678")
    assert "绑定成功" in reply and "贝塔家园5号楼2单元302" in reply
    assert (await Resident.get(phone="13900005678")).openid == NEW


async def test_room_can_be_given_in_pieces(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.follow(NEW, "community_alpha")
    reply = await chat.say(NEW, "5号楼")
    assert "5号楼2单元" in reply  # the building has one unit: only the room is asked
    reply = await chat.say(NEW, "302")
    assert "阿尔法小区5号楼2单元302" in reply


async def test_unknown_room_is_refused_and_asked_again(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.follow(NEW, "community_alpha")
    reply = await chat.say(NEW, "9号楼1单元101")
    assert "没有找到9号楼" in reply


async def test_estate_is_asked_when_there_are_several(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.say(NEW, "绑定")
    assert "1. 阿尔法小区" in reply and "2. 贝塔家园" in reply
    reply = await chat.say(NEW, "贝塔")
    assert "贝塔家园" in reply


async def test_only_estate_is_not_asked(app, settings):
    community = await Community.create(
        code="solo",
        name="独院",
        city="杭州",
        district="西湖区",
        address="一号",
        lat=30.0,
        lng=120.0,
        radius_m=300,
    )
    unit = await Unit.create(
        building=await Building.create(community=community, name="1"), name="1"
    )
    room = await Room.create(community=community, unit=unit, number="101", area_m2=Decimal("80"))
    resident = await Resident.create(name="周一", phone="13700007777")
    await RoomBinding.create(resident=resident, room=room, relation="tenant")
    chat = Chat.of(app, settings)
    reply = await chat.say(NEW, "绑定")
    assert "独院" in reply and "小区？" not in reply
    await chat.say(NEW, "1号楼1单元101")
    reply = await chat.say(NEW, "13700007777")  # the full number works too
    assert "绑定成功" in reply
    assert (await Resident.get(id=resident.id)).openid == NEW


async def test_wrong_phone_is_refused(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.follow(NEW, "community_beta")
    await chat.say(NEW, "5号楼2单元302")
    reply = await chat.say(NEW, "1111")
    assert "不符" in reply
    assert (await Resident.get(phone="13900005678")).openid is None


async def test_three_wrong_phones_stop_binding(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.follow(NEW, "community_beta")
    await chat.say(NEW, "5号楼2单元302")
    await chat.say(NEW, "1111")
    await chat.say(NEW, "2222")
    reply = await chat.say(NEW, "3333")
    assert reply == render_text("bind_locked")
    # starting again does not give three more guesses
    assert await chat.say(NEW, "绑定") == render_text("bind_locked")
    assert (await Resident.get(phone="13900005678")).openid is None


async def test_unbound_report_is_kept_and_submitted_after_binding(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.say(NEW, "5号楼2单元302卫生间漏水了")
    assert render_text("bind_first") in reply and "T1" not in reply
    await chat.say(NEW, "2")  # 贝塔家园
    reply = await chat.say(NEW, "尾号5678")
    assert "绑定成功" in reply and "单号 T" in reply
    task = await Task.get().prefetch_related("room__community", "reporter")
    assert (task.room.community.code, task.room.number) == ("beta", "302")
    assert (task.reporter.name, task.category) == ("李娜", "water")
    assert "卫生间漏水" in task.description


async def test_phone_of_a_resident_linked_to_another_wechat_is_refused(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.follow(NEW, "community_alpha")
    await chat.say(NEW, "5号楼2单元302")
    reply = await chat.say(NEW, "1234")  # 张伟's, already linked to o_res_a
    assert reply == render_text("bind_phone_taken")
    assert (await Resident.get(phone="13800001234")).openid == "o_res_a"


async def test_linked_account_binding_another_household_gets_that_room_too(app, settings):
    estate = await seed_estate()
    chat = Chat.of(app, settings)
    await chat.say("o_res_a", "绑定")
    await chat.say("o_res_a", "2")
    await chat.say("o_res_a", "5号楼2单元302")
    reply = await chat.say("o_res_a", "5678")  # 李娜's number, on beta's roster
    assert "绑定成功" in reply and "2 套" in reply
    rooms = await RoomBinding.filter(resident_id=estate.resident_a.id).values_list(
        "room_id", "relation"
    )
    assert sorted(rooms) == sorted([(estate.room_a.id, "owner"), (estate.room_b.id, "owner")])
    assert (await Resident.get(phone="13900005678")).openid is None


async def test_unbind_asks_which_room_when_several(app, settings):
    estate = await seed_estate()
    await RoomBinding.create(resident=estate.resident_a, room=estate.room_b, relation="tenant")
    chat = Chat.of(app, settings)
    reply = await chat.say("o_res_a", "解绑")
    assert "1. 阿尔法小区5号楼2单元302" in reply and "2. 贝塔家园5号楼2单元302" in reply
    reply = await chat.say("o_res_a", "2")
    assert "贝塔家园5号楼2单元302" in reply
    rooms = await RoomBinding.filter(resident_id=estate.resident_a.id).values_list(
        "room_id", flat=True
    )
    assert rooms == [estate.room_a.id]
    assert (await Resident.get(id=estate.resident_a.id)).openid == "o_res_a"


async def test_unbind_of_the_last_room_unlinks_the_account_and_keeps_the_roster(app, settings):
    estate = await seed_estate()
    chat = Chat.of(app, settings)
    reply = await chat.say("o_res_a", "解绑")
    assert "阿尔法小区5号楼2单元302" in reply
    assert (await Resident.get(id=estate.resident_a.id)).openid is None
    assert await RoomBinding.filter(resident_id=estate.resident_a.id).count() == 1
    # and the person can bind again by phone
    await chat.say("o_res_a", "绑定")
    await chat.say("o_res_a", "1")
    await chat.say("o_res_a", "5号楼2单元302")
    assert "绑定成功" in await chat.say("o_res_a", "1234")
