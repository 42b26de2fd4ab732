"""Binding an official-account follower to a room, and unbinding: the bot's only roster writes.

The roster (RoomBinding rows, imported from residents.csv) says who lives where; binding in
chat proves that a WeChat account belongs to one of those people (their phone number, or its
last four digits) and links the account's openid to that person (Resident.openid).
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from server.db.people import Resident, RoomBinding

FULL_PHONE_DIGITS = 11
PHONE_TAIL_DIGITS = 4


class BindRefused(Exception):
    """A binding or unbinding we will not do; `code` names a bot reply (bind_<code>)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Bound:
    """The outcome of a binding: who this openid now speaks for, and whether it was new."""

    resident_id: int
    room_id: int
    relation: str
    already: bool


@dataclass(frozen=True)
class Unbound:
    """The outcome of an unbinding: `unlinked` when the openid no longer speaks for anyone."""

    room_id: int
    unlinked: bool


def phone_matches(roster_phone: str, given: str) -> bool:
    """A full mobile number must be equal; four digits must be its tail."""
    if len(given) == FULL_PHONE_DIGITS:
        return roster_phone == given
    return len(given) == PHONE_TAIL_DIGITS and roster_phone.endswith(given)


async def bind_room(*, openid: str, room_id: int, phone: str) -> Bound:
    """Link an official-account `openid` to the room's roster person (see `_bind`)."""
    return await _bind("openid", openid, room_id, phone)


async def bind_room_for_miniapp(*, miniapp_openid: str, room_id: int, phone: str) -> Bound:
    """The same check for a mini-program user: links Resident.miniapp_openid (CONTRACT.md:
    a mini-program openid is not the official-account openid, so each has its own link)."""
    return await _bind("miniapp_openid", miniapp_openid, room_id, phone)


async def _bind(column: str, openid: str, room_id: int, phone: str) -> Bound:
    """Link `openid` (stored in Resident.<column>) to the room's roster person whose phone
    matches; raises BindRefused.

    Decisions (docs/bot.md, "Dialogue"):
    - the openid speaks for nobody yet: it becomes the verified person's openid, which also gives
      it every other room that person holds on the roster;
    - it already speaks for the verified person: nothing changes (`already`);
    - it already speaks for another roster person (one WeChat account per person, openids are
      unique): that person gets this room too, with the verified person's relation, since they
      just proved they know the household's registered number;
    - the verified person is linked to a different WeChat account: refused (`phone_taken`) —
      four digits must not be enough to take over someone's account; the office can relink.
    """
    given = phone.strip()
    async with in_transaction():
        bindings = await RoomBinding.filter(room_id=room_id).prefetch_related("resident")
        matched = [b for b in bindings if phone_matches(b.resident.phone, given)]
        if not matched:
            raise BindRefused("wrong_phone")
        if len(matched) > 1:
            raise BindRefused("ambiguous_phone")  # two residents share the last four digits
        verified = matched[0]
        person = verified.resident
        mine = await Resident.filter(**{column: openid}).select_for_update().first()
        if mine is None:
            linked = getattr(person, column)
            if linked and linked != openid:
                raise BindRefused("phone_taken")
            setattr(person, column, openid)
            await person.save(update_fields=[column])
            return Bound(person.id, room_id, verified.relation, already=False)
        if mine.id == person.id:
            return Bound(person.id, room_id, verified.relation, already=True)
        binding, created = await RoomBinding.get_or_create(
            resident_id=mine.id, room_id=room_id, defaults={"relation": verified.relation}
        )
        return Bound(mine.id, room_id, binding.relation, already=not created)


async def unbind_room(*, openid: str, room_id: int) -> Unbound:
    """Stop an official-account `openid` speaking for a room (see `_unbind`)."""
    return await _unbind("openid", openid, room_id)


async def unbind_room_for_miniapp(*, miniapp_openid: str, room_id: int) -> Unbound:
    """The same for a mini-program user (Resident.miniapp_openid)."""
    return await _unbind("miniapp_openid", miniapp_openid, room_id)


async def _unbind(column: str, openid: str, room_id: int) -> Unbound:
    """Stop `openid` (Resident.<column>) speaking for a room; raises BindRefused("not_bound").

    The last room: the openid is unlinked (its column cleared) and the roster row stays, so
    the person can bind again by phone and the office's records are untouched. One of several
    rooms: that RoomBinding is removed (moved out, sold); a roster import that still lists the
    person restores it.
    """
    async with in_transaction():
        resident = await Resident.filter(**{column: openid}).select_for_update().first()
        if resident is None:
            raise BindRefused("not_bound")
        bindings = await RoomBinding.filter(resident_id=resident.id)
        target = next((b for b in bindings if b.room_id == room_id), None)
        if target is None:
            raise BindRefused("not_bound")
        if len(bindings) == 1:
            setattr(resident, column, None)
            await resident.save(update_fields=[column])
            return Unbound(room_id, unlinked=True)
        await target.delete()
        return Unbound(room_id, unlinked=False)
