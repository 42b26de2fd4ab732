"""A manager sends a notice in chat: 通知阿尔法小区5号楼全体住户明天9点到12点停水."""

from __future__ import annotations

from server.db.comms import Notice
from server.db.estate import Building
from tests.support.chat import Chat
from tests.support.seed import seed_estate, seed_supervision


async def test_manager_sends_a_water_outage_notice_in_chat(app, settings, services):
    estate = await seed_estate()
    await seed_supervision(estate)
    chat = Chat.of(app, settings)
    reply = await chat.say("o_manager", "通知阿尔法小区5号楼全体住户明天9点到12点停水")
    assert "停水通知" in reply and "共1位住户" in reply
    notice = await Notice.get(source="chat")
    building = await Building.get(community=estate.a, name="5")
    assert (notice.kind, notice.urgent, notice.community_id) == ("water_outage", True, estate.a.id)
    assert notice.audience["building_ids"] == [building.id]
    assert notice.body == "明天9点到12点停水" and notice.status == "sent"


async def test_ambiguous_estate_is_asked_for_and_instructions_still_work(app, settings, services):
    estate = await seed_estate()
    await seed_supervision(estate)
    chat = Chat.of(app, settings)
    reply = await chat.say("o_manager", "通知5号楼全体业主明天电梯保养")
    assert "阿尔法小区" in reply and "贝塔家园" in reply  # both estates have a building 5
    assert await Notice.all().count() == 0
    reply = await chat.say("o_manager", "通知工程部明天中午前把3号楼电梯修好")
    assert await Notice.all().count() == 0
    assert "T" in reply  # an instruction task, as before
