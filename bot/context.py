"""What every dialogue step needs: who is writing, their dialogue, the clock, and small helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from bot import lexicon
from bot.dialogue import Dialogue
from bot.nlu import normalize
from server.db.estate import Community, Room
from server.db.people import Resident, RoomBinding, Staff
from templates_msg import render_text


@dataclass
class Turn:
    """One message being answered: the sender as the roster knows them, and their dialogue."""

    services: Any
    openid: str
    now: datetime
    dialogue: Dialogue
    resident: Resident | None
    staff: Staff | None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.services.settings.tz_name)

    @property
    def redis(self) -> Any:
        return self.services.redis

    @property
    def prefix(self) -> str:
        return str(self.services.settings.redis_prefix)


async def rooms_of(resident: Resident | None) -> list[Room]:
    """The rooms a resident is bound to, oldest binding first, with their address loaded."""
    if resident is None:
        return []
    bindings = (
        await RoomBinding.filter(resident_id=resident.id)
        .order_by("id")
        .prefetch_related("room__unit__building", "room__community")
    )
    return [b.room for b in bindings]


async def load_room(room_id: int) -> Room | None:
    return await Room.get_or_none(id=room_id).prefetch_related("unit__building", "community")


def room_address(room: Room, *, community: bool = True) -> str:
    """How people write the room: 5号楼2单元302, with the estate's name when it helps."""
    place = render_text(
        "place_room", building=room.unit.building.name, unit=room.unit.name, room=room.number
    )
    return room.community.name + place if community else place


async def all_communities() -> list[Community]:
    return await Community.all().order_by("id")


@cache
def _choice_words() -> tuple[re.Pattern[str], dict[str, int]]:
    words = lexicon.load("dialogue")
    prefixes = "|".join(re.escape(str(w)) for w in words["choice_prefixes"])
    suffixes = "|".join(re.escape(str(w)) for w in words["choice_suffixes"])
    digits = {str(k): int(v) for k, v in lexicon.load("numerals")["digits"].items()}
    return re.compile(rf"(?:{prefixes})?(\d{{1,2}}|.)(?:{suffixes})?"), digits


def pick(text: str, count: int) -> int | None:
    """The 0-based index of a numbered choice ("2", "第二个"), or None if it is not one."""
    pattern, digits = _choice_words()
    match = pattern.fullmatch(normalize(text))
    if match is None:
        return None
    token = match.group(1)
    number = int(token) if token.isdigit() else digits.get(token)
    if number is None or not 1 <= number <= count:
        return None
    return number - 1


def mentions(text: str, name: str) -> bool:
    """Does the answer name `name` (a community), in either direction for short answers?"""
    said, wanted = normalize(text), normalize(name)
    if not said or not wanted:
        return False
    return wanted in said or (len(said) >= 2 and said in wanted)


def staff_list_words() -> frozenset[str]:
    return frozenset(normalize(str(w)) for w in lexicon.load("dialogue")["staff_list"])
