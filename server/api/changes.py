"""Change requests over HTTP (mini-program, console): submit with photos, list, approve, reject."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from server.actions.changes import (
    APPROVER_ROLES,
    ChangeRefused,
    change_json,
    decide_change,
    get_change,
    submit_change,
)
from server.actions.photos import photo_path
from server.api.access import ANY_STAFF, endpoint, principal_of
from server.api.errors import ApiError
from server.api.estate import scoped_community
from server.api.tasks import uploaded_photo
from server.db.governance import ChangeRequest, Facility
from server.db.people import Staff
from server.db.tasks import Photo
from server.domain.changes import CHANGE_KINDS
from templates_msg import label

bp = Blueprint("api_changes", url_prefix="/api/v1")

_STATUS = {
    "no_such_change": 404,
    "no_such_facility": 404,
    "no_such_resident": 404,
    "no_such_room": 404,
    "no_such_community": 404,
    "wrong_state": 409,
    "already_retired": 409,
    "code_taken": 409,
    "phone_taken": 409,
    "not_owner": 403,
    "not_allowed": 403,
}
CHANGE_JSON = {
    "type": "object",
    "properties": {
        "ref": {"type": "string"},
        "kind": {"type": "string"},
        "summary": {"type": "string"},
        "status": {"type": "string"},
        "department": {"type": "string"},
        "payload": {"type": "object"},
        "photo_ids": {"type": "array"},
        "reason": {"type": "string"},
    },
}
SUBMIT_BODY = {
    "type": "object",
    "required": ["community", "kind"],
    "properties": {
        "community": {"type": "string", "maxLength": 32},
        "kind": {"type": "string", "enum": list(CHANGE_KINDS)},
        "facility": {
            "type": "object",
            "description": "add: kind, name, location, lat, lng, building, count or code; "
            "modify: the fields that change",
        },
        "facility_code": {"type": "string", "maxLength": 64},
        "resident_id": {"type": "integer"},
        "resident": {
            "type": "object",
            "description": "phone, name, relation (with room_id)",
        },
        "photo_ids": {"type": "array", "description": "ids from POST /change-requests/photos"},
        "note": {"type": "string", "maxLength": 200},
    },
}
REASON_BODY = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 200}},
}


def _now() -> datetime:
    return datetime.now(UTC)


def refused(exc: ChangeRefused) -> ApiError:
    return ApiError(_STATUS.get(exc.code, 400), exc.code, label("change_refusal", exc.code))


async def _me(request: Request) -> Staff:
    return await Staff.get(id=principal_of(request).id)


async def _json(cr: ChangeRequest) -> dict[str, object]:
    facility = await Facility.get_or_none(id=cr.facility_id) if cr.facility_id else None
    submitter = await Staff.get_or_none(id=cr.submitted_by_id)
    return change_json(cr, facility=facility, submitter=submitter)


async def _scoped(request: Request, ref: str) -> ChangeRequest:
    try:
        cr = await get_change(ref)
    except ChangeRefused as exc:
        raise refused(exc) from None
    if not principal_of(request).may_see_community(cr.community_id):
        raise refused(ChangeRefused("no_such_change"))
    return cr


@endpoint(
    bp,
    "POST",
    "/change-requests/photos",
    allow=ANY_STAFF,
    summary="Upload a site photo for a change request (multipart field `file`, JPEG/PNG ≤ 10 MB)",
)
async def upload_change_photo(request: Request) -> HTTPResponse:
    photo = await uploaded_photo(request)
    return json({"id": photo.id, "sha256": photo.sha256, "size": photo.size}, status=201)


@endpoint(
    bp,
    "POST",
    "/change-requests",
    allow=ANY_STAFF,
    body=SUBMIT_BODY,
    response=CHANGE_JSON,
    summary="Propose a change: add / modify / retire a facility (with a photo) or correct "
    "resident data; the owning department approves it",
)
async def post_change(request: Request) -> HTTPResponse:
    body = request.ctx.body
    community = await scoped_community(request, body["community"])
    photo_ids = body.get("photo_ids") or []
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in photo_ids):
        raise ApiError(400, "bad_field", "photo_ids must be a list of integers")
    kind = body["kind"]
    values = body.get("resident") if kind == "resident_data" else body.get("facility")
    try:
        cr = await submit_change(
            staff=await _me(request),
            community=community,
            kind=kind,
            values=dict(values or {}),
            facility_code=body.get("facility_code"),
            resident_id=body.get("resident_id"),
            photo_ids=photo_ids,
            note=body.get("note") or "",
            source="miniapp",
            now=_now(),
            governance=request.app.ctx.services.settings.governance,
        )
    except ChangeRefused as exc:
        raise refused(exc) from None
    return json(await _json(cr), status=201)


@endpoint(
    bp,
    "GET",
    "/change-requests",
    allow=ANY_STAFF,
    summary="Change requests in my communities (?status=pending|approved|rejected, "
    "?mine=1 for my own)",
    response={"type": "object", "properties": {"items": {"type": "array", "items": CHANGE_JSON}}},
)
async def list_changes(request: Request) -> HTTPResponse:
    p = principal_of(request)
    query = ChangeRequest.all()
    if not p.all_communities:
        query = query.filter(community_id__in=list(p.community_ids) or [0])
    status = request.args.get("status")
    if status:
        query = query.filter(status=status)
    if request.args.get("mine") == "1":
        query = query.filter(submitted_by_id=p.id)
    items = await query.order_by("-id").limit(100)
    return json({"items": [await _json(cr) for cr in items]})


@endpoint(bp, "GET", "/change-requests/<ref:str>", allow=ANY_STAFF, summary="One change request")
async def get_change_detail(request: Request, ref: str) -> HTTPResponse:
    return json(await _json(await _scoped(request, ref)))


@endpoint(
    bp,
    "GET",
    "/change-requests/<ref:str>/photos/<photo_id:int>",
    allow=ANY_STAFF,
    summary="A photo of a change request (what the approver looks at)",
)
async def get_change_photo(request: Request, ref: str, photo_id: int) -> HTTPResponse:
    cr = await _scoped(request, ref)
    photo = await Photo.get_or_none(id=photo_id) if photo_id in (cr.photo_ids or []) else None
    if photo is None:
        raise ApiError(404, "not_found", "no such photo on this change request")
    extension = "png" if photo.content_type == "image/png" else "jpg"
    path = photo_path(request.app.ctx.services.settings.media_dir, photo.sha256, extension)
    if not path.is_file():
        raise ApiError(404, "not_found", "the photo file is gone")
    return raw(path.read_bytes(), content_type=photo.content_type)


async def _decide(request: Request, ref: str, approve: bool) -> HTTPResponse:
    cr = await _scoped(request, ref)
    try:
        cr = await decide_change(
            cr.ref,
            await _me(request),
            approve=approve,
            reason=(request.ctx.body.get("reason") or ""),
            now=_now(),
            governance=request.app.ctx.services.settings.governance,
        )
    except ChangeRefused as exc:
        raise refused(exc) from None
    return json(await _json(cr))


@endpoint(
    bp,
    "POST",
    "/change-requests/<ref:str>/approve",
    allow=APPROVER_ROLES,
    body=REASON_BODY,
    response=CHANGE_JSON,
    summary="Approve: the change takes effect now, with history, and subscribed departments "
    "are told (owning department's lead or manager)",
)
async def approve_change(request: Request, ref: str) -> HTTPResponse:
    return await _decide(request, ref, True)


@endpoint(
    bp,
    "POST",
    "/change-requests/<ref:str>/reject",
    allow=APPROVER_ROLES,
    body={**REASON_BODY, "required": ["reason"]},
    response=CHANGE_JSON,
    summary="Reject with a reason: nothing changes (owning department's lead or manager)",
)
async def reject_change(request: Request, ref: str) -> HTTPResponse:
    return await _decide(request, ref, False)
