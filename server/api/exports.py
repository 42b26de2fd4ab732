"""Governed exports over HTTP: request (data admin), decide (owning department), download
(the requester only, while approved and unexpired; every download logged)."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from server.actions.changes import APPROVER_ROLES
from server.actions.exports import (
    DATASET_FIELDS,
    ExportRefused,
    decide_export,
    export_json,
    open_download,
    request_export,
)
from server.api.access import endpoint, principal_of
from server.api.errors import ApiError
from server.db.governance import ExportRequest
from server.db.people import Staff
from templates_msg import label

bp = Blueprint("api_exports", url_prefix="/api/v1")

REQUESTERS = frozenset({"data_admin"})
DECIDERS = APPROVER_ROLES  # the owning department decides, as for change requests
EXPORT_JSON = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "ref": {"type": "string"},
        "dataset": {"type": "string"},
        "status": {"type": "string"},
        "fields": {"type": "array"},
        "unmasked_fields": {"type": "array"},
        "expires_at": {"type": "string"},
    },
}
REQUEST_BODY = {
    "type": "object",
    "required": ["dataset", "purpose"],
    "properties": {
        "dataset": {"type": "string", "enum": sorted(DATASET_FIELDS)},
        "filters": {"type": "object", "description": "community: a community code"},
        "fields": {"type": "array", "description": "columns wanted; empty = all"},
        "purpose": {"type": "string", "maxLength": 200},
    },
}
APPROVE_BODY = {
    "type": "object",
    "properties": {
        "unmasked_fields": {
            "type": "array",
            "description": "personal fields allowed in clear (default: none, all masked)",
        },
        "reason": {"type": "string", "maxLength": 200},
    },
}


def _now() -> datetime:
    return datetime.now(UTC)


def refused(exc: ExportRefused) -> ApiError:
    return ApiError(exc.status, exc.code, label("export_refusal", exc.code))


def _ip(request: Request) -> str:
    return str(request.remote_addr or request.ip or "")


async def _me(request: Request) -> Staff:
    return await Staff.get(id=principal_of(request).id)


def _strings(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "bad_field", f"field '{name}' must be a list of strings")
    return list(value)


@endpoint(
    bp,
    "POST",
    "/exports",
    allow=REQUESTERS,
    body=REQUEST_BODY,
    response=EXPORT_JSON,
    summary="Request an export (dataset, filters, fields, purpose); nothing is produced "
    "before the owning department approves",
)
async def post_export(request: Request) -> HTTPResponse:
    body = request.ctx.body
    try:
        export = await request_export(
            await _me(request),
            dataset=body["dataset"],
            filters=dict(body.get("filters") or {}),
            fields=_strings(body.get("fields"), "fields"),
            purpose=body["purpose"],
            now=_now(),
            governance=request.app.ctx.services.settings.governance,
        )
    except ExportRefused as exc:
        raise refused(exc) from None
    return json(export_json(export), status=201)


@endpoint(
    bp,
    "GET",
    "/exports",
    allow=REQUESTERS | DECIDERS,
    summary="My export requests (data admin), or those my department decides (lead, manager)",
    response={"type": "object", "properties": {"items": {"type": "array", "items": EXPORT_JSON}}},
)
async def list_exports(request: Request) -> HTTPResponse:
    me = await _me(request)
    if me.role in REQUESTERS:
        query = ExportRequest.filter(requested_by_id=me.id)
    else:
        await me.fetch_related("department")
        query = ExportRequest.filter(department=me.department.code)
    items = await query.order_by("-id").limit(100)
    return json({"items": [export_json(e) for e in items]})


async def _decide(request: Request, export_id: int, approve: bool) -> HTTPResponse:
    body = request.ctx.body
    try:
        export = await decide_export(
            export_id,
            await _me(request),
            approve=approve,
            unmasked_fields=_strings(body.get("unmasked_fields"), "unmasked_fields"),
            reason=body.get("reason") or "",
            now=_now(),
            governance=request.app.ctx.services.settings.governance,
        )
    except ExportRefused as exc:
        raise refused(exc) from None
    return json(export_json(export))


@endpoint(
    bp,
    "POST",
    "/exports/<export_id:int>/approve",
    allow=DECIDERS,
    body=APPROVE_BODY,
    response=EXPORT_JSON,
    summary="Approve an export (owning department): the CSV is written, personal fields "
    "masked unless listed in unmasked_fields; it expires after export_ttl_s",
)
async def approve_export(request: Request, export_id: int) -> HTTPResponse:
    return await _decide(request, export_id, True)


@endpoint(
    bp,
    "POST",
    "/exports/<export_id:int>/reject",
    allow=DECIDERS,
    body={**APPROVE_BODY, "required": ["reason"]},
    response=EXPORT_JSON,
    summary="Reject an export with a reason",
)
async def reject_export(request: Request, export_id: int) -> HTTPResponse:
    return await _decide(request, export_id, False)


@endpoint(
    bp,
    "GET",
    "/exports/<export_id:int>/download",
    allow=REQUESTERS,
    summary="Download an approved, unexpired export (its requester only); every download is logged",
)
async def download_export(request: Request, export_id: int) -> HTTPResponse:
    try:
        export, path = await open_download(
            export_id,
            principal_of(request).id or 0,
            ip=_ip(request),
            now=_now(),
            governance=request.app.ctx.services.settings.governance,
        )
    except ExportRefused as exc:
        raise refused(exc) from None
    return raw(
        path.read_bytes(),
        content_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{export.file_name}"'},
    )
