"""Notifications: queue them (inside the caller's transaction), route and deliver them (relay),
record delivery receipts and subscribe consent. docs/notifications.md explains the choices.

Per channel, what a relay crash between a send and its record means:
- template: at-least-once towards WeChat, once to the person: every attempt carries the same
  `client_msg_id`, and WeChat sends one message per openid + client_msg_id within 10 minutes
  (the lease is far shorter, so a re-claimed row is re-sent inside that window).
- sms: at-most-once. SendSms has no idempotency key, so the row is marked `sending` (with our
  OutId) and committed before the call. A row found still `sending` after its lease expired is
  never sent again: it becomes `unconfirmed` unless Aliyun's receipt for that OutId says more.
- custom (customer-service) and subscribe: at-least-once. WeChat offers no dedupe id for them;
  the outcome is written right after each send, so only a crash inside that gap repeats one.
  A repeated subscribe send needs a second authorization, or WeChat refuses it (43101).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from server.adapters.sms_aliyun import SmsError
from server.adapters.wechat_api import WechatApiError
from server.db.bulk import insert_new
from server.db.outbox import DeliveryReceipt, OutboxMessage, SubscribeAuthorization
from server.db.people import Resident, Staff, WechatUser
from server.domain.channels import (
    MAX_ATTEMPTS,
    Reach,
    channel_order,
    quiet_until,
    retry_delay_s,
    sms_windows,
)
from templates_msg import Rendered, catalog, render_message

log = logging.getLogger("wuye.notify")

CLIENT_MSG_ID_MAX = 64
SMS_LIMIT_CODE = "isv.BUSINESS_LIMIT_CONTROL"
# The only SendSms failures that prove the request never reached Aliyun: the connection itself
# failed. A read timeout may come after Aliyun accepted the SMS, so it is not retried.
_NOT_CONNECTED = (
    "NewConnectionError",
    "Connection refused",
    "ConnectTimeout",
    "Failed to establish",
)
# Consent answers: wx.requestSubscribeMessage results and the official account's popup events.
CONSENT_ANSWERS = frozenset({"accept", "reject", "ban", "filter"})

_SMS_LIMIT_SCRIPT = """
if redis.call("exists", KEYS[1]) == 1 then return -1 end
local n = #KEYS - 1
for i = 1, n do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call("get", KEYS[i + 1]) or "0") >= limit then return i end
end
for i = 1, n do
  redis.call("incr", KEYS[i + 1])
  redis.call("expire", KEYS[i + 1], ARGV[n + i])
