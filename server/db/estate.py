"""Estate master data: communities, buildings, units, rooms, devices."""

from tortoise import fields
from tortoise.models import Model


class Community(Model):
    """A residential estate: its centre (GCJ-02) and radius form the staff check-in geofence."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    city = fields.CharField(max_length=32)
    district = fields.CharField(max_length=32)
    address = fields.CharField(max_length=128)
    lat = fields.FloatField()
    lng = fields.FloatField()
    radius_m = fields.IntField()

    class Meta:
        table = "communities"


class Building(Model):
    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="buildings", on_delete=fields.RESTRICT
    )
    community_id: int
    name = fields.CharField(max_length=16, description="as written on the building: 5, A")

    class Meta:
        table = "buildings"
        unique_together = (("community", "name"),)


class Unit(Model):
    id = fields.IntField(primary_key=True)
    building: fields.ForeignKeyRelation[Building] = fields.ForeignKeyField(
        "models.Building", related_name="units", on_delete=fields.RESTRICT
    )
    building_id: int
    name = fields.CharField(max_length=16)

    class Meta:
        table = "units"
        unique_together = (("building", "name"),)


class Room(Model):
    """A household address. The community is kept on the row for fast scope checks."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="rooms", on_delete=fields.RESTRICT
    )
    community_id: int
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "models.Unit", related_name="rooms", on_delete=fields.RESTRICT
    )
    unit_id: int
    number = fields.CharField(max_length=16)
    area_m2 = fields.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        table = "rooms"
        unique_together = (("unit", "number"),)


class Device(Model):
    """A site controller the hardware gateway talks to (gate, door, elevator, fire panel)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="devices", on_delete=fields.RESTRICT
    )
    community_id: int
    device_id = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=16)
    building = fields.CharField(max_length=16, default="")
    unit = fields.CharField(max_length=16, default="")
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)

    class Meta:
        table = "devices"
        unique_together = (("community", "device_id"),)
