"""The KPI fact table: one row per task, rewritten in the transaction of each of its transitions.

Reports and KPIs read only this table (docs/kpi.md): small rows, plain columns, an index per
way of asking (community, department, person, each by day), so a month of one department over
a million tasks is an index range scan, and every figure stays right as tasks move.
"""

from tortoise import fields
from tortoise.models import Model


class TaskFact(Model):
    """KPI facts of one task (server.domain.kpi.TaskFacts plus where and when it belongs)."""

    task_id = fields.BigIntField(primary_key=True, generated=False)
    community_id = fields.IntField()
    building_id = fields.IntField(null=True)
    department_id = fields.IntField(null=True)
    assignee_id = fields.IntField(null=True, description="the handler the task counts for")
    kind = fields.CharField(max_length=32)
    category = fields.CharField(max_length=24)
    place = fields.CharField(max_length=64, default="", description="public spot, if any")
    state = fields.CharField(max_length=24)
    day = fields.DateField(description="local day the task was created (TZ_NAME)")
    week = fields.DateField(description="Monday of that week")
    month = fields.DateField(description="first day of that month")
    counted = fields.BooleanField(default=True, description="false when cancelled or rejected")
    completed = fields.BooleanField(default=False)
    ever_completed = fields.BooleanField(default=False)
    on_time = fields.BooleanField(null=True, description="completed by the resolve deadline")
    due_ts = fields.BigIntField(null=True, description="open tasks: resolve deadline, unix s")
    checkin_on_time = fields.BooleanField(null=True)
    response_s = fields.IntField(null=True)
    arrival_s = fields.IntField(null=True)
    resolution_s = fields.IntField(null=True)
    held_s = fields.IntField(default=0)
    score = fields.SmallIntField(null=True)
    excellent = fields.BooleanField(null=True)
    reworked = fields.BooleanField(default=False)
    reopened = fields.BooleanField(default=False)
    cost = fields.DecimalField(max_digits=12, decimal_places=2, null=True, description="yuan")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "task_facts"
        indexes = (
            ("community_id", "day"),
            ("department_id", "day"),
            ("assignee_id", "day"),
        )
