"""Repair intake in chat: gather place and category, then create the task at once (issue 3).

The report being gathered lives in the dialogue's `draft`. Every message adds what it says;
the bot asks only for what is still missing (the problem, the place, the estate of a public
spot, the category) and creates the task as soon as place and category are known. After that
it offers one optional question, the preferred visit time.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from bot import lexicon
from bot.context import Turn, load_room, mentions, pick, room_address, rooms_of
from bot.media import fetch_photo
from bot.nlu import normalize, parse, parse_room
from bot.timeparse import find_visit_time
from server.actions.photos import PhotoRefused, attach_photo
from server.actions.tasks import TaskRefused, create_task, get_task, set_visit_time
from server.db.estate import Community, Room
from server.db.tasks import Photo
from server.domain.geo import haversine_m
from server.domain.routing import CATEGORIES
from templates_msg import label, render_text

ADDRESS_KEYS = ("building", "unit", "room")
# Categories that are almost always inside the home: "漏水了" with one bound room means that
# room. Anything else without a named place (lights, lifts, noise...) gets asked where.
HOME_CATEGORIES = frozenset({"water", "drains", "electricity", "gas", "structure", "doors"})
MAX_DESCRIPTION = 500
MAX_PHOTOS = 9  # WeChat lets a user pick nine pictures at once


@cache
def _spots() -> tuple[str, ...]:
    return tuple(normalize(str(s)) for s in lexicon.load("address")["public_spots"])


def merge(turn: Turn, slots: dict[str, str]) -> None:
    """Add what one report message says to the draft (later words win on place and category)."""
    d = turn.dialogue
    if d.flow not in ("bind", "report"):
        d.end_flow()
        d.flow = "report"
    draft = d.draft
    category = slots.get("category")
    if category and category != "other" and draft.get("category") not in (None, "other", category):
        # a second, different complete report: start over with it (photos stay)
        photos = draft.get("photo_ids", [])
        draft.clear()
        draft["photo_ids"] = photos
    description = slots.get("description", "")
    if description:
        said = draft.get("description", "")
        if description not in said:
            draft["description"] = f"{said} {description}".strip()[:MAX_DESCRIPTION]
    if category and (category != "other" or not draft.get("category")):
        draft["category"] = category
    if slots.get("urgency") == "urgent":
        draft["urgency"] = "urgent"
    if slots.get("place_kind") == "public" and slots.get("place"):
        _set_public(draft, slots["place"])
    elif slots.get("room"):
        for key in ("place", "community_id", "room_id", *ADDRESS_KEYS):
            draft.pop(key, None)
        draft.update({k: slots[k] for k in ADDRESS_KEYS if slots.get(k)})
        draft["place_kind"] = "room"
    elif slots.get("place_kind") == "room" and not draft.get("place"):
        draft["place_kind"] = "room"
    if slots.get("visit_time"):
        draft["visit_time"] = slots["visit_time"]


def _set_public(draft: dict[str, Any], place: str) -> None:
    for key in ("room_id", *ADDRESS_KEYS):
        draft.pop(key, None)
    draft["place_kind"] = "public"
    draft["place"] = place[:64]


async def advance(turn: Turn) -> str:
    """Ask the next missing thing, or create the task when place and category are known."""
    d = turn.dialogue
    d.flow = "report"
    draft = d.draft
    rooms = await rooms_of(turn.resident)
    if not draft.get("category") and not draft.get("description"):
        d.ask("problem")
        return render_text("report_ask_problem", place=await _place_text(draft))
    if not draft.get("room_id") and not draft.get("place"):
        question = _settle_place(turn, rooms)
        if question is not None:
            return question
    if draft.get("place") and not draft.get("community_id"):
        communities = _communities(rooms)
        if len(communities) == 1:
            draft["community_id"] = communities[0].id
        else:
            d.ask("community", [c.id for c in communities])
            return render_text("report_ask_community", names=[c.name for c in communities])
    if draft.get("category") in (None, "other") and not draft.get("category_confirmed"):
        d.ask("category", list(CATEGORIES))
        return render_text(
            "report_ask_category", categories=[label("category", c) for c in CATEGORIES]
        )
    return await _create(turn)


def _communities(rooms: list[Room]) -> list[Community]:
    seen: dict[int, Community] = {}
    for room in rooms:
        seen.setdefault(room.community.id, room.community)
    return list(seen.values())


def _matches(room: Room, named: dict[str, str]) -> bool:
    have = {"building": room.unit.building.name, "unit": room.unit.name, "room": room.number}
    return all(have[k].upper() == v.upper() for k, v in named.items())


def _settle_place(turn: Turn, rooms: list[Room]) -> str | None:
    """Resolve the place to one of the resident's rooms, or ask; None when settled."""
    d = turn.dialogue
    draft = d.draft
    named = {k: str(draft[k]) for k in ADDRESS_KEYS if draft.get(k)}
    if named:
        found = [r for r in rooms if _matches(r, named)]
        if len(found) == 1:
            draft["room_id"] = found[0].id
            return None
        offered = found or rooms
        not_yours = "" if found else _named_text(named)
        for key in ADDRESS_KEYS:
            draft.pop(key, None)
        d.ask("which_room", [r.id for r in offered])
        return render_text(
            "report_ask_room", rooms=[room_address(r) for r in offered], not_yours=not_yours
        )
    home = draft.get("place_kind") == "room" or (
        draft.get("place_kind") is None and draft.get("category") in HOME_CATEGORIES
    )
    if home:
        if len(rooms) == 1:
            draft["room_id"] = rooms[0].id
            return None
        d.ask("which_room", [r.id for r in rooms])
        return render_text("report_ask_room", rooms=[room_address(r) for r in rooms], not_yours="")
    d.ask("place", [r.id for r in rooms])
    return render_text("report_ask_place", rooms=[room_address(r) for r in rooms])


