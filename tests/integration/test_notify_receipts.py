"""Delivery receipts (TEMPLATESENDJOBFINISH, Aliyun SmsReport) and subscribe consent events."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest

from server.actions.notify import enqueue, record_receipt
from server.db.outbox import DeliveryReceipt, OutboxMessage, SubscribeAuthorization
from server.workers.outbox import relay_once
from tests.support.notify import NO_WECHAT, RESIDENT, STAFF, values
from tests.support.wechat import WechatPusher, cdata

_create_times = itertools.count(int(time.time()) - 100)


def tomorrow_noon() -> datetime:
    """Relay time after every receipt these tests post (receipts use the real clock)."""
    tz = ZoneInfo("Asia/Shanghai")
    day = datetime.now(tz).date() + timedelta(days=1)
    return datetime.combine(day, clock(12, 0), tzinfo=tz).astimezone(UTC)


T = tomorrow_noon()


@pytest.fixture
def wechat(settings) -> WechatPusher:  # type: ignore[no-untyped-def]
    return WechatPusher.for_settings(settings)


async def sent_by_template(services, key="k1", to=STAFF) -> OutboxMessage:  # type: ignore[no-untyped-def]
    await enqueue("task_assigned", to, values("task_assigned"), key=key, now=T)
    await relay_once(services, now=T)
    row = await OutboxMessage.get(idempotency_key=key)
    assert (row.channel, row.msgid != "") == ("template", True)
    return row


async def push(app, wechat: WechatPusher, xml: str) -> None:  # type: ignore[no-untyped-def]
    response = await wechat.post(app.asgi_client, xml)
    assert response.status == 200
    assert wechat.read_reply(response.body) is None  # receipts get no reply


def template_receipt(wechat: WechatPusher, row: OutboxMessage, status: str) -> str:
    # A distinct CreateTime: WeChat's retry dedupe must not be what stops the duplicate.
    return wechat.template_finished(
        row.openid, int(row.msgid), status, create_time=next(_create_times)
    )


def subscribe_event(openid: str, event: str, items: list[dict[str, str]]) -> str:
    wrapper = {
        "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
        "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
        "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
    }[event]
    lists = "".join(
        "<List>" + "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in item.items()) + "</List>"
        for item in items
    )
    return (
        f"<xml><ToUserName>{cdata('gh_0fficia1demo')}</ToUserName>"
        f"<FromUserName>{cdata(openid)}</FromUserName><CreateTime>{next(_create_times)}"
        f"</CreateTime><MsgType>{cdata('event')}</MsgType><Event>{cdata(event)}</Event>"
        f"<{wrapper}>{lists}</{wrapper}></xml>"
    )


def snapshot(row: OutboxMessage) -> dict:
    return {name: getattr(row, name) for name in row._meta.fields_map}


# ---- template receipts ----------------------------------------------------------------------


async def test_template_success_receipt_marks_the_message_delivered(app, services, wechat):
    row = await sent_by_template(services)
    await push(app, wechat, template_receipt(wechat, row, "success"))
    row = await OutboxMessage.get(id=row.id)
    assert (row.status, row.receipt) == ("delivered", "success")
    assert row.delivered_at is not None


async def test_duplicate_template_receipt_changes_nothing(app, services, wechat):
    row = await sent_by_template(services)
    await push(app, wechat, template_receipt(wechat, row, "success"))
    before = snapshot(await OutboxMessage.get(id=row.id))
    await push(app, wechat, template_receipt(wechat, row, "success"))
    await push(app, wechat, template_receipt(wechat, row, "failed: system failed"))
    assert snapshot(await OutboxMessage.get(id=row.id)) == before
    assert await DeliveryReceipt.all().count() == 1


async def test_user_block_receipt_falls_back_to_the_next_channel(
    app, services, wechat, wechat_calls
):
    row = await sent_by_template(services)
    await push(app, wechat, template_receipt(wechat, row, "failed: user block"))
    row = await OutboxMessage.get(id=row.id)
    assert (row.status, row.skip_channels) == ("pending", ["template"])
    await relay_once(services, now=T)
    row = await OutboxMessage.get(id=row.id)
    assert (row.status, row.channel) == ("sent", "sms")
    assert len(wechat_calls.calls(kind="template")) == 1
    assert [c["phone"] for c in wechat_calls.sms_calls()] == [STAFF.phone]


async def test_receipt_that_beats_the_relay_is_applied_once_the_msgid_is_known(
    services, wechat_calls
):
    await enqueue("task_assigned", STAFF, values("task_assigned"), key="k1", now=T)
    # The emulator numbers msgids from 2,000,000,001: the receipt for this send comes first.
    assert await record_receipt("template", "2000000001", ok=True, status="success", now=T)
    await relay_once(services, now=T)
    row = await OutboxMessage.get(idempotency_key="k1")
    assert (row.msgid, row.status) == ("2000000001", "delivered")


# ---- SMS receipts ---------------------------------------------------------------------------


def sms_report(row: OutboxMessage, success: bool = True) -> list[dict]:
    return [
        {
            "phone_number": row.phone,
            "send_time": "2026-11-27 12:00:00",
            "report_time": "2026-11-27 12:00:03",
            "success": success,
            "err_code": "DELIVERED" if success else "MK:0001",
            "err_msg": "",
            "sms_size": "1",
            "biz_id": row.sms_biz_id,
            "out_id": row.sms_out_id,
        }
    ]


async def sent_by_sms(services) -> OutboxMessage:  # type: ignore[no-untyped-def]
    await enqueue("breach_warning", NO_WECHAT, values("breach_warning"), key="s1", now=T)
    await relay_once(services, now=T)
    row = await OutboxMessage.get(idempotency_key="s1")
    assert row.channel == "sms"
    return row


async def test_sms_receipt_marks_the_message_delivered(app, services, settings):
    row = await sent_by_sms(services)
    token = settings.notify.sms_receipt_token
    _, response = await app.asgi_client.post(f"/sms/receipts?token={token}", json=sms_report(row))
    assert (response.status, response.json["code"]) == (200, 0)
    row = await OutboxMessage.get(id=row.id)
    assert (row.status, row.receipt) == ("delivered", "DELIVERED")


async def test_failed_sms_receipt_marks_the_message_failed(app, services, settings):
    row = await sent_by_sms(services)
    _, response = await app.asgi_client.post(
        "/sms/receipts",
        json=sms_report(row, success=False),
        headers={"X-Receipt-Token": settings.notify.sms_receipt_token},
    )
    assert response.status == 200
    row = await OutboxMessage.get(id=row.id)
    assert (row.status, row.receipt) == ("failed", "MK:0001")


async def test_duplicate_sms_receipt_changes_nothing(app, services, settings):
    row = await sent_by_sms(services)
    url = f"/sms/receipts?token={settings.notify.sms_receipt_token}"
    await app.asgi_client.post(url, json=sms_report(row))
    before = snapshot(await OutboxMessage.get(id=row.id))
    _, response = await app.asgi_client.post(url, json=sms_report(row, success=False))
    assert response.status == 200  # Aliyun must stop pushing it
    assert snapshot(await OutboxMessage.get(id=row.id)) == before


@pytest.mark.parametrize("token", ["", "wrong"])
async def test_sms_receipt_without_the_token_is_refused_and_changes_nothing(app, services, token):
    row = await sent_by_sms(services)
    _, response = await app.asgi_client.post(f"/sms/receipts?token={token}", json=sms_report(row))
    assert response.status == 403
    assert (await OutboxMessage.get(id=row.id)).status == "sent"
    assert await DeliveryReceipt.all().count() == 0


async def test_malformed_sms_receipt_is_a_400(app, settings):
    url = f"/sms/receipts?token={settings.notify.sms_receipt_token}"
    _, response = await app.asgi_client.post(url, json={"out_id": "ob1"})
    assert response.status == 400


# ---- subscription notifications (official account) -----------------------------------------


async def test_popup_accepts_grant_one_send_each(app, wechat):
    items = [
        {"TemplateId": "osub_notice", "SubscribeStatusString": "accept", "PopupScene": "2"},
        {"TemplateId": "osub_rate_request", "SubscribeStatusString": "reject", "PopupScene": "2"},
    ]
    await push(app, wechat, subscribe_event("o_res_2", "subscribe_msg_popup_event", items))
    await push(app, wechat, subscribe_event("o_res_2", "subscribe_msg_popup_event", items[:1]))
    grants = {
        a.template_id: (a.remaining, a.status)
        for a in await SubscribeAuthorization.filter(app="official", openid="o_res_2")
    }
    assert grants == {"osub_notice": (2, "accept"), "osub_rate_request": (0, "reject")}


async def test_reject_in_settings_withdraws_what_was_granted(app, wechat):
    accept = [{"TemplateId": "osub_notice", "SubscribeStatusString": "accept"}]
    reject = [{"TemplateId": "osub_notice", "SubscribeStatusString": "reject"}]
    await push(app, wechat, subscribe_event("o_res_2", "subscribe_msg_popup_event", accept))
    await push(app, wechat, subscribe_event("o_res_2", "subscribe_msg_change_event", reject))
    auth = await SubscribeAuthorization.get(openid="o_res_2", template_id="osub_notice")
    assert (auth.remaining, auth.status) == (0, "reject")


async def test_subscription_sent_event_marks_the_message_delivered(
    app, services, wechat, wechat_calls
):
    await enqueue("notice", RESIDENT, values("notice"), key="n1", now=T)
    await OutboxMessage.filter(idempotency_key="n1").update(skip_channels=["template"])
    accept = [{"TemplateId": "osub_notice", "SubscribeStatusString": "accept"}]
    await push(app, wechat, subscribe_event(RESIDENT.openid, "subscribe_msg_popup_event", accept))
    await relay_once(services, now=T)
    row = await OutboxMessage.get(idempotency_key="n1")
    assert (row.status, row.channel) == ("sent", "subscribe")
    sent = [
        {
            "TemplateId": "osub_notice",
            "MsgID": row.msgid,
            "ErrorCode": "0",
            "ErrorStatus": "success",
        }
    ]
    await push(app, wechat, subscribe_event(RESIDENT.openid, "subscribe_msg_sent_event", sent))
    assert (await OutboxMessage.get(id=row.id)).status == "delivered"
