"""Queue notifications (inside the caller's transaction) and deliver them (from the relay)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from server.db.outbox import OutboxMessage
from server.db.people import Resident, Staff, WechatUser
from server.domain.channels import MAX_ATTEMPTS, Reach, channel_order, retry_delay_s
from templates_msg import catalog, render_message

log = logging.getLogger("wuye.notify")


@dataclass(frozen=True)
class Recipient:
    kind: str  # staff or resident
    id: int | None
    openid: str
    phone: str

    @classmethod
    def of_staff(cls, staff: Staff) -> Recipient:
        return cls("staff", staff.id, staff.openid or "", staff.phone)

    @classmethod
    def of_resident(cls, resident: Resident) -> Recipient:
        return cls("resident", resident.id, resident.openid or "", resident.phone)


async def enqueue(kind: str, to: Recipient, values: dict[str, Any], *, key: str,
                  now: datetime) -> bool:
    """Write one outbox row; call it inside the transaction of the change that caused it.

    `key` is the idempotency key: the same cause queued twice is kept once. Returns False when
    the row already existed.
    """
    render_message(kind, values)  # fail now, in the caller's transaction, not in the relay
    try:
        await OutboxMessage.create(
            idempotency_key=key[:128], kind=kind, recipient_kind=to.kind, recipient_id=to.id,
            openid=to.openid, phone=to.phone, urgent=bool(catalog()[kind].get("urgent")),
            values=values, next_attempt_at=now, created_at=now,
        )
    except IntegrityError:
        return False
    return True


async def deliver(message: OutboxMessage, services: Any, now: datetime) -> None:
    """Try each allowed channel in order; definitive refusals fall through, transient ones retry."""
    from server.adapters.sms_aliyun import SmsError
    from server.adapters.wechat_api import WechatApiError

    settings = services.settings
    rendered = render_message(message.kind, message.values)
    follower = await WechatUser.get_or_none(openid=message.openid) if message.openid else None
    reach = Reach(
        openid=message.openid,
        follows=follower.subscribed if follower else None,
        last_inbound_at=follower.last_inbound_at if follower else None,
        phone=message.phone,
    )
    template_id = settings.wechat_templates.get(message.kind)
    sms_code = settings.sms_templates.get(message.kind) if rendered.sms_params else None
    errors: list[str] = []
    for channel in channel_order(reach, now, has_template=bool(template_id), has_sms=bool(sms_code)):
        try:
            if channel == "custom":
                await services.wechat.send_custom_text(message.openid, rendered.text)
            elif channel == "template":
                await services.wechat.send_template(
                    message.openid, template_id, rendered.template_fields,
                    miniprogram={"appid": settings.miniapp_appid, "pagepath": rendered.page},
                    client_msg_id=message.idempotency_key[:64],
                )
            else:
                await services.sms.send(message.phone, sms_code, rendered.sms_params or {},
                                        out_id=message.idempotency_key[:64])
        except (WechatApiError, SmsError) as exc:
            if exc.transient:
                _retry(message, now, f"{channel}: {exc}")
                return
            errors.append(f"{channel}: {exc}")
            continue
        message.status, message.channel, message.sent_at = "sent", channel, now
        message.last_error = "; ".join(errors)
        return
    message.status = "failed"
    message.last_error = "; ".join(errors) or "no channel reaches this person"
    log.warning("outbox %s undeliverable: %s", message.id, message.last_error)


def _retry(message: OutboxMessage, now: datetime, error: str) -> None:
    message.attempts += 1
    message.last_error = error
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        return
    message.status = "pending"
    message.next_attempt_at = now + timedelta(seconds=retry_delay_s(message.attempts))


def utcnow() -> datetime:
    return datetime.now(UTC)
