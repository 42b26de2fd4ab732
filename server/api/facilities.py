"""The facilities registry over HTTP: what each community has, where, and in which version."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.facilities import facility_json, list_facilities
from server.api.access import ANY_STAFF, endpoint
from server.api.errors import ApiError
from server.api.estate import scoped_community
from server.db.governance import Facility, FacilityVersion
from server.domain.changes import FACILITY_KINDS, FACILITY_STATUSES

bp = Blueprint("api_facilities", url_prefix="/api/v1")

FACILITY_JSON = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "code": {"type": "string"},
        "kind": {"type": "string", "enum": list(FACILITY_KINDS)},
        "kind_name": {"type": "string"},
        "name": {"type": "string"},
        "location": {"type": "string"},
        "lat": {"type": "number"},
        "lng": {"type": "number"},
        "building": {"type": "string"},
        "photo_id": {"type": "integer"},
        "status": {"type": "string", "enum": list(FACILITY_STATUSES)},
        "version": {"type": "integer"},
        "updated_at": {"type": "string"},
    },
}


@endpoint(
    bp,
    "GET",
    "/communities/<code:str>/facilities",
    allow=ANY_STAFF,
    summary="Facilities of a community (?kind=street_lamp, ?status=active|retired)",
    response={"type": "object", "properties": {"items": {"type": "array", "items": FACILITY_JSON}}},
)
async def get_facilities(request: Request, code: str) -> HTTPResponse:
    community = await scoped_community(request, code)
    kind, status = request.args.get("kind"), request.args.get("status")
    if kind is not None and kind not in FACILITY_KINDS:
        raise ApiError(400, "bad_kind", f"kind must be one of {list(FACILITY_KINDS)}")
    if status is not None and status not in FACILITY_STATUSES:
        raise ApiError(400, "bad_status", "status must be active or retired")
    items = await list_facilities(community.id, kind=kind, status=status)
    return json({"items": [facility_json(f) for f in items]})


@endpoint(
    bp,
    "GET",
    "/communities/<code:str>/facilities/<facility_code:str>/versions",
    allow=ANY_STAFF,
    summary="A facility's history: one snapshot per approved change",
)
async def get_facility_versions(request: Request, code: str, facility_code: str) -> HTTPResponse:
    community = await scoped_community(request, code)
    facility = await Facility.get_or_none(community_id=community.id, code=facility_code)
    if facility is None:
        raise ApiError(404, "no_such_facility", "no such facility in this community")
    versions = await FacilityVersion.filter(facility_id=facility.id).order_by("version")
    return json(
        {
            "facility": facility_json(facility),
            "items": [
                {
                    "version": v.version,
                    "snapshot": v.snapshot,
                    "change_request": f"C{v.change_request_id}" if v.change_request_id else None,
                    "at": v.at.isoformat(),
                }
                for v in versions
            ],
        }
    )
