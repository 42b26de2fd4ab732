"""The customer-service view of a household (article 5.2) and the lookup by phone.

Phones are masked. A role allowed by server.domain.privacy.may_see_phone may ask for them in
clear with `?reveal=phone`; each such read is audit-logged. Corrections go through a change
request (POST /api/v1/change-requests, kind resident_data), never straight into the roster.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.households import find_by_phone, household_view, record_audit
from server.api.access import check_community, endpoint, principal_of
from server.api.errors import ApiError
from server.db.estate import Room
from server.domain.privacy import may_see_phone

bp = Blueprint("api_households", url_prefix="/api/v1")

VIEWERS = frozenset({"customer_service", "manager"})
HOUSEHOLD_JSON = {
    "type": "object",
    "properties": {
        "room_id": {"type": "integer"},
        "address": {"type": "string"},
        "members": {"type": "array"},
        "fees": {"type": "object"},
        "tasks": {"type": "array"},
        "pending_changes": {"type": "array"},
    },
}


@endpoint(
    bp,
    "GET",
    "/households/<room_id:int>",
    allow=VIEWERS,
    summary="A household: members, contacts (masked; ?reveal=phone in clear for permitted "
    "roles, audit-logged), rooms, fee status, past tasks and ratings",
    response=HOUSEHOLD_JSON,
)
async def get_household(request: Request, room_id: int) -> HTTPResponse:
    room = await Room.get_or_none(id=room_id).prefetch_related("unit__building", "community")
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    check_community(request, room.community_id)
    p = principal_of(request)
    reveal = request.args.get("reveal") == "phone"
    if reveal and not may_see_phone(p.role):
        raise ApiError(403, "forbidden", "your role may not see phone numbers in clear")
    view = await household_view(room, reveal_phone=reveal)
    if reveal:
        await record_audit(
            actor_kind=p.kind,
            actor_id=p.id,
            role=p.role,
            action="reveal_phone",
            subject=f"room:{room.id}",
            ip=str(request.remote_addr or request.ip or ""),
            now=datetime.now(UTC),
        )
    return json(view)


@endpoint(
    bp,
    "GET",
    "/households",
    allow=VIEWERS,
    summary="Find households by the caller's full phone number (?phone=13800001234); "
    "answers are masked",
    response={"type": "object", "properties": {"items": {"type": "array"}}},
)
async def search_households(request: Request) -> HTTPResponse:
    phone = "".join(ch for ch in request.args.get("phone", "") if ch.isdigit())
    if phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    if len(phone) != 11:
        raise ApiError(400, "bad_phone", "give the caller's full 11-digit phone number")
    p = principal_of(request)
    scope = None if p.all_communities else set(p.community_ids)
    return json({"items": await find_by_phone(phone, scope)})
