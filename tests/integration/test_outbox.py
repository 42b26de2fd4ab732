"""Outbox: queued in the caller's transaction, delivered once, on the right channel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from server.actions.notify import Recipient, enqueue
from server.db.outbox import OutboxMessage
from server.db.people import WechatUser
from server.workers.outbox import relay_once

VALUES = {
    "ref": "T1042",
    "place": "5号楼2单元302",
    "category_name": "漏水",
    "deadline": "11-27 10:00",
    "description": "卫生间漏水",
    "staff_name": "王强",
}
STAFF = Recipient("staff", 1, "o_staff_1", "13600000001")
RESIDENT = Recipient("resident", 2, "o_res_2", "13800002222")


def now() -> datetime:
    return datetime.now(UTC)


async def test_same_cause_queued_twice_is_kept_once(services):
    assert await enqueue("task_assigned", STAFF, VALUES, key="assign:1", now=now())
    assert not await enqueue("task_assigned", STAFF, VALUES, key="assign:1", now=now())
    assert await OutboxMessage.all().count() == 1


async def test_rolled_back_change_sends_nothing(services, wechat_calls):
    try:
        async with in_transaction():
            await enqueue("task_assigned", STAFF, VALUES, key="assign:2", now=now())
            raise RuntimeError("the state change failed")
    except RuntimeError:
        pass
    assert await relay_once(services) == 0
    assert wechat_calls.calls() == []


async def test_staff_gets_template_message_with_client_msg_id(services, wechat_calls):
    await enqueue("task_assigned", STAFF, VALUES, key="assign:3", now=now())
    assert await relay_once(services) == 1
    [call] = wechat_calls.calls(kind="template", openid="o_staff_1")
    assert call["payload"]["template_id"] == "tmpl_task_assigned"
    assert call["payload"]["data"]["character_string1"]["value"] == "T1042"
    assert call["payload"]["client_msg_id"] == "assign:3"
    row = await OutboxMessage.get(idempotency_key="assign:3")
    assert (row.status, row.channel) == ("sent", "template")


async def test_resident_who_wrote_recently_gets_customer_service_message(services, wechat_calls):
    await WechatUser.create(openid="o_res_2", subscribed=True, last_inbound_at=now())
    await enqueue("task_accepted", RESIDENT, VALUES, key="accepted:1", now=now())
    await relay_once(services)
    [call] = wechat_calls.calls(openid="o_res_2")
    assert call["kind"] == "custom"
    assert "T1042" in call["payload"]["text"]["content"]


async def test_outside_48_hours_uses_template_instead(services, wechat_calls):
    await WechatUser.create(
        openid="o_res_2", subscribed=True, last_inbound_at=now() - timedelta(hours=49)
    )
    await enqueue("task_accepted", RESIDENT, VALUES, key="accepted:2", now=now())
    await relay_once(services)
    assert [c["kind"] for c in wechat_calls.calls(openid="o_res_2")] == ["template"]


async def test_refused_template_falls_back_to_sms(services, wechat_calls):
    wechat_calls.fail_next("/cgi-bin/message/template/send", 43101)  # user refused the template
    await enqueue("task_assigned", STAFF, VALUES, key="assign:4", now=now())
    await relay_once(services)
    [sms] = wechat_calls.sms_calls(phone="13600000001")
    assert sms["template_code"] == "SMS_900001"
    row = await OutboxMessage.get(idempotency_key="assign:4")
    assert row.channel == "sms"
    assert "43101" in row.last_error


async def test_transient_failure_retries_later_not_elsewhere(services, wechat_calls):
    wechat_calls.fail_next("/cgi-bin/message/template/send", 45009)
    await enqueue("task_assigned", STAFF, VALUES, key="assign:5", now=now())
    await relay_once(services)
    row = await OutboxMessage.get(idempotency_key="assign:5")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > now()
    assert wechat_calls.sms_calls() == []
    await relay_once(services, now=now() + timedelta(minutes=20))
    row = await OutboxMessage.get(idempotency_key="assign:5")
    assert row.status == "sent"
    assert len(wechat_calls.calls(kind="template")) == 1


async def test_unfollowed_person_without_phone_is_marked_failed(services, wechat_calls):
    await WechatUser.create(openid="o_gone", subscribed=False)
    await enqueue(
        "task_accepted", Recipient("resident", 9, "o_gone", ""), VALUES, key="x:1", now=now()
    )
    await relay_once(services)
    row = await OutboxMessage.get(idempotency_key="x:1")
    assert row.status == "failed"
    assert wechat_calls.calls() == []


async def test_concurrent_relays_send_each_message_once(services, wechat_calls):
    for i in range(30):
        await enqueue(
            "task_assigned",
            Recipient("staff", i, f"o_s{i}", ""),
            VALUES,
            key=f"bulk:{i}",
            now=now(),
        )
    await asyncio.gather(*(relay_once(services, batch=7) for _ in range(4)))
    while await relay_once(services):
        pass
    sent = [c["openid"] for c in wechat_calls.calls(kind="template")]
    assert sorted(sent) == sorted(f"o_s{i}" for i in range(30))
