"""Inbound WeChat pushes. The unique key is the atomic dedupe mark (survives a Redis restart)."""

from tortoise import fields
from tortoise.models import Model


class InboundMessage(Model):
    id = fields.BigIntField(primary_key=True)
    dedupe_key = fields.CharField(max_length=128, unique=True, description="MsgId or openid:time")
    openid = fields.CharField(max_length=64, db_index=True)
    kind = fields.CharField(max_length=32, description="text, image, voice, location, event:...")
    content = fields.TextField(default="")
    received_at = fields.DatetimeField()

    class Meta:
        table = "inbound_messages"
