"""Data governance: the facilities registry, approved change requests with versioned history,
governed exports with their download log, and the audit log of unmasked personal-data reads."""

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.db.estate import Community
    from server.db.people import Resident, Staff

CHANGE_REF_PREFIX = "C"


class Facility(Model):
    """A shared facility of a community (street lamp, elevator, pump, camera, gate ...)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation["Community"] = fields.ForeignKeyField(
        "models.Community", related_name="facilities", on_delete=fields.RESTRICT
    )
    community_id: int
    code = fields.CharField(max_length=64, description="unique in its community")
    kind = fields.CharField(max_length=24)
    name = fields.CharField(max_length=64)
    location = fields.CharField(max_length=128, default="", description="where, as people say it")
    lat = fields.FloatField(null=True, description="GCJ-02")
    lng = fields.FloatField(null=True, description="GCJ-02")
    building = fields.CharField(max_length=16, default="")
    photo_id = fields.BigIntField(null=True, description="photos table id, file kept by sha256")
    status = fields.CharField(max_length=12, default="active", description="active or retired")
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "facilities"
        unique_together = (("community", "code"),)


class ChangeRequest(Model):
    """A proposed change to master data. It has no effect until its owner approves it."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation["Community"] = fields.ForeignKeyField(
        "models.Community", related_name="change_requests", on_delete=fields.RESTRICT
    )
    community_id: int
    kind = fields.CharField(
        max_length=24, description="add_facility, modify_facility, retire_facility, resident_data"
    )
    subject = fields.CharField(max_length=24, description="facility kind or resident_data")
    facility: fields.ForeignKeyNullableRelation[Facility] = fields.ForeignKeyField(
        "models.Facility", related_name="change_requests", null=True, on_delete=fields.SET_NULL
    )
    facility_id: int | None
    resident: fields.ForeignKeyNullableRelation["Resident"] = fields.ForeignKeyField(
        "models.Resident", related_name="change_requests", null=True, on_delete=fields.SET_NULL
    )
    resident_id: int | None
    payload: Any = fields.JSONField(default=dict, description="the new values")
    photo_ids: Any = fields.JSONField(default=list)
    note = fields.CharField(max_length=200, default="")
    department = fields.CharField(max_length=32, description="code of the owning department")
    status = fields.CharField(max_length=12, default="pending", db_index=True)
    submitted_by: fields.ForeignKeyRelation["Staff"] = fields.ForeignKeyField(
        "models.Staff", related_name="submitted_changes", on_delete=fields.RESTRICT
    )
    submitted_by_id: int
    source = fields.CharField(max_length=12, default="miniapp", description="wechat or miniapp")
    decided_by: fields.ForeignKeyNullableRelation["Staff"] = fields.ForeignKeyField(
        "models.Staff", related_name="decided_changes", null=True, on_delete=fields.SET_NULL
    )
    decided_by_id: int | None
    reason = fields.CharField(max_length=200, default="", description="why it was rejected")
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "change_requests"

    @property
    def ref(self) -> str:
        return f"{CHANGE_REF_PREFIX}{self.id}"


class FacilityVersion(Model):
    """A facility as it was after one approved change: rows are only ever inserted."""

    id = fields.BigIntField(primary_key=True)
    facility: fields.ForeignKeyRelation[Facility] = fields.ForeignKeyField(
        "models.Facility", related_name="versions", on_delete=fields.CASCADE
    )
    facility_id: int
    version = fields.IntField()
    snapshot: Any = fields.JSONField()
    change_request: fields.ForeignKeyNullableRelation[ChangeRequest] = fields.ForeignKeyField(
        "models.ChangeRequest",
        related_name="facility_versions",
        null=True,
        on_delete=fields.SET_NULL,
    )
    change_request_id: int | None
    at = fields.DatetimeField()

    class Meta:
        table = "facility_versions"
        unique_together = (("facility", "version"),)


class ResidentDataChange(Model):
    """One field of a resident's data changed by an approved change request (history)."""

    id = fields.BigIntField(primary_key=True)
    resident: fields.ForeignKeyRelation["Resident"] = fields.ForeignKeyField(
        "models.Resident", related_name="data_changes", on_delete=fields.CASCADE
    )
    resident_id: int
    field = fields.CharField(max_length=16, description="phone, name or relation")
    room_id = fields.IntField(null=True, description="the binding a relation change is about")
    old_value = fields.CharField(max_length=64)
    new_value = fields.CharField(max_length=64)
    change_request: fields.ForeignKeyRelation[ChangeRequest] = fields.ForeignKeyField(
        "models.ChangeRequest", related_name="resident_changes", on_delete=fields.CASCADE
    )
    change_request_id: int
    at = fields.DatetimeField()

    class Meta:
        table = "resident_data_changes"


class ExportRequest(Model):
    """A data admin's request for a CSV export: nothing is produced before its owner approves."""

    id = fields.IntField(primary_key=True)
    dataset = fields.CharField(max_length=16, description="residents, tasks, facilities or fees")
    filters: Any = fields.JSONField(default=dict)
    fields_wanted: Any = fields.JSONField(default=list)
    purpose = fields.CharField(max_length=200)
    department = fields.CharField(max_length=32, description="code of the owning department")
    status = fields.CharField(
        max_length=12, default="pending", description="pending, approved, rejected or expired"
    )
    requested_by: fields.ForeignKeyRelation["Staff"] = fields.ForeignKeyField(
        "models.Staff", related_name="export_requests", on_delete=fields.RESTRICT
    )
    requested_by_id: int
    decided_by: fields.ForeignKeyNullableRelation["Staff"] = fields.ForeignKeyField(
        "models.Staff", related_name="decided_exports", null=True, on_delete=fields.SET_NULL
    )
    decided_by_id: int | None
    unmasked_fields: Any = fields.JSONField(default=list, description="allowed in clear")
    reason = fields.CharField(max_length=200, default="")
    file_name = fields.CharField(max_length=96, default="")
    row_count = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "export_requests"


class ExportDownload(Model):
    """One download of an export file: who, when, from where."""

    id = fields.BigIntField(primary_key=True)
    export: fields.ForeignKeyRelation[ExportRequest] = fields.ForeignKeyField(
        "models.ExportRequest", related_name="downloads", on_delete=fields.CASCADE
    )
    export_id: int
    staff_id = fields.IntField()
    ip = fields.CharField(max_length=64, default="")
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "export_downloads"


class AuditLog(Model):
    """An unmasked read of personal data (or another governed act): who, what, when."""

    id = fields.BigIntField(primary_key=True)
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    role = fields.CharField(max_length=20)
    action = fields.CharField(max_length=32, description="e.g. reveal_phone")
    subject = fields.CharField(max_length=64, description="e.g. resident:12")
    ip = fields.CharField(max_length=64, default="")
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "audit_log"