end
return 0
"""


@dataclass(frozen=True)
class Recipient:
    """Who a message is for and every address we know for them."""

    kind: str  # staff or resident
    id: int | None
    openid: str
    phone: str
    miniapp_openid: str = ""

    @classmethod
    def of_staff(cls, staff: Staff) -> Recipient:
        return cls("staff", staff.id, staff.openid or "", staff.phone, staff.miniapp_openid or "")

    @classmethod
    def of_resident(cls, resident: Resident) -> Recipient:
        return cls(
            "resident",
            resident.id,
            resident.openid or "",
            resident.phone,
            resident.miniapp_openid or "",
        )


# ---------------------------------------------------------------------------- queue


def task_subject(values: dict[str, Any]) -> str:
    """Messages about a task are listed under it (GET /api/v1/tasks/<ref>/deliveries)."""
    ref = values.get("ref")
    return f"task:{ref}" if ref else ""


def outbox_row(
    kind: str,
    to: Recipient,
    values: dict[str, Any],
    *,
    key: str,
    now: datetime,
    subject: str | None = None,
    urgent: bool | None = None,
) -> OutboxMessage:
    """An unsaved outbox row (a broadcast bulk-inserts a batch)."""
    return OutboxMessage(
        **outbox_values(kind, to, values, key=key, now=now, subject=subject, urgent=urgent)
    )


def outbox_values(
    kind: str,
    to: Recipient,
    values: dict[str, Any],
    *,
    key: str,
    now: datetime,
    subject: str | None = None,
    urgent: bool | None = None,
) -> dict[str, Any]:
    """The columns of an outbox row as a dict (the timer runner inserts thousands without
    building a model object for each)."""
    return dict(
        idempotency_key=key[:128],
        kind=kind,
        recipient_kind=to.kind,
        recipient_id=to.id,
        openid=to.openid,
        miniapp_openid=to.miniapp_openid,
        phone=to.phone,
        urgent=bool(catalog()[kind].get("urgent")) if urgent is None else urgent,
        values=values,
        subject=(task_subject(values) if subject is None else subject)[:40],
        skip_channels=[],
        next_attempt_at=now,
        created_at=now,
    )


async def enqueue(
    kind: str,
    to: Recipient,
    values: dict[str, Any],
    *,
    key: str,
    now: datetime,
    subject: str | None = None,
    urgent: bool | None = None,
) -> bool:
    """Write one outbox row; call it inside the transaction of the change that caused it.

    `key` is the idempotency key: the same cause queued twice is kept once. Returns False when
    the row already existed. `urgent` overrides the catalog (an outage notice is urgent).
    """
    render_message(kind, values)  # fail now, in the caller's transaction, not in the relay
    row = outbox_values(kind, to, values, key=key, now=now, subject=subject, urgent=urgent)
    return await insert_new(OutboxMessage, row)


# ---------------------------------------------------------------------------- deliver


class LeaseLost(Exception):
    """Another relay took the row (our lease ran out): leave it alone."""


@dataclass(frozen=True)
class Outcome:
    """What one channel did: sent (with WeChat's msgid or Aliyun's BizId), or why not."""

    sent: bool = False
    external_id: str = ""
    error: str = ""
    later: bool = False  # transient: retry this channel
    at: datetime | None = None  # earliest retry (SMS window reopening), else back-off
    unknown: bool = False  # the SMS may have gone out: never send it again


async def followers_of(messages: Iterable[OutboxMessage]) -> dict[str, WechatUser]:
    """Follower rows for a batch in one query (channel choice needs subscribed + 48 h window)."""
    openids = sorted({m.openid for m in messages if m.openid})
    if not openids:
        return {}
    return {u.openid: u for u in await WechatUser.filter(openid__in=openids)}


async def deliver(
    message: OutboxMessage,
    services: Any,
    now: datetime,
    *,
    followers: dict[str, WechatUser] | None = None,
) -> None:
    """Try each allowed channel in order; definitive refusals fall through, transient ones retry.

    Changes `message` in memory; the relay writes it. Non-urgent kinds wait out quiet hours.
    """
    settings = services.settings
    if message.status == "sending":
        await _settle_interrupted_sms(message, now)
        return
    if not message.urgent:
        until = quiet_until(
            now, ZoneInfo(settings.tz_name), settings.notify.quiet_start, settings.notify.quiet_end
        )
        if until is not None:
            message.next_attempt_at = until
            return
    rendered = _rendered(message.kind, message.values)
    if followers is not None:
        follower = followers.get(message.openid)
    else:
        follower = await WechatUser.get_or_none(openid=message.openid) if message.openid else None
    reach = Reach(
        openid=message.openid,
        follows=follower.subscribed if follower else None,
        last_inbound_at=follower.last_inbound_at if follower else None,
        phone=message.phone,
        miniapp_openid=message.miniapp_openid,
    )
    template_id = settings.wechat_templates.get(message.kind)
    sms_code = settings.sms_templates.get(message.kind) if rendered.sms_params else None
    targets = subscribe_targets(message, settings)
    order = channel_order(
        reach,
        now,
        has_template=bool(template_id),
        has_sms=bool(sms_code),
        has_subscribe=bool(targets),
        skip=message.skip_channels,
    )
    errors = [message.last_error] if message.last_error and message.skip_channels else []
    for channel in order:
        if channel == "custom":
            outcome = await _send_custom(message, rendered, services)
        elif channel == "template":
            outcome = await _send_template(message, rendered, services, str(template_id))
        elif channel == "subscribe":
            outcome = await _send_subscribe(message, rendered, services, targets, now)
        else:
            outcome = await _send_sms(message, rendered, services, str(sms_code), now)
        if outcome.sent:
            message.status, message.channel, message.sent_at = "sent", channel, now
            if channel == "sms":
                message.sms_biz_id = outcome.external_id
            else:
                message.msgid = outcome.external_id
            message.last_error = "; ".join(errors)[-2000:]
            return
        errors.append(f"{channel}: {outcome.error}")
        if outcome.unknown:
            message.status, message.channel = "unconfirmed", channel
            message.last_error = "; ".join(errors)[-2000:]
            return
        if outcome.later:
            if message.attempts + 1 < MAX_ATTEMPTS:
                _retry(message, now, "; ".join(errors), outcome.at)
                return
            # This channel kept failing for hours: let the next one try.
            message.skip_channels = [*message.skip_channels, channel]
    message.status = "failed"
    message.last_error = ("; ".join(errors) or "no channel reaches this person")[-2000:]
    log.warning("outbox %s undeliverable: %s", message.id, message.last_error)


@lru_cache(maxsize=256)
def _rendered_json(kind: str, values_json: str) -> Rendered:
    return render_message(kind, json.loads(values_json))


def _rendered(kind: str, values: dict[str, Any]) -> Rendered:
    """Rendering is the same for every recipient of a broadcast: do it once per distinct message."""
    return _rendered_json(kind, json.dumps(values, sort_keys=True, ensure_ascii=False))


def _retry(message: OutboxMessage, now: datetime, error: str, at: datetime | None) -> None:
    message.attempts += 1
    message.last_error = error[-2000:]
    message.status = "pending"
    delay = now + timedelta(seconds=retry_delay_s(message.attempts))
    message.next_attempt_at = max(delay, at) if at else delay


def client_msg_id(message: OutboxMessage) -> str:
    """Our idempotency key as WeChat's client_msg_id (hashed when longer than WeChat takes)."""
    key = message.idempotency_key
    return key if len(key) <= CLIENT_MSG_ID_MAX else hashlib.sha1(key.encode()).hexdigest()


