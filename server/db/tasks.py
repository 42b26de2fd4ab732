"""Tasks, their immutable event trail, photos, durable timers and process versions."""

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.db.estate import Community, Room
    from server.db.people import Department, Resident, Staff

REF_OFFSET = 1000  # T1001 is the first task: short references people can read out on the phone


class ProcessVersion(Model):
    """A process definition as it was when tasks started on it. Running tasks keep theirs."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    version = fields.CharField(max_length=16, description="content hash of the definition")
    definition: Any = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "process_versions"
        unique_together = (("kind", "version"),)


class Task(Model):
    """A unit of work (a repair is a task kind). Its reference is T + (id + 1000)."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    process: fields.ForeignKeyRelation[ProcessVersion] = fields.ForeignKeyField(
        "models.ProcessVersion", related_name="tasks", on_delete=fields.RESTRICT
    )
    process_id: int
    state = fields.CharField(max_length=24, db_index=True)
    category = fields.CharField(max_length=24)
    urgency = fields.CharField(max_length=8, default="normal")
    community: fields.ForeignKeyRelation["Community"] = fields.ForeignKeyField(
        "models.Community", related_name="tasks", on_delete=fields.RESTRICT
    )
    community_id: int
    room: fields.ForeignKeyNullableRelation["Room"] = fields.ForeignKeyField(
        "models.Room", related_name="tasks", null=True, on_delete=fields.RESTRICT
    )
    room_id: int | None
    place = fields.CharField(max_length=64, default="", description="public spot, e.g. east gate")
    description = fields.TextField(default="")
    visit_time = fields.CharField(max_length=64, default="")
    source = fields.CharField(max_length=16, description="wechat, miniapp, console, phone")
    reporter: fields.ForeignKeyNullableRelation["Resident"] = fields.ForeignKeyField(
        "models.Resident", related_name="tasks", null=True, on_delete=fields.SET_NULL
    )
    reporter_id: int | None
    reporter_openid = fields.CharField(max_length=64, default="")
    created_by: fields.ForeignKeyNullableRelation["Staff"] = fields.ForeignKeyField(
        "models.Staff", related_name="created_tasks", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    department: fields.ForeignKeyNullableRelation["Department"] = fields.ForeignKeyField(
        "models.Department", related_name="tasks", null=True, on_delete=fields.SET_NULL
    )
    department_id: int | None
    assignee: fields.ForeignKeyNullableRelation["Staff"] = fields.ForeignKeyField(
        "models.Staff", related_name="assigned_tasks", null=True, on_delete=fields.SET_NULL
    )
    assignee_id: int | None
    contractor: fields.ForeignKeyNullableRelation["Department"] = fields.ForeignKeyField(
        "models.Department",
        related_name="contracted_tasks",
        null=True,
        on_delete=fields.SET_NULL,
        description="the external unit doing a contractor job",
    )
    contractor_id: int | None
    due_at = fields.DatetimeField(null=True, description="the deadline its creator gave")
    respond_by = fields.DatetimeField(null=True)
    arrive_by = fields.DatetimeField(null=True)
    resolve_by = fields.DatetimeField(null=True)
    accepted_at = fields.DatetimeField(null=True)
    on_site_at = fields.DatetimeField(null=True)
    arrived_late = fields.BooleanField(null=True)
    completed_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    score = fields.SmallIntField(null=True)
    rating_comment = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "tasks"
        indexes = (
            ("community_id", "state"),
            ("assignee_id", "state"),
            ("department_id", "state"),
            ("process_id", "state"),
        )

    @property
    def ref(self) -> str:
        return f"T{self.id + REF_OFFSET}"


class TaskEvent(Model):
    """One transition (or note) on a task: the audit trail. Rows are only ever inserted."""

    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="events", on_delete=fields.CASCADE
    )
    task_id: int
    action = fields.CharField(max_length=32)
    from_state = fields.CharField(max_length=24)
    to_state = fields.CharField(max_length=24)
    actor_kind = fields.CharField(max_length=16, description="system, staff or resident")
    actor_id = fields.IntField(null=True)
    actor_name = fields.CharField(max_length=32, default="")
    note = fields.TextField(default="")
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    photo_ids: Any = fields.JSONField(default=list)
    data: Any = fields.JSONField(default=dict)
    at = fields.DatetimeField()

    class Meta:
        table = "task_events"
        indexes = (("task_id", "id"),)


class Photo(Model):
    """A site photo stored on disk by content hash (JPEG or PNG only)."""

    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyNullableRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="photos", null=True, on_delete=fields.SET_NULL
    )
    task_id: int | None
    sha256 = fields.CharField(max_length=64, db_index=True)
    content_type = fields.CharField(max_length=16)
    size = fields.IntField()
    uploaded_by_kind = fields.CharField(max_length=16)
    uploaded_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "photos"


class Timer(Model):
    """A durable timer: claimed with FOR UPDATE SKIP LOCKED, fired once (fired_at set)."""

    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="timers", on_delete=fields.CASCADE
    )
    task_id: int
    name = fields.CharField(
        max_length=32, description="respond.warn, arrive.breach, rating.timeout"
    )
    due_at = fields.DatetimeField()
    fired_at = fields.DatetimeField(null=True)
    cancelled = fields.BooleanField(default=False)
    lock_owner = fields.CharField(max_length=64, null=True)
    lock_expires_at = fields.DatetimeField(null=True)
    attempts = fields.SmallIntField(default=0)
    last_error = fields.TextField(default="")

    class Meta:
        table = "timers"
        unique_together = (("task", "name"),)
        indexes = (("fired_at", "cancelled", "due_at"),)


class TaskClock(Model):
    """One run of an SLA clock on a task: its calendar, its pauses and how far it escalated.

    The deadline is reproducible from the row alone:
    sla.deadline(started_at, duration_s, pauses, calendar) (docs/processes.md).
    """

    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="clocks", on_delete=fields.CASCADE
    )
    task_id: int
    name = fields.CharField(max_length=24, description="respond, arrive, resolve, ...")
    calendar = fields.CharField(max_length=32, description="calendar in config/sla.yaml")
    duration_s = fields.IntField(description="running seconds allowed")
    started_at = fields.DatetimeField()
    due_at = fields.DatetimeField(null=True, description="null while paused with time left")
    paused_at = fields.DatetimeField(null=True, description="set while the clock stands still")
    pauses: Any = fields.JSONField(default=list, description="closed pauses as [start, end] pairs")
    stopped_at = fields.DatetimeField(null=True)
    level = fields.SmallIntField(default=0, description="0 running, 1 breached, 2 and up escalated")

    class Meta:
        table = "task_clocks"
        unique_together = (("task", "name"),)
        indexes = (("stopped_at", "due_at"),)


class RoutingCursor(Model):
    """Where round-robin assignment stopped, per department and community."""

    id = fields.IntField(primary_key=True)
    department: fields.ForeignKeyRelation["Department"] = fields.ForeignKeyField(
        "models.Department", related_name="cursors", on_delete=fields.CASCADE
    )
    department_id: int
    community: fields.ForeignKeyRelation["Community"] = fields.ForeignKeyField(
        "models.Community", related_name="cursors", on_delete=fields.CASCADE
    )
    community_id: int
    last_staff_id = fields.IntField(null=True)

    class Meta:
        table = "routing_cursors"
        unique_together = (("department", "community"),)
