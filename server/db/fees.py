"""Fee ledger: what each room owes per period and item."""

from tortoise import fields
from tortoise.models import Model

from server.db.estate import Room


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