def _wechat_outcome(exc: WechatApiError) -> Outcome:
    return Outcome(error=str(exc), later=exc.transient)


async def _send_custom(message: OutboxMessage, rendered: Rendered, services: Any) -> Outcome:
    try:
        await services.wechat.send_custom_text(message.openid, rendered.text)
    except WechatApiError as exc:
        await _learn_unfollow(message.openid, exc)
        return _wechat_outcome(exc)
    return Outcome(sent=True)


async def _send_template(
    message: OutboxMessage, rendered: Rendered, services: Any, template_id: str
) -> Outcome:
    settings = services.settings
    try:
        result = await services.wechat.send_template(
            message.openid,
            template_id,
            rendered.template_fields,
            miniprogram={"appid": settings.miniapp_appid, "pagepath": rendered.page},
            client_msg_id=client_msg_id(message),
        )
    except WechatApiError as exc:
        await _learn_unfollow(message.openid, exc)
        return _wechat_outcome(exc)
    return Outcome(sent=True, external_id=str(result.get("msgid") or ""))


async def _learn_unfollow(openid: str, exc: WechatApiError) -> None:
    # 43004: the user no longer follows the account. Remember it so the next message goes
    # straight to a channel that still reaches them.
    if exc.errcode == 43004 and openid:
        await WechatUser.filter(openid=openid).update(subscribed=False)


# -- subscribe --------------------------------------------------------------------------------


def subscribe_targets(message: OutboxMessage, settings: Any) -> list[tuple[str, str, str]]:
    """(app, openid, template_id) a subscribe message could use: mini-program first."""
    targets = []
    if message.miniapp_openid and message.kind in settings.miniapp_templates:
        template_id = settings.miniapp_templates[message.kind]
        targets.append(("miniapp", message.miniapp_openid, template_id))
    if message.openid and message.kind in settings.wechat_subscribe_templates:
        targets.append(
            ("official", message.openid, settings.wechat_subscribe_templates[message.kind])
        )
    return targets


