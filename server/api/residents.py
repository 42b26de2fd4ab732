"""Residents in the mini-program: their rooms, and binding to (or leaving) a room by phone check.

A mini-program user who matched nobody at sign-in holds a guest token that can only bind
(CONTRACT.md). Binding links the user's mini-program openid (Resident.miniapp_openid, never the
official-account openid) to the roster person, and the answer carries a fresh resident token,
so the client swaps tokens instead of signing in again. Unbinding the last room answers with a
guest token for the same reason. Like the chat (bot/binding.py), three wrong phone numbers in a
day stop online binding for that account: four digits are easy to guess otherwise.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.binding import (
    BindRefused,
    bind_room_for_miniapp,
    unbind_room_for_miniapp,
)
from server.actions.identity import LinkedUser
from server.api.access import Principal, endpoint, principal_of
from server.api.errors import ApiError
from server.api.tokens import issue_token
from server.db.estate import Community, Room
from server.db.people import Resident, RoomBinding
from server.domain.privacy import mask_phone
from templates_msg import label, render_text

bp = Blueprint("api_residents", url_prefix="/api/v1")

BINDERS = frozenset({"resident", "guest"})
MAX_PHONE_FAILURES = 3
FAILURE_WINDOW_S = 24 * 3600

ROOM_JSON = {
    "type": "object",
    "properties": {
        "room_id": {"type": "integer"},
        "community": {"type": "string"},
        "community_name": {"type": "string"},
        "building": {"type": "string"},
        "unit": {"type": "string"},
        "room": {"type": "string"},
        "address": {"type": "string"},
        "relation": {"type": "string"},
    },
}
SESSION_JSON = {
    "type": "object",
    "properties": {
        "token": {"type": "string"},
        "expires_in": {"type": "integer"},
        "user": {"type": "object"},
        "room": ROOM_JSON,
        "already": {"type": "boolean"},
        "unlinked": {"type": "boolean"},
    },
}
BIND_BODY = {
    "type": "object",
    "required": ["community", "building", "unit", "room", "phone"],
    "properties": {
        "community": {"type": "string", "maxLength": 32},
        "building": {"type": "string", "maxLength": 16},
        "unit": {"type": "string", "maxLength": 16},
        "room": {"type": "string", "maxLength": 16},
        "phone": {
            "type": "string",
            "maxLength": 20,
            "description": "the roster phone: all 11 digits, or the last 4",
        },
    },
}


def room_json(room: Room, relation: str) -> dict[str, Any]:
    """A bound room as the client shows and sends it back (POST /tasks takes these fields)."""
    place = render_text(
        "place_room", building=room.unit.building.name, unit=room.unit.name, room=room.number
    )
    return {
        "room_id": room.id,
        "community": room.community.code,
        "community_name": room.community.name,
        "building": room.unit.building.name,
        "unit": room.unit.name,
        "room": room.number,
        "address": room.community.name + place,
        "relation": relation,
    }


def _session(request: Request, p: Principal, resident: Resident | None) -> dict[str, Any]:
    """A fresh token for who the caller is now (resident after binding, guest after leaving)."""
    settings = request.app.ctx.services.settings
    if resident is None:
        claims: dict[str, Any] = {"kind": "guest", "id": None, "openid": p.openid}
        user = LinkedUser("guest", None, "", "guest", "")
    else:
        claims = {"kind": "resident", "id": resident.id, "openid": p.openid}
        user = LinkedUser(
            "resident", resident.id, resident.name, "resident", mask_phone(resident.phone)
        )
    token = issue_token(settings.secret_key, claims, settings.token_ttl_s)
    return {"token": token, "expires_in": settings.token_ttl_s, "user": user.as_json()}


def _failures_key(request: Request, openid: str) -> str:
    return f"{request.app.ctx.services.settings.redis_prefix}bind-failures:miniapp:{openid}"


def _openid(p: Principal) -> str:
    if not p.openid:
        raise ApiError(400, "no_openid", "this sign-in carries no mini-program openid")
    return p.openid


@endpoint(
    bp,
    "GET",
    "/me/rooms",
    allow=BINDERS,
    summary="The rooms I am bound to",
    response={"type": "object", "properties": {"items": {"type": "array", "items": ROOM_JSON}}},
)
async def my_rooms(request: Request) -> HTTPResponse:
    p = principal_of(request)
    if p.kind != "resident":
        return json({"items": []})
    bindings = (
        await RoomBinding.filter(resident_id=p.id)
        .order_by("id")
        .prefetch_related("room__unit__building", "room__community")
    )
    return json({"items": [room_json(b.room, b.relation) for b in bindings]})


@endpoint(
    bp,
    "GET",
    "/bindings/communities",
    allow=BINDERS,
    summary="Communities one may bind a room in (code and name only)",
)
async def binding_communities(request: Request) -> HTTPResponse:
    # The same list the chat reads out to an unbound follower (bind_ask_community).
    communities = await Community.all().order_by("id")
    return json({"items": [{"code": c.code, "name": c.name} for c in communities]})


@endpoint(
    bp,
    "POST",
    "/bindings",
    allow=BINDERS,
    body=BIND_BODY,
    response=SESSION_JSON,
    summary="Bind my account to a room: the phone must match the roster; returns a "
    "fresh resident token",
)
async def post_binding(request: Request) -> HTTPResponse:
    p = principal_of(request)
    openid = _openid(p)
    body = request.ctx.body
    redis = request.app.ctx.services.redis
    key = _failures_key(request, openid)
    if int(await redis.get(key) or 0) >= MAX_PHONE_FAILURES:
        raise ApiError(429, "bind_locked", render_text("bind_locked"))
    room = await Room.get_or_none(
        community__code=body["community"],
        unit__building__name=body["building"].strip(),
        unit__name=body["unit"].strip(),
        number=body["room"].strip(),
    ).prefetch_related("unit__building", "community")
    if room is None:
        raise ApiError(400, "bad_room", label("refusal", "bad_room"))
    try:
        bound = await bind_room_for_miniapp(
            miniapp_openid=openid, room_id=room.id, phone=body["phone"]
        )
    except BindRefused as exc:
        if exc.code != "wrong_phone":
            raise ApiError(400, exc.code, render_text(f"bind_{exc.code}")) from None
        failures = int(await redis.incr(key))
        await redis.expire(key, FAILURE_WINDOW_S)
        if failures >= MAX_PHONE_FAILURES:
            raise ApiError(429, "bind_locked", render_text("bind_locked")) from None
        address = room_json(room, "")["address"]
        message = render_text(
            "bind_wrong_phone", address=address, left=MAX_PHONE_FAILURES - failures
        )
        raise ApiError(400, "wrong_phone", message) from None
    await redis.delete(key)
    resident = await Resident.get(id=bound.resident_id)
    answer = _session(request, p, resident)
    answer.update(room=room_json(room, bound.relation), already=bound.already)
    return json(answer, status=200 if bound.already else 201)


@endpoint(
    bp,
    "DELETE",
    "/bindings/<room_id:int>",
    allow=BINDERS,
    response=SESSION_JSON,
    summary="Leave a room; leaving the last one turns the token back into a guest token",
)
async def delete_binding(request: Request, room_id: int) -> HTTPResponse:
    p = principal_of(request)
    openid = _openid(p)
    try:
        result = await unbind_room_for_miniapp(miniapp_openid=openid, room_id=room_id)
    except BindRefused:
        raise ApiError(404, "not_bound", label("refusal", "not_bound")) from None
    resident = None if result.unlinked else await Resident.get_or_none(miniapp_openid=openid)
    answer = _session(request, p, resident)
    answer["unlinked"] = result.unlinked
    return json(answer)
