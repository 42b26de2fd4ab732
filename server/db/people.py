"""People: residents and their rooms and cars, departments, staff, WeChat followers."""

from tortoise import fields
from tortoise.models import Model

from server.db.estate import Community, Room


class Resident(Model):
    """A person living in (or owning) one or more rooms, identified by phone on the roster."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=32)
    phone = fields.CharField(max_length=20, unique=True)
    openid = fields.CharField(max_length=64, null=True, unique=True, description="official account")
    miniapp_openid = fields.CharField(max_length=64, null=True, unique=True)
    unionid = fields.CharField(max_length=64, null=True, unique=True)
    bindings: fields.ReverseRelation["RoomBinding"]

    class Meta:
        table = "residents"


class RoomBinding(Model):
    id = fields.IntField(primary_key=True)
    resident: fields.ForeignKeyRelation[Resident] = fields.ForeignKeyField(
        "models.Resident", related_name="bindings", on_delete=fields.CASCADE
    )
    resident_id: int
    room: fields.ForeignKeyRelation[Room] = fields.ForeignKeyField(
        "models.Room", related_name="bindings", on_delete=fields.CASCADE
    )
    room_id: int
    relation = fields.CharField(max_length=8, description="owner, family or tenant")

    class Meta:
        table = "room_bindings"
        unique_together = (("resident", "room"),)


class Vehicle(Model):
    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="vehicles", on_delete=fields.CASCADE
    )
    community_id: int
    plate = fields.CharField(max_length=16)
    resident: fields.ForeignKeyRelation[Resident] = fields.ForeignKeyField(
        "models.Resident", related_name="vehicles", on_delete=fields.CASCADE
    )
    resident_id: int

    class Meta:
        table = "vehicles"
        unique_together = (("community", "plate"),)


class Department(Model):
    """An internal department or an external contractor. `handles` drives task routing."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=16, description="internal or contractor")
    handles = fields.CharField(
        max_length=255, default="", description="categories separated by semicolons"
    )
    parent: fields.ForeignKeyNullableRelation["Department"] = fields.ForeignKeyField(
        "models.Department", related_name="children", null=True, on_delete=fields.SET_NULL
    )
    parent_id: int | None

    class Meta:
        table = "departments"


class Staff(Model):
    id = fields.IntField(primary_key=True)
    employee_no = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=32)
    phone = fields.CharField(max_length=20)
    openid = fields.CharField(max_length=64, null=True, unique=True, description="official account")
    miniapp_openid = fields.CharField(max_length=64, null=True, unique=True)
    unionid = fields.CharField(max_length=64, null=True, unique=True)
    department: fields.ForeignKeyRelation[Department] = fields.ForeignKeyField(
        "models.Department", related_name="staff", on_delete=fields.RESTRICT
    )
    department_id: int
    role = fields.CharField(max_length=20)
    all_communities = fields.BooleanField(default=False)
    communities: fields.ManyToManyRelation[Community] = fields.ManyToManyField(
        "models.Community", related_name="staff", through="staff_communities"
    )

    class Meta:
        table = "staff"


class WechatUser(Model):
    """An official-account follower as WeChat reports it, used to pick a channel (48 h window)."""

    openid = fields.CharField(max_length=64, primary_key=True)
    subscribed = fields.BooleanField(default=False)
    scene = fields.CharField(max_length=64, default="", description="QR scene of the last follow")
    last_inbound_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "wechat_users"