def _named_text(named: dict[str, str]) -> str:
    if set(named) == set(ADDRESS_KEYS):
        return render_text(
            "place_room", building=named["building"], unit=named["unit"], room=named["room"]
        )
    return named.get("room", "")


async def _place_text(draft: dict[str, Any]) -> str:
    if draft.get("room_id"):
        room = await load_room(int(draft["room_id"]))
        return room_address(room, community=False) if room else ""
    return str(draft.get("place", ""))


async def answer(turn: Turn, text: str) -> str | None:
    """The answer to the report question asked last, or None when the message is not one."""
    d = turn.dialogue
    draft = d.draft
    if d.asking in ("which_room", "place"):
        room_id = await _chosen_room(turn, text)
        if room_id is not None:
            for key in ("place", "community_id", *ADDRESS_KEYS):
                draft.pop(key, None)
            draft["room_id"], draft["place_kind"] = room_id, "room"
            return await advance(turn)
        if d.asking == "place" and _is_spot(text):
            _set_public(draft, normalize(text))
            return await advance(turn)
        return None
    if d.asking == "community":
        chosen = _chosen_id(text, d.choices)
        if chosen is None:
            for community in await Community.filter(id__in=d.choices):
                if mentions(text, community.name):
                    chosen = community.id
        if chosen is None:
            return None
        draft["community_id"] = chosen
        return await advance(turn)
    if d.asking == "category":
        category = _chosen_category(text)
        if category is None:
            return None
        draft["category"], draft["category_confirmed"] = category, True
        return await advance(turn)
    return None


def _chosen_id(text: str, choices: list[Any]) -> Any:
    index = pick(text, len(choices))
    return choices[index] if index is not None else None


async def _chosen_room(turn: Turn, text: str) -> int | None:
    d = turn.dialogue
    chosen = _chosen_id(text, d.choices)
    if chosen is not None:
        return int(chosen)
    named = parse_room(text)
    if not named or "room" not in named:
        return None
    rooms = [r for r in await rooms_of(turn.resident) if r.id in d.choices]
    found = [r for r in rooms if _matches(r, {k: named[k] for k in ADDRESS_KEYS if k in named})]
    return found[0].id if len(found) == 1 else None


def _is_spot(text: str) -> bool:
    said = normalize(text)
    return bool(said) and len(said) <= 64 and any(spot in said for spot in _spots())


def _chosen_category(text: str) -> str | None:
    index = pick(text, len(CATEGORIES))
    if index is not None:
        return CATEGORIES[index]
    said = normalize(text)
    for category in CATEGORIES:
        if said and normalize(label("category", category)) == said:
            return category
    found = parse(text).slots.get("category")
    return found if found and found != "other" else None


