"""The router: each WeChat answer leads to the right fallback or retry; quiet hours; consent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.actions.notify import Recipient, enqueue, record_consent
from server.db.outbox import OutboxMessage, SubscribeAuthorization
from server.db.people import WechatUser
from server.domain.channels import MAX_ATTEMPTS
from server.workers.outbox import relay_once
from tests.support.notify import (
    MORNING,
    NIGHT,
    NO_WECHAT,
    NOON,
    RESIDENT,
    STAFF,
    later,
    values,
)

TEMPLATE = "/cgi-bin/message/template/send"
CUSTOM = "/cgi-bin/message/custom/send"


async def send_one(services, kind, to, *, key="k1", now=NOON, **kw):  # type: ignore[no-untyped-def]
    await enqueue(kind, to, values(kind), key=key, now=now, **kw)
    await relay_once(services, now=now)
    return await OutboxMessage.get(idempotency_key=key)


@pytest.mark.parametrize("errcode", [43004, 43101, 40003])
async def test_definitive_template_refusal_falls_through_to_sms(services, wechat_calls, errcode):
    wechat_calls.fail_next(TEMPLATE, errcode)
    row = await send_one(services, "task_assigned", STAFF)
    assert (row.status, row.channel) == ("sent", "sms")
    assert str(errcode) in row.last_error
    assert [c["phone"] for c in wechat_calls.sms_calls()] == ["13600000001"]
    assert wechat_calls.calls() == []


async def test_customer_service_outside_the_window_falls_through_to_template(
    services, wechat_calls
):
    # Our record says the user wrote an hour ago, WeChat says the window is closed (45015).
    await WechatUser.create(
        openid=RESIDENT.openid, subscribed=True, last_inbound_at=NOON - timedelta(hours=1)
    )
    wechat_calls.fail_next(CUSTOM, 45015)
    row = await send_one(services, "task_accepted", RESIDENT)
    assert (row.status, row.channel) == ("sent", "template")
    assert [c["kind"] for c in wechat_calls.calls()] == ["template"]


@pytest.mark.parametrize(
    "failure", [{"errcode": -1}, {"errcode": 45009}, {"errcode": 0, "http_status": 502}]
)
async def test_transient_failure_retries_the_same_channel_with_backoff(
    services, wechat_calls, failure
):
    wechat_calls.fail_next(TEMPLATE, **failure)
    row = await send_one(services, "task_assigned", STAFF)
    assert (row.status, row.attempts) == ("pending", 1)
    assert later(NOON, 2.5) <= row.next_attempt_at <= later(NOON, 5)
    assert wechat_calls.sms_calls() == []
    await relay_once(services, now=later(NOON, 5))
    row = await OutboxMessage.get(idempotency_key="k1")
    assert (row.status, row.channel) == ("sent", "template")
    assert len(wechat_calls.calls(kind="template")) == 1


async def test_unreachable_wechat_is_retried_later(services, wechat_calls):
    services.wechat.base_url = "http://127.0.0.1:9"  # discard port: connection refused
    row = await send_one(services, "task_assigned", STAFF)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "transport error" in row.last_error


async def test_retries_give_up_on_a_channel_after_max_attempts_and_fall_back(
    services, wechat_calls
):
    await enqueue("task_assigned", STAFF, values("task_assigned"), key="k1", now=NOON)
    await OutboxMessage.filter(idempotency_key="k1").update(attempts=MAX_ATTEMPTS - 1)
    wechat_calls.fail_next(TEMPLATE, -1)
    await relay_once(services, now=NOON)
    row = await OutboxMessage.get(idempotency_key="k1")
    assert (row.status, row.channel) == ("sent", "sms")


async def test_refusal_teaches_that_the_person_unfollowed(services, wechat_calls):
    await WechatUser.create(openid=STAFF.openid, subscribed=True)
    wechat_calls.fail_next(TEMPLATE, 43004)
    await send_one(services, "task_assigned", STAFF)
    assert not (await WechatUser.get(openid=STAFF.openid)).subscribed


async def test_sms_only_person_gets_sms(services, wechat_calls):
    row = await send_one(services, "breach_warning", NO_WECHAT)
    assert (row.status, row.channel) == ("sent", "sms")
    [sms] = wechat_calls.sms_calls()
    assert (sms["template_code"], sms["params"]) == ("SMS_900002", {"ref": "T1042"})
    assert sms["out_id"] == row.sms_out_id
    assert row.sms_biz_id == sms["biz_id"]


async def test_kind_without_sms_is_not_sent_by_sms(services, wechat_calls):
    row = await send_one(services, "task_accepted", NO_WECHAT)
    assert row.status == "failed"
    assert wechat_calls.sms_calls() == []


# ---- quiet hours ------------------------------------------------------------------------------


async def test_non_urgent_message_waits_for_the_end_of_quiet_hours(services, wechat_calls):
    row = await send_one(services, "rate_request", RESIDENT, now=NIGHT)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, MORNING)
    assert wechat_calls.calls() == []
    await relay_once(services, now=MORNING)
    row = await OutboxMessage.get(idempotency_key="k1")
    assert (row.status, row.channel) == ("sent", "template")


async def test_urgent_kind_goes_out_in_quiet_hours(services, wechat_calls):
    row = await send_one(services, "breach_warning", STAFF, now=NIGHT)
    assert row.status == "sent"


async def test_caller_can_mark_one_message_urgent(services, wechat_calls):
    row = await send_one(services, "notice", RESIDENT, now=NIGHT, urgent=True)
    assert row.status == "sent"


# ---- subscribe messages -----------------------------------------------------------------------


async def test_unused_authorization_carries_the_message_and_is_used_up(services, wechat_calls):
    await WechatUser.create(openid=RESIDENT.openid, subscribed=False)  # unfollowed
    await record_consent("miniapp", RESIDENT.miniapp_openid, {"msub_rate_request": "accept"}, NOON)
    row = await send_one(services, "rate_request", RESIDENT)
    assert (row.status, row.channel) == ("sent", "subscribe")
    [call] = wechat_calls.calls(kind="subscribe")
    assert call["openid"] == "m_res_2"
    assert call["payload"]["template_id"] == "msub_rate_request"
    assert call["payload"]["page"] == "pages/repair/rate?ref=T1042"
    auth = await SubscribeAuthorization.get(openid="m_res_2")
    assert auth.remaining == 0

    second = await send_one(services, "rate_request", RESIDENT, key="k2")
    assert second.status == "failed"  # one send per authorization, and no SMS for this kind
    assert len(wechat_calls.calls(kind="subscribe")) == 1


async def test_subscribe_refused_by_wechat_forgets_the_authorization(services, wechat_calls):
    await WechatUser.create(openid=RESIDENT.openid, subscribed=False)
    await record_consent("miniapp", "m_res_2", {"msub_rate_request": "accept"}, NOON)
    await record_consent("miniapp", "m_res_2", {"msub_rate_request": "accept"}, NOON)
    wechat_calls.fail_next("/cgi-bin/message/subscribe/send", 43101)
    row = await send_one(services, "rate_request", RESIDENT)
    assert row.status == "failed"
    assert (await SubscribeAuthorization.get(openid="m_res_2")).remaining == 0


async def test_busy_subscribe_send_keeps_the_authorization(services, wechat_calls):
    await WechatUser.create(openid=RESIDENT.openid, subscribed=False)
    await record_consent("miniapp", "m_res_2", {"msub_rate_request": "accept"}, NOON)
    wechat_calls.fail_next("/cgi-bin/message/subscribe/send", -1)
    row = await send_one(services, "rate_request", RESIDENT)
    assert (row.status, row.attempts) == ("pending", 1)
    assert (await SubscribeAuthorization.get(openid="m_res_2")).remaining == 1


async def test_official_account_subscription_notification_after_template_refusal(
    services, wechat_calls
):
    person = Recipient("resident", 5, "o_res_5", "")
    await record_consent("official", "o_res_5", {"osub_notice": "accept"}, NOON)
    wechat_calls.fail_next(TEMPLATE, 43101)
    row = await send_one(services, "notice", person)
    assert (row.status, row.channel) == ("sent", "subscribe")
    [call] = wechat_calls.calls(kind="bizsend")
    assert call["payload"]["template_id"] == "osub_notice"
    assert call["payload"]["data"]["thing1"]["value"] == "停水通知"
