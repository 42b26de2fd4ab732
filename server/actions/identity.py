"""Linking a mini-program openid to a roster person (staff or resident)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from server.db.people import Resident, Staff
from server.domain.privacy import mask_phone


@dataclass(frozen=True)
class LinkedUser:
    kind: str  # staff, resident or guest
    id: int | None
    name: str
    role: str
    phone_masked: str

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "phone": self.phone_masked,
        }


def _staff(s: Staff) -> LinkedUser:
    return LinkedUser("staff", s.id, s.name, s.role, mask_phone(s.phone))


def _resident(r: Resident) -> LinkedUser:
    return LinkedUser("resident", r.id, r.name, "resident", mask_phone(r.phone))


async def link_miniapp_user(openid: str, unionid: str | None, phone: str | None) -> LinkedUser:
    """Known openid -> that person; else by unionid, else by phone; else a guest who can only bind.

    A mini-program openid differs from the official-account openid (CONTRACT.md), so the first
    login links them; staff win over residents when one phone is on both rosters.
    """
    async with in_transaction():
        staff = await Staff.get_or_none(miniapp_openid=openid)
        if staff:
            return _staff(staff)
        resident = await Resident.get_or_none(miniapp_openid=openid)
        if resident:
            return _resident(resident)
        if unionid:
            staff = await Staff.get_or_none(unionid=unionid)
            resident = None if staff else await Resident.get_or_none(unionid=unionid)
        if not (staff or resident) and phone:
            staff = await Staff.filter(phone=phone).first()
            resident = None if staff else await Resident.get_or_none(phone=phone)
        if staff:
            staff.miniapp_openid = openid
            staff.unionid = staff.unionid or unionid
            await staff.save(update_fields=["miniapp_openid", "unionid"])
            return _staff(staff)
        if resident:
            resident.miniapp_openid = openid
            resident.unionid = resident.unionid or unionid
            await resident.save(update_fields=["miniapp_openid", "unionid"])
            return _resident(resident)
    return LinkedUser("guest", None, "", "guest", "")
