"""A resident asks the bot what the household owes: 我家欠费多少 / 欠费 / 物业费交了吗."""

from __future__ import annotations

import pytest

from templates_msg import render_text
from tests.support.chat import Chat
from tests.support.fees import owe
from tests.support.seed import seed_estate

RESIDENT = "o_res_a"


@pytest.mark.parametrize("text", ["我家欠费多少", "欠费", "物业费交了吗"])
async def test_resident_hears_what_each_item_owes_and_how_to_pay(app, settings, text):
    estate = await seed_estate()
    overdue = await owe(estate.room_a, days_overdue=40, amount="320.00")
    await owe(estate.room_a, days_overdue=-5, amount="320.00")
    await owe(estate.room_a, days_overdue=60, amount="1800.00", item="parking_fee")
    reply = await Chat.of(app, settings).say(RESIDENT, text)
    assert "5号楼2单元302" in reply
    assert "物业费 未缴 640.00 元，其中已逾期 320.00 元" in reply
    assert overdue.period in reply
    assert "停车费 未缴 1800.00 元" in reply
    assert render_text("how_to_pay") in reply


async def test_a_household_that_paid_everything_hears_so(app, settings):
    estate = await seed_estate()
    row = await owe(estate.room_a, days_overdue=40, amount="320.00")
    row.amount_paid = row.amount_due
    await row.save()
    reply = await Chat.of(app, settings).say(RESIDENT, "我家欠费多少")
    assert "费用已缴清" in reply
    assert render_text("how_to_pay") not in reply


async def test_no_fee_records_and_unbound_people_get_a_polite_answer(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    assert await chat.say(RESIDENT, "我家欠费多少") == render_text("fee_summary_none")
    assert await chat.say("o_stranger", "我家欠费多少") == render_text("bind_needed")
