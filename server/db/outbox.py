"""The notification outbox: written in the same transaction as the change that caused it."""

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
    phone = fields.CharField(max_length=20, default="")
    urgent = fields.BooleanField(default=False)
    values = fields.JSONField(description="template variables")
    status = fields.CharField(max_length=12, default="pending", db_index=True)
    channel = fields.CharField(max_length=16, default="", description="channel that delivered")
    attempts = fields.SmallIntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lock_owner = fields.CharField(max_length=64, null=True)
    lock_expires_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
        indexes = (("status", "next_attempt_at"),)