async def _send_subscribe(
    message: OutboxMessage,
    rendered: Rendered,
    services: Any,
    targets: list[tuple[str, str, str]],
    now: datetime,
) -> Outcome:
    errors = []
    for app, openid, template_id in targets:
        if not await take_authorization(app, openid, template_id):
            continue
        try:
            if app == "miniapp":
                result = await services.miniapp.send_subscribe(
                    openid, template_id, rendered.subscribe_fields, page=rendered.page or None
                )
            else:
                result = await services.wechat.send_subscribe_biz(
                    openid,
                    template_id,
                    rendered.subscribe_fields,
                    miniprogram={
                        "appid": services.settings.miniapp_appid,
                        "pagepath": rendered.page,
                    },
                )
        except WechatApiError as exc:
            if exc.errcode == 43101:
                # The user holds no authorization after all (revoked in settings, or a report
                # we counted twice): believe WeChat.
                await SubscribeAuthorization.filter(
                    app=app, openid=openid, template_id=template_id
                ).update(remaining=0)
            else:
                await _give_back(app, openid, template_id)
            if exc.transient:
                return _wechat_outcome(exc)
            errors.append(f"{app} {exc}")
            continue
        return Outcome(sent=True, external_id=str(result.get("msgid") or ""))
    return Outcome(error="; ".join(errors) or "no unused subscribe authorization")


async def take_authorization(app: str, openid: str, template_id: str) -> bool:
    """Use one send of an authorization; False when none is left (one send per accept)."""
    used = await SubscribeAuthorization.filter(
        app=app, openid=openid, template_id=template_id, remaining__gt=0
    ).update(remaining=F("remaining") - 1)
    return bool(used)


async def _give_back(app: str, openid: str, template_id: str) -> None:
    # The send did not happen (busy, bad data): the authorization was not used up.
    await SubscribeAuthorization.filter(app=app, openid=openid, template_id=template_id).update(
        remaining=F("remaining") + 1
    )


# -- sms --------------------------------------------------------------------------------------


def sms_out_id(message: OutboxMessage) -> str:
    """Our OutId for a row's SMS: Aliyun echoes it in the delivery report."""
    return f"ob{message.id}"


async def _send_sms(
    message: OutboxMessage, rendered: Rendered, services: Any, code: str, now: datetime
) -> Outcome:
    settings = services.settings
    limit = await _take_sms_slot(services, message.phone, now)
    if limit is not None:
        return limit
    out_id = sms_out_id(message)
    # At-most-once: commit "an SMS may be on its way" before asking Aliyun (SendSms is not
    # idempotent). If this relay dies now, nobody sends it again (docstring above).
    marked = await OutboxMessage.filter(id=message.id, lock_owner=message.lock_owner).update(
        status="sending", channel="sms", sms_out_id=out_id
    )
    if not marked:
        raise LeaseLost(message.id)
    message.status, message.channel, message.sms_out_id = "sending", "sms", out_id
    try:
        biz_id = await services.sms.send(
            message.phone, code, rendered.sms_params or {}, out_id=out_id
        )
    except SmsError as exc:
        message.status, message.channel = "pending", ""
        if exc.code == SMS_LIMIT_CODE:
            # Aliyun's per-number flow control: stop asking for this number for a while rather
            # than retrying into the same wall (every retry counts against the quota).
            await services.redis.set(
                _sms_key(settings, message.phone, "blocked"), "1", ex=settings.notify.sms_block_s
            )
            return Outcome(error=str(exc))
        if exc.code == "SDK.HttpError" and not any(s in exc.message for s in _NOT_CONNECTED):
            return Outcome(error=str(exc), unknown=True)
        return Outcome(error=str(exc), later=exc.transient)
    return Outcome(sent=True, external_id=biz_id)


