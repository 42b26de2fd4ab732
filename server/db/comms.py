"""Talking with residents: notices, consultation polls, their ballots and close reports.

Sending goes through a Broadcast (server/db/outbox.py): a notice or poll invitation keeps the id
of its broadcast, whose outbox rows are the progress per recipient (docs/notices.md).
"""

from typing import Any

from tortoise import fields
from tortoise.models import Model

from server.db.estate import Community, Room
from server.db.people import Resident, Staff


class Notice(Model):
    """A notice to residents (outage, maintenance, activity, emergency), sent now or at send_at."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="notices", on_delete=fields.RESTRICT
    )
    community_id: int
    kind = fields.CharField(max_length=16, description="water_outage, power_outage, ... activity")
    title = fields.CharField(max_length=64)
    summary = fields.CharField(max_length=64, default="", description="one line for templates")
    body = fields.TextField()
    audience = fields.JSONField[dict[str, Any]](description="resolved targets, see fanout.py")
    urgent = fields.BooleanField(default=False, description="sent through quiet hours")
    status = fields.CharField(max_length=12, default="scheduled", description="scheduled or sent")
    send_at = fields.DatetimeField(db_index=True)
    broadcast_id = fields.BigIntField(null=True, description="the fan-out job once sent")
    created_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="notices", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    source = fields.CharField(max_length=8, default="console", description="console or chat")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notices"
        indexes = (("status", "send_at"),)


class Poll(Model):
    """A consultation: questions, an audience, open and close times, one vote per voter key."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="polls", on_delete=fields.RESTRICT
    )
    community_id: int
    title = fields.CharField(max_length=64)
    questions = fields.JSONField[list[dict[str, Any]]](
        description="[{kind, text, options}] with kind single, multiple, rating or text"
    )
    audience = fields.JSONField[dict[str, Any]]()
    vote_per = fields.CharField(max_length=12, default="household", description="household/person")
    status = fields.CharField(
        max_length=12, default="scheduled", description="scheduled, open or closed"
    )
    opens_at = fields.DatetimeField()
    closes_at = fields.DatetimeField()
    owner: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="polls", on_delete=fields.RESTRICT
    )
    owner_id: int
    responsible_ids = fields.JSONField[list[int]](
        default=list, description="staff ids who get the summary besides the owner"
    )
    broadcast_id = fields.BigIntField(null=True, description="the invitation fan-out job")
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "polls"
        indexes = (("status", "opens_at"), ("status", "closes_at"))


class PollBallot(Model):
    """One voter's answers: re-answering replaces them (unique poll + voter key)."""

    id = fields.IntField(primary_key=True)
    poll: fields.ForeignKeyRelation[Poll] = fields.ForeignKeyField(
        "models.Poll", related_name="ballots", on_delete=fields.CASCADE
    )
    poll_id: int
    voter_key = fields.CharField(max_length=32, description="room:12 or resident:7")
    resident: fields.ForeignKeyRelation[Resident] = fields.ForeignKeyField(
        "models.Resident", related_name="ballots", on_delete=fields.CASCADE
    )
    resident_id: int
    room: fields.ForeignKeyNullableRelation[Room] = fields.ForeignKeyField(
        "models.Room", related_name="ballots", null=True, on_delete=fields.SET_NULL
    )
    room_id: int | None
    answers = fields.JSONField[dict[str, Any]](
        default=dict, description="question number (1-based, as text) to the answer"
    )
    updated_at = fields.DatetimeField()

    class Meta:
        table = "poll_ballots"
        unique_together = (("poll", "voter_key"),)


class PollReport(Model):
    """The summary computed when a poll closes, kept as it was pushed to its people."""

    id = fields.IntField(primary_key=True)
    poll: fields.OneToOneRelation[Poll] = fields.OneToOneField(
        "models.Poll", related_name="report", on_delete=fields.CASCADE
    )
    poll_id: int
    summary = fields.JSONField[dict[str, Any]]()
    created_at = fields.DatetimeField()

    class Meta:
        table = "poll_reports"
