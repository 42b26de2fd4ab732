"""Estate master data, read through the access layer: the caller sees only their communities."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.api.access import ANY_STAFF, SIGNED_IN, check_community, endpoint, principal_of
from server.api.errors import ApiError
from server.db.estate import Community, Device, Room
from server.db.people import Department, RoomBinding
from server.domain.privacy import mask_phone

bp = Blueprint("api_estate", url_prefix="/api/v1")


def community_json(c: Community) -> dict[str, object]:
    return {
        "code": c.code,
        "name": c.name,
        "city": c.city,
        "district": c.district,
        "address": c.address,
        "lat": c.lat,
        "lng": c.lng,
        "radius_m": c.radius_m,
    }


async def scoped_community(request: Request, code: str) -> Community:
    community = await Community.get_or_none(code=code)
    if community is None:
        raise ApiError(404, "not_found", "no such community in your scope")
    check_community(request, community.id)
    return community


@endpoint(bp, "GET", "/me", allow=SIGNED_IN, summary="Who am I, and which communities I see")
async def me(request: Request) -> HTTPResponse:
    p = principal_of(request)
    query = Community.all() if p.all_communities else Community.filter(id__in=p.community_ids)
    codes = await query.order_by("code").values_list("code", flat=True)
    return json({"kind": p.kind, "id": p.id, "role": p.role, "communities": codes})


@endpoint(bp, "GET", "/communities", allow=SIGNED_IN, summary="Communities in my scope")
async def list_communities(request: Request) -> HTTPResponse:
    p = principal_of(request)
    query = Community.all() if p.all_communities else Community.filter(id__in=p.community_ids)
    return json({"items": [community_json(c) for c in await query.order_by("code")]})


@endpoint(bp, "GET", "/communities/<code:str>", allow=SIGNED_IN, summary="One community")
async def get_community(request: Request, code: str) -> HTTPResponse:
    return json(community_json(await scoped_community(request, code)))


@endpoint(
    bp,
    "GET",
    "/communities/<code:str>/rooms",
    allow=ANY_STAFF,
    summary="Rooms of a community, with their residents (phones masked)",
)
async def list_rooms(request: Request, code: str) -> HTTPResponse:
    community = await scoped_community(request, code)
    rooms = await Room.filter(community=community).prefetch_related("unit__building").order_by("id")
    bindings = await RoomBinding.filter(room__community=community).prefetch_related("resident")
    by_room: dict[int, list[dict[str, str]]] = {}
    for b in bindings:
        by_room.setdefault(b.room_id, []).append(
            {"name": b.resident.name, "relation": b.relation, "phone": mask_phone(b.resident.phone)}
        )
    return json(
        {
            "items": [
                {
                    "building": r.unit.building.name,
                    "unit": r.unit.name,
                    "room": r.number,
                    "area_m2": str(r.area_m2),
                    "residents": by_room.get(r.id, []),
                }
                for r in rooms
            ]
        }
    )


@endpoint(
    bp,
    "GET",
    "/communities/<code:str>/devices",
    allow=ANY_STAFF,
    summary="Site devices of a community",
)
async def list_devices(request: Request, code: str) -> HTTPResponse:
    community = await scoped_community(request, code)
    devices = await Device.filter(community=community).order_by("device_id")
    return json(
        {
            "items": [
                {
                    "device_id": d.device_id,
                    "kind": d.kind,
                    "building": d.building,
                    "unit": d.unit,
                    "lat": d.lat,
                    "lng": d.lng,
                }
                for d in devices
            ]
        }
    )


@endpoint(bp, "GET", "/departments", allow=ANY_STAFF, summary="Departments and contractors")
async def list_departments(request: Request) -> HTTPResponse:
    departments = await Department.all().prefetch_related("parent").order_by("code")
    return json(
        {
            "items": [
                {
                    "code": d.code,
                    "name": d.name,
                    "kind": d.kind,
                    "handles": [h for h in d.handles.split(";") if h],
                    "parent": d.parent.code if d.parent else None,
                }
                for d in departments
            ]
        }
    )
