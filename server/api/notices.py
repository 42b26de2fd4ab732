"""Notices over HTTP (console): create, see totals, see every recipient's delivery."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.fanout import audience_query
from server.actions.notices import (
    KINDS,
    MAX_ID,
    NoticeRefused,
    create_notice,
    notice_progress,
    notice_recipients,
    resolve_audience,
)
from server.api.access import check_community, endpoint, principal_of
from server.api.errors import ApiError
from server.db.comms import Notice
from server.db.estate import Community
from server.db.people import RoomBinding, Staff
from server.domain.privacy import mask_phone, may_see_phone
from templates_msg import label

log = logging.getLogger("wuye.audit")
bp = Blueprint("api_notices", url_prefix="/api/v1")

SENDERS = frozenset({"manager", "lead", "customer_service"})
READERS = SENDERS | {"assessor"}
MAX_PAGE = 500

_LIST = {"type": "array", "items": {"type": "string"}}
TARGET_PROPERTIES: dict[str, Any] = {
    "community_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "buildings": _LIST,
    "units": {**_LIST, "description": "building-unit, e.g. 5-2"},
    "rooms": {"type": "array", "items": {"type": "integer"}},
    "addresses": {**_LIST, "description": "building-unit-room, e.g. 5-2-302"},
    "phones": _LIST,
    "relations": {**_LIST, "description": "owner, family, tenant"},
}
NOTICE_BODY = {
    "type": "object",
    "required": ["community_id", "kind", "body"],
    "properties": {
        **TARGET_PROPERTIES,
        "kind": {"type": "string", "enum": list(KINDS)},
        "title": {"type": "string", "maxLength": 64},
        "summary": {"type": "string", "maxLength": 64},
        "body": {"type": "string", "maxLength": 2000},
        "send_at": {"type": "string", "maxLength": 40, "description": "ISO 8601; empty = now"},
    },
}
NOTICE_RESPONSE = {"type": "object", "properties": {"notice": {"type": "object"}}}
MY_NOTICE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "enum": list(KINDS)},
        "kind_name": {"type": "string"},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "body": {"type": "string", "description": "as sent: an outage's times are in its words"},
        "urgent": {"type": "boolean", "description": "outage or emergency"},
        "sent_at": {"type": "string"},
    },
}
MY_NOTICES_RESPONSE = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": MY_NOTICE}},
}
MY_NOTICES_SINCE = timedelta(days=90)  # older notices no longer concern anyone
MY_NOTICES_MAX = 50
RECIPIENTS_RESPONSE = {
    "type": "object",
    "properties": {"items": {"type": "array"}, "total": {"type": "integer"}},
}


def _now() -> datetime:
    return datetime.now(UTC)


def tz_of(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.ctx.services.settings.tz_name)


def parse_time(request: Request, value: Any, name: str) -> datetime | None:
    """ISO 8601 from a body; a time without an offset is local time (TZ_NAME)."""
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError(400, "bad_field", f"field '{name}' must be an ISO 8601 time") from None
    if not 2000 <= moment.year <= 2100:
        raise ApiError(400, "bad_field", f"field '{name}' must be between 2000 and 2100")
    return moment if moment.tzinfo else moment.replace(tzinfo=tz_of(request))


def refused(exc: NoticeRefused | Exception) -> ApiError:
    code = getattr(exc, "code", "bad_request")
    detail = getattr(exc, "detail", "")
    message = label("poll", code) + (f" ({detail})" if detail else "")
    return ApiError(400, code, message)


def _list(data: dict[str, Any], name: str) -> list[Any]:
    value = data.get(name) or []
    if not isinstance(value, list):
        raise ApiError(400, "bad_field", f"field '{name}' must be an array")
    return value


async def community_audience(
    request: Request, data: dict[str, Any]
) -> tuple[Community, dict[str, Any]]:
    """The community (in the caller's scope) and the resolved audience of a notice or poll body."""
    community = await Community.get_or_none(id=data["community_id"])
    if community is None:
        raise ApiError(404, "not_found", "no such community in your scope")
    check_community(request, community.id)
    try:
        audience = await resolve_audience(
            community.id, **{k: _list(data, k) for k in TARGET_PROPERTIES if k != "community_id"}
        )
    except NoticeRefused as exc:
        raise refused(exc) from None
    return community, audience


def notice_view(notice: Notice, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": notice.id,
        "community_id": notice.community_id,
        "kind": notice.kind,
        "title": notice.title,
        "summary": notice.summary,
        "body": notice.body,
        "audience": notice.audience,
        "urgent": notice.urgent,
        "status": notice.status,
        "source": notice.source,
        "send_at": notice.send_at.astimezone(tz).isoformat(),
        "sent_at": notice.sent_at.astimezone(tz).isoformat() if notice.sent_at else None,
    }


@endpoint(
    bp,
    "POST",
    "/notices",
    allow=SENDERS,
    summary="Send a notice to residents now or at send_at (targets: buildings, units, rooms, ...)",
    body=NOTICE_BODY,
    response=NOTICE_RESPONSE,
)
async def post_notice(request: Request) -> HTTPResponse:
    data = request.ctx.body
    community, audience = await community_audience(request, data)
    now = _now()
    try:
        notice = await create_notice(
            community,
            data["kind"],
            data["body"],
            audience,
            now=now,
            title=data.get("title") or "",
            summary=data.get("summary") or "",
            send_at=parse_time(request, data.get("send_at"), "send_at"),
            created_by=await Staff.get(id=principal_of(request).id),
        )
    except NoticeRefused as exc:
        raise refused(exc) from None
    view = notice_view(notice, tz_of(request))
    view["audience_size"] = await audience_query(audience).count()
    return json({"notice": view}, status=201)


async def _scoped(request: Request, notice_id: int) -> Notice:
    notice = await Notice.get_or_none(id=notice_id) if 0 < notice_id <= MAX_ID else None
    if notice is None or not principal_of(request).may_see_community(notice.community_id):
        raise ApiError(404, "not_found", "no such notice")
    return notice


@endpoint(
    bp,
    "GET",
    "/notices/<notice_id:int>",
    allow=READERS,
    summary="A notice and its delivery totals (per status and channel)",
    response=NOTICE_RESPONSE,
)
async def get_notice(request: Request, notice_id: int) -> HTTPResponse:
    notice = await _scoped(request, notice_id)
    view = notice_view(notice, tz_of(request))
    view["progress"] = await notice_progress(notice)
    return json({"notice": view})


def _int_arg(request: Request, name: str, default: int, high: int) -> int:
    try:
        value = int(request.args.get(name, str(default)))
    except ValueError:
        raise ApiError(400, "bad_field", f"{name} must be a whole number") from None
    if not 0 <= value <= high:
        raise ApiError(400, "bad_field", f"{name} must be 0 to {high}")
    return value


@endpoint(
    bp,
    "GET",
    "/notices/<notice_id:int>/recipients",
    allow=READERS,
    summary="Each recipient of a notice: channel, status (queued, sent, delivered, failed)",
    response=RECIPIENTS_RESPONSE,
)
async def get_recipients(request: Request, notice_id: int) -> HTTPResponse:
    """Phones are masked; a role allowed to see phones (server/domain/privacy.py) gets them in
    clear only by asking (`?reveal=phone`), and that read is logged."""
    notice = await _scoped(request, notice_id)
    p = principal_of(request)
    reveal = request.args.get("reveal") == "phone" and may_see_phone(p.role)
    total, items = await notice_recipients(
        notice,
        status=request.args.get("status") or None,
        limit=max(1, _int_arg(request, "limit", 100, MAX_PAGE)),
        offset=_int_arg(request, "offset", 0, 10**9),
    )
    tz = tz_of(request)
    for item in items:
        item["phone"] = item["phone"] if reveal else mask_phone(item["phone"])
        for key in ("sent_at", "delivered_at"):
            item[key] = item[key].astimezone(tz).isoformat() if item[key] else None
    if reveal:
        log.info("staff %s read %d phones of notice %s", p.id, len(items), notice.id)
    return json({"items": items, "total": total})


@endpoint(
    bp,
    "GET",
    "/me/notices",
    allow={"resident"},
    summary="Notices sent to me (last 90 days), newest first",
    response=MY_NOTICES_RESPONSE,
)
async def my_notices(request: Request) -> HTTPResponse:
    """A notice is mine when its stored audience (the recipients it was sent to) includes me.

    The audience rather than the outbox rows: relays expand those a little after sending, and a
    notice must show at once (docs/api.md, "The resident's inbox")."""
    resident_id = principal_of(request).id
    communities = await RoomBinding.filter(resident_id=resident_id).values_list(
        "room__community_id", flat=True
    )
    notices = (
        await Notice.filter(
            status="sent",
            community_id__in=list(communities) or [0],
            sent_at__gte=_now() - MY_NOTICES_SINCE,
        )
        .order_by("-sent_at", "-id")
        .limit(MY_NOTICES_MAX)
    )
    tz = tz_of(request)
    items = [
        {
            "id": n.id,
            "kind": n.kind,
            "kind_name": label("notice_kind", n.kind),
            "title": n.title,
            "summary": n.summary,
            "body": n.body,
            "urgent": n.urgent,
            "sent_at": n.sent_at.astimezone(tz).isoformat() if n.sent_at else None,
        }
        for n in notices
        if await audience_query(n.audience).filter(id=resident_id).exists()
    ]
    return json({"items": items})