def _sms_key(settings: Any, phone: str, *parts: object) -> str:
    return ":".join([f"{settings.redis_prefix}sms", phone, *map(str, parts)])


async def _take_sms_slot(services: Any, phone: str, now: datetime) -> Outcome | None:
    """Count one SMS against the number's minute/hour/day limits; an Outcome when refused."""
    settings = services.settings
    cfg = settings.notify
    windows = sms_windows(cfg.sms_per_minute, cfg.sms_per_hour, cfg.sms_per_day)
    keys = [_sms_key(settings, phone, "blocked")] + [
        _sms_key(settings, phone, w.name, w.bucket(now)) for w in windows
    ]
    args = [w.limit for w in windows] + [w.seconds for w in windows]
    full = int(await services.redis.eval(_SMS_LIMIT_SCRIPT, len(keys), *keys, *args))
    if full == 0:
        return None
    if full < 0:
        return Outcome(error=f"{SMS_LIMIT_CODE} earlier: no SMS to this number for now")
    window = windows[full - 1]
    error = f"local limit: {window.limit} SMS per {window.name} for this number"
    if window.name == "day":
        return Outcome(error=error)
    return Outcome(error=error, later=True, at=window.reopens_at(now))


async def _settle_interrupted_sms(message: OutboxMessage, now: datetime) -> None:
    """A relay died while an SMS was on its way: never send it again, ask the receipts."""
    receipt = await DeliveryReceipt.get_or_none(channel="sms", external_id=message.sms_out_id)
    message.channel = "sms"
    if receipt is not None:
        message.status, message.receipt = _sms_receipt_status(receipt.ok), receipt.status[:64]
        if receipt.ok:
            message.delivered_at = now
        await DeliveryReceipt.filter(id=receipt.id).update(applied_at=now)
        return
    message.status = "unconfirmed"
    message.last_error = (
        "the relay stopped during an SMS send: not sent again (at-most-once), "
        "waiting for Aliyun's receipt"
    )


def _sms_receipt_status(ok: bool) -> str:
    return "delivered" if ok else "failed"


# ---------------------------------------------------------------------------- receipts


async def record_receipt(
    channel: str,
    external_id: str,
    *,
    ok: bool,
    status: str,
    now: datetime,
    raw: dict[str, Any] | None = None,
) -> bool:
    """Keep a delivery report once and apply it to its message; False for a duplicate.

    channel: template (TEMPLATESENDJOBFINISH, by msgid), subscribe (subscribe_msg_sent_event, by
    msgid) or sms (SmsReport, by our OutId).
    """
    if not external_id:
        return False
    try:
        async with in_transaction():
            receipt = await DeliveryReceipt.create(
                channel=channel,
                external_id=external_id[:64],
                ok=ok,
                status=status[:64],
                payload=raw or {},
                received_at=now,
            )
    except IntegrityError:
        return False
    await apply_receipts([receipt], now)
    return True


async def apply_receipts(receipts: Iterable[DeliveryReceipt], now: datetime) -> int:
    """Apply receipts to messages no relay holds; the others wait (the relay applies them)."""
    applied = 0
    for receipt in receipts:
        column = "sms_out_id" if receipt.channel == "sms" else "msgid"
        async with in_transaction():
            row = (
                await OutboxMessage.filter(
                    Q(**{column: receipt.external_id}) & Q(lock_owner__isnull=True)
                )
                .select_for_update()
                .first()
            )
            if row is None:
                continue
            taken = await DeliveryReceipt.filter(id=receipt.id, applied_at__isnull=True).update(
                applied_at=now
            )
            if not taken:
                continue
            changes = receipt_changes(row, receipt, now)
            if changes:
                await OutboxMessage.filter(id=row.id).update(**changes)
            applied += 1
    return applied


