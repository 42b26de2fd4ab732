"""Binding a follower to a room in chat: estate, building/unit/room, then a phone check.

The estate comes from the follow's QR scene (`community_<code>`), or is the only one, or is
asked. Building/unit/room may come in pieces; each is checked against the estate's rooms and
only what is missing is asked. The phone (full number or last four digits) must belong to a
resident the roster has in that room. Three wrong numbers in a day stop online binding for that
WeChat account: four digits are easy to guess otherwise.
"""

from __future__ import annotations

from typing import Any

from bot import intake
from bot.context import (
    Turn,
    all_communities,
    load_room,
    mentions,
    pick,
    room_address,
    rooms_of,
)
from bot.nlu import normalize, parse_phone, parse_room
from bot.protocol import scene_community_code
from server.actions.binding import BindRefused, bind_room, unbind_room
from server.db.estate import Building, Community, Room, Unit
from server.db.people import Resident, WechatUser
from templates_msg import render_text

MAX_PHONE_FAILURES = 3
FAILURE_WINDOW_S = 24 * 3600
ADDRESS_KEYS = ("building", "unit", "room")


def _failures_key(turn: Turn) -> str:
    return f"{turn.prefix}bind-failures:{turn.openid}"


async def locked(turn: Turn) -> bool:
    """Has this account used up its phone attempts (kept for a day, across dialogues)?"""
    return int(await turn.redis.get(_failures_key(turn)) or 0) >= MAX_PHONE_FAILURES


async def _scene_community(openid: str) -> Community | None:
    follower = await WechatUser.get_or_none(openid=openid)
    code = scene_community_code(follower.scene if follower else None)
    return await Community.get_or_none(code=code) if code else None


async def start(
    turn: Turn, *, for_report: bool = False, slots: dict[str, str] | None = None
) -> str:
    """Begin binding; a report already said stays in the draft and resumes afterwards."""
    d = turn.dialogue
    if await locked(turn):
        d.end_flow()
        return render_text("bind_locked")
    draft = d.draft if d.flow in ("report", "bind") else {}
    d.end_flow()
    d.flow, d.draft = "bind", draft
    known = {**{k: draft[k] for k in ADDRESS_KEYS if draft.get(k)}, **(slots or {})}
    d.bind = {k: known[k] for k in ADDRESS_KEYS if known.get(k)}
    community = await _scene_community(turn.openid)
    if community is not None:
        d.bind["community_id"] = community.id
    intro = render_text("bind_first") if for_report else ""
    return _join(intro, await advance(turn))


async def offer_after_follow(turn: Turn, community: Community) -> str:
    """After a QR follow naming an estate: ask for the room right away (unless bound there)."""
    rooms = await rooms_of(turn.resident)
    if any(r.community.id == community.id for r in rooms) or await locked(turn):
        return ""
    d = turn.dialogue
    d.reset()
    d.flow = "bind"
    d.bind = {"community_id": community.id}
    d.ask("room")
    return render_text("bind_offer", community_name=community.name)


async def advance(turn: Turn) -> str:
    """Ask for the next missing piece: estate, then building/unit/room, then the phone."""
    d = turn.dialogue
    b = d.bind
    if not b.get("community_id"):
        communities = await all_communities()
        if not communities:
            d.end_flow()
            return render_text("bind_no_estate")
        if len(communities) == 1:
            b["community_id"] = communities[0].id
        else:
            d.ask("community", [c.id for c in communities])
            return render_text("bind_ask_community", names=[c.name for c in communities])
    community = await Community.get_or_none(id=b["community_id"])
    if community is None:  # deleted meanwhile: start over
        b.clear()
        return await advance(turn)
    if not b.get("room_id"):
        unknown, room = await _find_room(community, b)
        if room is None:
            d.ask("room")
            return render_text(
                "bind_ask_room",
                community_name=community.name,
                building=b.get("building", ""),
                unit=b.get("unit", ""),
                unknown_kind=unknown[0],
                unknown_value=unknown[1],
            )
        b["room_id"] = room.id
    room = await load_room(int(b["room_id"]))
    if room is None:
        b.pop("room_id")
        return await advance(turn)
    d.ask("phone")
    return render_text("bind_ask_phone", address=room_address(room))


async def _find_room(
    community: Community, b: dict[str, Any]
) -> tuple[tuple[str, str], Room | None]:
    """The room the answers so far name; or what is unknown (kind, value) and None."""
    none = ("", "")
    if not b.get("building"):
        return none, None
    building = await Building.get_or_none(community_id=community.id, name=str(b["building"]))
    if building is None:
        wrong = str(b.pop("building"))
        b.pop("unit", None)
        b.pop("room", None)
        return ("building", wrong), None
    if not b.get("unit"):
        units = await Unit.filter(building_id=building.id)
        if len(units) != 1:
            return none, None
        b["unit"] = units[0].name  # one unit only: nobody needs to say it
    unit = await Unit.get_or_none(building_id=building.id, name=str(b["unit"]))
    if unit is None:
        wrong = str(b.pop("unit"))
        b.pop("room", None)
        return ("unit", wrong), None
    if not b.get("room"):
        return none, None
    room = await Room.get_or_none(unit_id=unit.id, number=str(b["room"]))
    if room is None:
        return ("room", str(b.pop("room"))), None
    return none, room


