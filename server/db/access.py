"""Site access: enrolled cards and faces, visitor passes, and the events gateways upload."""

from typing import Any

from tortoise import fields
from tortoise.models import Model

from server.db.estate import Community
from server.db.people import Resident, Staff


class AccessCredential(Model):
    """A card or enrolled face that opens doors for one resident or one staff member."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="access_credentials", on_delete=fields.CASCADE
    )
    community_id: int
    kind = fields.CharField(max_length=8, description="card or face")
    value = fields.CharField(max_length=128, description="card number or face template id")
    resident: fields.ForeignKeyNullableRelation[Resident] = fields.ForeignKeyField(
        "models.Resident",
        related_name="access_credentials",
        null=True,
        on_delete=fields.CASCADE,
    )
    resident_id: int | None
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="access_credentials", null=True, on_delete=fields.CASCADE
    )
    staff_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "access_credentials"
        unique_together = (("community", "kind", "value"),)


class VisitorPass(Model):
    """A visitor's credential valid in one time window, issued by a resident or staff member."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="visitor_passes", on_delete=fields.CASCADE
    )
    community_id: int
    credential_type = fields.CharField(max_length=8, description="qr, plate or card")
    credential = fields.CharField(max_length=128, description="QR content, plate or card number")
    valid_from = fields.DatetimeField()
    valid_to = fields.DatetimeField()
    host: fields.ForeignKeyNullableRelation[Resident] = fields.ForeignKeyField(
        "models.Resident",
        related_name="visitor_passes",
        null=True,
        on_delete=fields.CASCADE,
        description="whose doors and floors the visitor may reach, null for any",
    )
    host_id: int | None
    created_by = fields.CharField(max_length=48, description="resident:ID or staff:ID")
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "visitor_passes"
        unique_together = (("community", "credential_type", "credential"),)


class AccessEvent(Model):
    """Something that happened at a site gate or door, as the gateway or the server saw it."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=64, unique=True, description="set by the gateway")
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="access_events", on_delete=fields.CASCADE
    )
    community_id: int
    gateway_id = fields.CharField(max_length=64, description="server for commands it issued")
    kind = fields.CharField(max_length=24, description="plate_seen, door_opened, command_ack")
    at = fields.DatetimeField(description="when it happened on site")
    device_id = fields.CharField(max_length=64, default="")
    request_id = fields.CharField(max_length=64, default="")
    credential_type = fields.CharField(max_length=8, default="")
    credential = fields.CharField(max_length=256, default="")
    allow = fields.BooleanField(null=True)
    mode = fields.CharField(max_length=12, default="")
    reason = fields.CharField(max_length=32, default="")
    detail = fields.JSONField[dict[str, Any]](default=dict)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "access_events"
        indexes = (("community_id", "at"),)