async def apply_waiting_receipts(messages: Iterable[OutboxMessage], now: datetime) -> int:
    """After a relay wrote its batch: receipts that arrived before the msgid was on record."""
    msgids = [m.msgid for m in messages if m.msgid]
    out_ids = [m.sms_out_id for m in messages if m.sms_out_id]
    if not msgids and not out_ids:
        return 0
    query = Q(applied_at__isnull=True) & (
        Q(channel__in=["template", "subscribe"], external_id__in=msgids or [""])
        | Q(channel="sms", external_id__in=out_ids or [""])
    )
    waiting = await DeliveryReceipt.filter(query)
    return await apply_receipts(waiting, now) if waiting else 0


def receipt_changes(row: OutboxMessage, receipt: DeliveryReceipt, now: datetime) -> dict[str, Any]:
    """What a receipt means for its message: delivered, or (WeChat) fall back to the next one."""
    if row.channel != receipt.channel or row.status not in ("sent", "sending", "unconfirmed"):
        return {"receipt": receipt.status[:64]}
    if receipt.ok:
        return {"status": "delivered", "receipt": receipt.status[:64], "delivered_at": now}
    error = f"{receipt.channel} receipt: {receipt.status}"
    if receipt.channel == "sms":
        return {
            "status": "failed",
            "receipt": receipt.status[:64],
            "last_error": (f"{row.last_error}; {error}" if row.last_error else error)[-2000:],
        }
    # 'failed: user block' (the user blocked our template messages) or 'failed: system failed':
    # the person did not get it, so the next channel tries.
    return {
        "status": "pending",
        "receipt": receipt.status[:64],
        "next_attempt_at": now,
        "skip_channels": [*row.skip_channels, receipt.channel],
        "last_error": (f"{row.last_error}; {error}" if row.last_error else error)[-2000:],
    }


# ---------------------------------------------------------------------------- consent


async def record_consent(
    app: str, openid: str, answers: dict[str, str], now: datetime, *, grants: bool = True
) -> dict[str, int]:
    """Record subscribe answers per template id; returns the sends left per template.

    accept grants one more send when `grants` (a popup or wx.requestSubscribeMessage: each accept
    is one authorization), reject leaves earlier grants alone unless it comes from the user's
    settings (`grants=False`, subscribe_msg_change_event), ban removes them. filter is ignored.
    """
    left: dict[str, int] = {}
    for template_id, answer in sorted(answers.items()):
        if answer not in CONSENT_ANSWERS or answer == "filter" or not template_id:
            continue
        async with in_transaction():
            row, _ = await SubscribeAuthorization.get_or_create(
                app=app,
                openid=openid,
                template_id=template_id[:128],
                defaults={"remaining": 0, "status": answer, "updated_at": now},
            )
            row = await SubscribeAuthorization.filter(id=row.id).select_for_update().get()
            if answer == "accept":
                row.remaining += 1 if grants else 0
            elif answer == "ban" or not grants:
                row.remaining = 0
            row.status, row.updated_at = answer, now
            await row.save(update_fields=["remaining", "status", "updated_at"])
            left[template_id] = row.remaining
    return left


# ---------------------------------------------------------------------------- status


async def deliveries_of(subject: str) -> list[OutboxMessage]:
    """Every message about one task (task:T1042) or broadcast (broadcast:7), oldest first."""
    return await OutboxMessage.filter(subject=subject).order_by("id")


def delivery_view(row: OutboxMessage, tz: ZoneInfo) -> dict[str, Any]:
    """A message's delivery as the console shows it: no addresses (PIPL: personal data)."""

    def at(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat() if value else None

    return {
        "id": row.id,
        "kind": row.kind,
        "recipient_kind": row.recipient_kind,
        "recipient_id": row.recipient_id,
        "status": row.status,
        "channel": row.channel,
        "attempts": row.attempts,
        "receipt": row.receipt,
        "last_error": row.last_error,
        "created_at": at(row.created_at),
        "next_attempt_at": at(row.next_attempt_at),
        "sent_at": at(row.sent_at),
        "delivered_at": at(row.delivered_at),
    }