async def answer(turn: Turn, text: str) -> str | None:
    """The answer to the binding question asked last, or None when the message is not one."""
    d = turn.dialogue
    b = d.bind
    if d.asking == "community":
        index = pick(text, len(d.choices))
        chosen = d.choices[index] if index is not None else None
        if chosen is None:
            said = normalize(text)
            for community in await Community.filter(id__in=d.choices):
                if mentions(text, community.name) or said == community.code.lower():
                    chosen = community.id
        if chosen is None:
            return None
        b["community_id"] = chosen
        _take_address(b, parse_room(text))
        return await advance(turn)
    if d.asking == "room":
        address = parse_room(text)
        if not address or not any(address.get(k) for k in ADDRESS_KEYS):
            return None
        _take_address(b, address)
        return await advance(turn)
    if d.asking == "phone":
        phone = parse_phone(text)
        if phone is None:
            return None
        return await _verify(turn, phone)
    return None


def _take_address(b: dict[str, Any], address: dict[str, str] | None) -> None:
    if not address:
        return
    if address.get("building") and address["building"] != b.get("building"):
        b.pop("unit", None)  # another building: the old unit/room do not belong to it
        b.pop("room", None)
    for key in ADDRESS_KEYS:
        if address.get(key):
            b[key] = address[key]
    b.pop("room_id", None)


async def _verify(turn: Turn, phone: str) -> str:
    d = turn.dialogue
    room = await load_room(int(d.bind["room_id"]))
    if room is None:
        d.bind.pop("room_id", None)
        return await advance(turn)
    address = room_address(room)
    try:
        bound = await bind_room(openid=turn.openid, room_id=room.id, phone=phone)
    except BindRefused as refused:
        if refused.code == "ambiguous_phone":
            return render_text("bind_ambiguous_phone")
        if refused.code == "phone_taken":
            d.end_flow()
            return render_text("bind_phone_taken")
        failures = int(await turn.redis.incr(_failures_key(turn)))
        await turn.redis.expire(_failures_key(turn), FAILURE_WINDOW_S)
        if failures >= MAX_PHONE_FAILURES:
            d.end_flow()
            return render_text("bind_locked")
        return render_text("bind_wrong_phone", address=address, left=MAX_PHONE_FAILURES - failures)
    await turn.redis.delete(_failures_key(turn))
    turn.resident = await Resident.get(id=bound.resident_id)
    rooms = await rooms_of(turn.resident)
    done = render_text("bind_done", address=address, already=bound.already, room_count=len(rooms))
    draft = d.draft
    d.end_flow()
    if not draft:
        return done
    # the report said before binding goes on from where it was
    d.flow, d.draft = "report", draft
    return _join(done, await intake.advance(turn))


async def unbind(turn: Turn) -> str:
    """解绑: the only room at once; with several, ask which."""
    d = turn.dialogue
    rooms = await rooms_of(turn.resident)
    if not rooms:
        return render_text("unbind_none")
    if len(rooms) == 1:
        d.end_flow()
        return await _unbind(turn, rooms[0])
    d.end_flow()
    d.flow = "unbind"
    d.ask("unbind_room", [r.id for r in rooms])
    return render_text("unbind_ask", rooms=[room_address(r) for r in rooms])


async def unbind_question(turn: Turn) -> str:
    rooms = [r for r in await rooms_of(turn.resident) if r.id in turn.dialogue.choices]
    if not rooms:
        turn.dialogue.end_flow()
        return ""
    return render_text("unbind_ask", rooms=[room_address(r) for r in rooms])


async def answer_unbind(turn: Turn, text: str) -> str | None:
    d = turn.dialogue
    rooms = [r for r in await rooms_of(turn.resident) if r.id in d.choices]
    index = pick(text, len(d.choices))
    chosen = next((r for r in rooms if index is not None and r.id == d.choices[index]), None)
    if chosen is None:
        named = parse_room(text) or {}
        found = [
            r
            for r in rooms
            if named.get("room") == r.number
            and named.get("building", r.unit.building.name) == r.unit.building.name
            and named.get("unit", r.unit.name) == r.unit.name
        ]
        chosen = found[0] if len(found) == 1 else None
    if chosen is None:
        return None
    d.end_flow()
    return await _unbind(turn, chosen)


async def _unbind(turn: Turn, room: Room) -> str:
    try:
        result = await unbind_room(openid=turn.openid, room_id=room.id)
    except BindRefused:
        return render_text("unbind_none")
    return render_text("unbind_done", address=room_address(room), unlinked=result.unlinked)


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)