async def _create(turn: Turn) -> str:
    d = turn.dialogue
    draft = d.draft
    room = await load_room(int(draft["room_id"])) if draft.get("room_id") else None
    community_id = room.community.id if room else draft.get("community_id")
    community = await Community.get_or_none(id=community_id) if community_id else None
    if community is None:
        d.end_flow()
        return render_text("task_refused", ref="", reason=label("refusal", "needs_place"))
    photo_ids = [int(i) for i in draft.get("photo_ids", [])]
    try:
        task = await create_task(
            community=community,
            category=str(draft["category"]),
            source="wechat",
            now=turn.now,
            tz=turn.tz,
            urgency=str(draft.get("urgency", "normal")),
            room=room,
            place=str(draft.get("place", "")),
            description=str(draft.get("description", "")),
            visit_time=str(draft.get("visit_time", "")),
            reporter=turn.resident,
            reporter_openid=turn.openid,
            photo_ids=photo_ids,
        )
    except TaskRefused as refused:
        d.end_flow()
        return render_text("task_refused", ref="", reason=label("refusal", refused.code))
    urgent = task.urgency == "urgent"
    # a public spot has no household to visit, and an urgent task goes out now
    ask_visit = not urgent and room is not None and not draft.get("visit_time")
    d.end_flow()
    d.task_ref = task.ref
    if ask_visit:
        d.ask("visit_time")
    return render_text(
        "report_created",
        ref=task.ref,
        place=room_address(room, community=False) if room else task.place,
        category_name=label("category", task.category),
        urgent=urgent,
        ask_visit=ask_visit,
        visit_time=task.visit_time,
        photos=len(photo_ids),
    )


async def answer_visit_time(turn: Turn, text: str) -> str | None:
    """A preferred visit time for the task just created; None when the text names no time."""
    d = turn.dialogue
    local_now = turn.now.astimezone(turn.tz)
    found = find_visit_time(normalize(text), local_now)
    if found is None or turn.resident is None:
        return None
    if not found.any_time and found.start is None:
        return render_text("visit_time_past")
    window = (found.start, found.end) if found.start and found.end else None
    try:
        await set_visit_time(d.task_ref, turn.resident, found.phrase, turn.now, window=window)
    except TaskRefused as refused:
        d.asking = ""
        return render_text("task_refused", ref=d.task_ref, reason=label("refusal", refused.code))
    d.asking = ""
    return render_text(
        "visit_time_set",
        ref=d.task_ref,
        phrase=found.phrase,
        day=window[0].strftime("%m-%d") if window else "",
        start=window[0].strftime("%H:%M") if window else "",
        end=window[1].strftime("%H:%M") if window else "",
    )


async def photo(turn: Turn, media_id: str) -> str:
    """A resident's photo: into the report being gathered, onto the task just created, or the
    start of a new report (what they say next is attached to it)."""
    d = turn.dialogue
    kind = "resident" if turn.resident else "follower"
    person_id = turn.resident.id if turn.resident else None
    try:
        stored = await fetch_photo(turn, media_id, kind, person_id)
    except PhotoRefused as refused:
        return render_text("photo_failed", reason=label("photo", refused.code))
    if stored is None:
        return render_text("photo_unavailable")
    if d.flow in ("report", "bind"):
        ids = d.draft.setdefault("photo_ids", [])
        if len(ids) < MAX_PHOTOS:
            ids.append(stored.id)
        return render_text("photo_added", count=len(ids))
    if d.task_ref and turn.resident is not None:
        task = await _own_open_task(turn, d.task_ref)
        if task is not None:
            await attach_photo(stored, task.id)
            count = await Photo.filter(task_id=task.id).count()
            return render_text("photo_attached", ref=task.ref, count=count)
    d.end_flow()
    d.flow = "report"
    d.draft = {"photo_ids": [stored.id]}
    d.ask("problem")
    return render_text("photo_start")


async def _own_open_task(turn: Turn, ref: str) -> Any:
    try:
        task = await get_task(ref)
    except TaskRefused:
        return None
    mine = turn.resident is not None and task.reporter_id == turn.resident.id
    return task if mine and task.state not in ("closed", "cancelled") else None


def location_place(lat: float, lng: float, label_text: str) -> str:
    return render_text("place_location", label=label_text, lat=f"{lat:.5f}", lng=f"{lng:.5f}")


async def location(turn: Turn, lat: float, lng: float, label_text: str) -> None:
    """A location message while reporting: the public spot, in the nearest of their estates."""
    d = turn.dialogue
    if d.flow not in ("bind", "report"):
        d.end_flow()
        d.flow = "report"
    _set_public(d.draft, location_place(lat, lng, label_text))
    d.draft.pop("community_id", None)
    communities = _communities(await rooms_of(turn.resident))
    if communities:
        nearest = min(communities, key=lambda c: haversine_m(c.lat, c.lng, lat, lng))
        d.draft["community_id"] = nearest.id
