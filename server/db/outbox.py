"""The notification outbox, delivery receipts, subscribe consent and broadcast fan-out jobs.

Every row here is written in the transaction of the change that caused it (docs/notifications.md).
"""

from typing import Any

from tortoise import fields
from tortoise.models import Model


class OutboxMessage(Model):
    """One message to one person. The idempotency key makes a repeated cause a no-op."""

    id = fields.BigIntField(primary_key=True)
    idempotency_key = fields.CharField(max_length=128, unique=True)
    kind = fields.CharField(max_length=32, description="catalog kind, e.g. task_assigned")
    recipient_kind = fields.CharField(max_length=16, description="staff or resident")
    recipient_id = fields.IntField(null=True)
    openid = fields.CharField(max_length=64, default="")
    miniapp_openid = fields.CharField(max_length=64, default="")
    phone = fields.CharField(max_length=20, default="")
    urgent = fields.BooleanField(default=False)
    values = fields.JSONField[dict[str, Any]](description="template variables")
    subject = fields.CharField(
        max_length=40, default="", db_index=True, description="task:T1042 or broadcast:7"
    )
    status = fields.CharField(
        max_length=12,
        default="pending",
        db_index=True,
        description="pending, sending, sent, delivered, failed or unconfirmed",
    )
    channel = fields.CharField(max_length=16, default="", description="channel that delivered")
    skip_channels = fields.JSONField[list[str]](
        default=list, description="channels not to try again"
    )
    msgid = fields.CharField(max_length=32, default="", db_index=True, description="WeChat msgid")
    sms_out_id = fields.CharField(max_length=32, default="", db_index=True)
    sms_biz_id = fields.CharField(max_length=64, default="")
    receipt = fields.CharField(max_length=64, default="", description="last delivery receipt")
    attempts = fields.SmallIntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lock_owner = fields.CharField(max_length=64, null=True)
    lock_expires_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
        indexes = (("status", "next_attempt_at"),)


class DeliveryReceipt(Model):
    """A delivery report from WeChat or Aliyun, kept once per (channel, external id).

    The unique pair is what makes a repeated receipt change nothing. A receipt that arrives
    before its outbox row knows the msgid waits here until the relay applies it.
    """

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=16, description="template, subscribe or sms")
    external_id = fields.CharField(max_length=64, description="WeChat msgid or our SMS OutId")
    ok = fields.BooleanField()
    status = fields.CharField(max_length=64, description="as reported, e.g. failed: user block")
    payload = fields.JSONField[dict[str, Any]](default=dict, description="the report as received")
    received_at = fields.DatetimeField()
    applied_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery_receipts"
        unique_together = (("channel", "external_id"),)


class SubscribeAuthorization(Model):
    """How many sends of one subscribe template a person allowed: an accept adds one."""

    id = fields.BigIntField(primary_key=True)
    app = fields.CharField(max_length=8, description="official or miniapp")
    openid = fields.CharField(max_length=64, description="openid of that app")
    template_id = fields.CharField(max_length=128)
    remaining = fields.IntField(default=0)
    status = fields.CharField(max_length=8, default="accept", description="accept, reject or ban")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "subscribe_authorizations"
        unique_together = (("app", "openid", "template_id"),)


class Broadcast(Model):
    """One message to many people: the request writes this row, relays expand it in batches.

    Audience is a small filter (community ids, relations) over residents. Targeting by building,
    unit, room or phone list belongs to notices (issue 7) and extends `audience`.
    """

    id = fields.BigIntField(primary_key=True)
    idempotency_key = fields.CharField(max_length=128, unique=True)
    kind = fields.CharField(max_length=32, description="catalog kind, e.g. notice")
    values = fields.JSONField[dict[str, Any]](
        description="template variables, the same for everyone"
    )
    audience = fields.JSONField[dict[str, Any]](default=dict)
    urgent = fields.BooleanField(default=False)
    status = fields.CharField(max_length=12, default="pending", description="pending or done")
    cursor = fields.IntField(default=0, description="last resident id expanded")
    expanded = fields.IntField(default=0)
    lock_owner = fields.CharField(max_length=64, null=True)
    lock_expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "broadcasts"
        indexes = (("status", "id"),)
