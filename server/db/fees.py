"""Fee ledger: what each room owes per period and item, and the payments set against it."""

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from server.db.estate import Room

if TYPE_CHECKING:
    from server.db.people import Staff


class FeeRow(Model):
    id = fields.IntField(primary_key=True)
    room: fields.ForeignKeyRelation[Room] = fields.ForeignKeyField(
        "models.Room", related_name="fees", on_delete=fields.CASCADE
    )
    room_id: int
    period = fields.CharField(max_length=16, description="2026-10 or 2026 or 2026Q3")
    item = fields.CharField(max_length=32, description="property_fee, parking_fee, repair_fee, ...")
    amount_due = fields.DecimalField(max_digits=12, decimal_places=2)
    amount_paid = fields.DecimalField(max_digits=12, decimal_places=2)
    due_date = fields.DateField()

    class Meta:
        table = "fee_rows"
        unique_together = (("room", "period", "item"),)


class Payment(Model):
    """One payment of a household for one item, allocated to its fee rows (docs/fees.md).

    `payment_id` is the payer system's (or the receipt's) id: unique, so a repeated payment
    notification finds the first one and changes nothing.
    """

    id = fields.BigIntField(primary_key=True)
    payment_id = fields.CharField(max_length=64, unique=True, description="external payment id")
    room: fields.ForeignKeyRelation[Room] = fields.ForeignKeyField(
        "models.Room", related_name="payments", on_delete=fields.RESTRICT
    )
    room_id: int
    item = fields.CharField(max_length=32)
    periods: Any = fields.JSONField(default=list, description="periods named by the payer")
    amount = fields.DecimalField(max_digits=12, decimal_places=2)
    allocations: Any = fields.JSONField(
        default=list, description="[period, amount] pairs the payment went to"
    )
    unallocated = fields.DecimalField(
        max_digits=12, decimal_places=2, description="left over: a credit for later periods"
    )
    paid_at = fields.DatetimeField()
    source = fields.CharField(max_length=8, description="api or notify")
    recorded_by: fields.ForeignKeyNullableRelation["Staff"] = fields.ForeignKeyField(
        "models.Staff", related_name="payments", null=True, on_delete=fields.SET_NULL
    )
    recorded_by_id: int | None
    created_at = fields.DatetimeField()

    class Meta:
        table = "payments"
        indexes = (("room_id", "item"),)
