"""Site access use cases: build a community's gateway policy, passes, QR codes, remote commands.

The snapshot carries only what a gate needs to decide (plates, card numbers, resident ids,
homes, dates): no names or phone numbers (PIPL data minimisation). Display texts are rendered
here from templates_msg so the gateway needs no templates. Fee status only ever adds a
reminder; the lawful rules themselves live in hardware_gateway.policy.decide.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from tortoise.transactions import in_transaction

from hardware_gateway.messages import ALL_DEVICES, COMMAND_ACTIONS
from hardware_gateway.policy import (
    CREDENTIAL_TYPES,
    SCHEMA,
    TEXT_KEYS,
    credential_key,
    normalize_plate,
    resident_qr,
)
from server.adapters.redis import Redis
from server.db.access import AccessCredential, AccessEvent, VisitorPass
from server.db.estate import Community, Device, Room
from server.db.fees import FeeRow
from server.db.people import Resident, RoomBinding, Staff, Vehicle
from templates_msg import render_text

PASS_MAX_DAYS = 31
PASS_KEEP_AFTER = timedelta(days=1)  # an expired pass still answers "expired" for a day
QR_TTL_S = 300
DIRTY_KEY = "gateway:dirty"
ENROLLABLE = ("card", "face")


class AccessRefused(Exception):
    """A request the rules do not allow; `code` says why (for the API's error body)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


# ---- telling the sync worker -----------------------------------------------------------------


class PolicySync(Protocol):
    """Port: ask for a community's policy to be rebuilt and published (after commit)."""

    async def request(self, community_code: str) -> None: ...


async def request_policy_sync(redis: Redis, redis_prefix: str, community_code: str) -> None:
    """Queue a rebuild; the gateway_sync worker publishes it within milliseconds.

    Call after the change is committed (payment, roster import, visitor pass, card enrolment):
    the worker reads the database, so it must see the new rows.
    """
    await redis.rpush(f"{redis_prefix}{DIRTY_KEY}", community_code)


class RedisPolicySync:
    """PolicySync through the Redis queue the gateway_sync worker reads."""

    def __init__(self, redis: Redis, redis_prefix: str) -> None:
        self.redis = redis
        self.redis_prefix = redis_prefix

    async def request(self, community_code: str) -> None:
        await request_policy_sync(self.redis, self.redis_prefix, community_code)


# ---- the snapshot ----------------------------------------------------------------------------


def qr_key(secret_key: str, community_code: str) -> str:
    """The per-community key resident QR codes are signed with (the gateway verifies them)."""
    message = f"gateway-qr:{community_code}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def period_end(period: str) -> date:
    """Last day of a billing period: 2026 -> 12-31, 2026-03 -> 03-31, 2026Q3 -> 09-30."""
    if "Q" in period:
        year, quarter = period.split("Q")
        month = int(quarter) * 3
    elif "-" in period:
        year, month_text = period.split("-")
        month = int(month_text)
    else:
        year, month = period, 12
    return date(int(year), month, calendar.monthrange(int(year), month)[1])


def floor_of(room_number: str) -> int | None:
    """The floor a room is on, as Chinese estates number them (302 -> 3, 1502 -> 15)."""
    if room_number.isdigit() and len(room_number) >= 3:
        return int(room_number[:-2]) or None
    return None


async def staff_in_scope(community: Community) -> set[int]:
    """Ids of staff who work in `community` (all-community staff included)."""
    everywhere = await Staff.filter(all_communities=True).values_list("id", flat=True)
    here = await Staff.filter(communities__id=community.id).values_list("id", flat=True)
    return {int(i) for i in [*everywhere, *here]}  # type: ignore[call-overload]


async def build_policy(
    community: Community, *, secret_key: str, tz_name: str, now: datetime
) -> dict[str, Any]:
    """The community's policy snapshot (without `version`; the publisher numbers it)."""
    cid = community.id
    rooms = {
        r["id"]: {
            "building": r["unit__building__name"],
            "unit": r["unit__name"],
            "floor": floor_of(r["number"]),
        }
        for r in await Room.filter(community_id=cid).values(
            "id", "number", "unit__name", "unit__building__name"
        )
    }
    rooms_of: dict[int, list[int]] = {}
    for b in await RoomBinding.filter(room__community_id=cid).values("resident_id", "room_id"):
        rooms_of.setdefault(b["resident_id"], []).append(b["room_id"])

    fees_due_since: dict[int, date] = {}  # room -> earliest unpaid property-fee due date
    lease_until: dict[int, date] = {}  # room -> last day of its latest fully paid parking period
    for f in await FeeRow.filter(
        room__community_id=cid, item__in=("property_fee", "parking_fee")
    ).values("room_id", "item", "period", "amount_due", "amount_paid", "due_date"):
        paid = Decimal(f["amount_paid"]) >= Decimal(f["amount_due"])
        room = f["room_id"]
        if f["item"] == "property_fee" and not paid:
            fees_due_since[room] = min(fees_due_since.get(room, f["due_date"]), f["due_date"])
        elif f["item"] == "parking_fee" and paid:
            end = period_end(f["period"])
            lease_until[room] = max(lease_until.get(room, end), end)

    residents: dict[str, Any] = {}
    for resident_id, room_ids in sorted(rooms_of.items()):
        due = [fees_due_since[r] for r in room_ids if r in fees_due_since]
        residents[str(resident_id)] = {
            "homes": sorted(
                (rooms[r] for r in room_ids if r in rooms),
                key=lambda h: (h["building"], h["unit"], h["floor"] or 0),
            ),
            "fees_due_since": min(due).isoformat() if due else None,
        }

    plates: dict[str, Any] = {}
    for v in await Vehicle.filter(community_id=cid).values("plate", "resident_id"):
        leases = [lease_until[r] for r in rooms_of.get(v["resident_id"], []) if r in lease_until]
        plates[normalize_plate(v["plate"])] = {
            "resident": str(v["resident_id"]),
            "lease_until": max(leases).isoformat() if leases else None,
        }

    staff_ids = await staff_in_scope(community)
    credentials: dict[str, Any] = {}
    for c in await AccessCredential.filter(community_id=cid, revoked_at=None).values(
        "kind", "value", "resident_id", "staff_id"
    ):
        if c["staff_id"] is not None and c["staff_id"] in staff_ids:
            credentials[credential_key(c["kind"], c["value"])] = {"staff": str(c["staff_id"])}
        elif c["resident_id"] is not None and c["resident_id"] in rooms_of:
            credentials[credential_key(c["kind"], c["value"])] = {"resident": str(c["resident_id"])}

    passes: dict[str, Any] = {}
    for p in await VisitorPass.filter(
        community_id=cid, revoked_at=None, valid_to__gte=now - PASS_KEEP_AFTER
    ).values("credential_type", "credential", "valid_from", "valid_to", "host_id"):
        host = residents.get(str(p["host_id"]), {}) if p["host_id"] is not None else {}
        passes[credential_key(p["credential_type"], p["credential"])] = {
            "valid_from": p["valid_from"].timestamp(),
            "valid_to": p["valid_to"].timestamp(),
            "homes": host.get("homes", []),
        }

    devices = {
        d["device_id"]: {"kind": d["kind"], "building": d["building"], "unit": d["unit"]}
        for d in await Device.filter(community_id=cid).values(
            "device_id", "kind", "building", "unit"
        )
    }
    return {
        "schema": SCHEMA,
        "community": community.code,
        "tz": tz_name,
        "qr_key": qr_key(secret_key, community.code),
        "devices": devices,
        "residents": residents,
        "plates": plates,
        "credentials": credentials,
        "passes": passes,
        "texts": {key: render_text(f"gate_{key}") for key in TEXT_KEYS},
    }


# ---- credentials and passes ------------------------------------------------------------------


async def _lives_in(resident: Resident, community: Community) -> bool:
    return await RoomBinding.filter(
        resident_id=resident.id, room__community_id=community.id
    ).exists()


async def issue_resident_qr(
    community: Community,
    resident: Resident,
    *,
    secret_key: str,
    now: datetime,
    ttl_s: int = QR_TTL_S,
) -> str:
    """A short-lived QR token the resident shows at a door reader (mini-program)."""
    if not await _lives_in(resident, community):
        raise AccessRefused("not_a_resident", f"resident {resident.id} has no room here")
    expires = int(now.timestamp()) + ttl_s
    return resident_qr(qr_key(secret_key, community.code), str(resident.id), expires)


async def enroll_credential(
    community: Community,
    kind: str,
    value: str,
    *,
    resident: Resident | None = None,
    staff: Staff | None = None,
    sync: PolicySync | None = None,
) -> AccessCredential:
    """Register a card or face for one resident or one staff member of `community`."""
    value = value.strip()
    if kind not in ENROLLABLE or not value or len(value) > 128:
        raise AccessRefused("bad_credential", f"{kind} {value!r}")
    if (resident is None) == (staff is None):
        raise AccessRefused("bad_holder", "a credential belongs to one resident or one staff")
    if resident is not None and not await _lives_in(resident, community):
        raise AccessRefused("not_a_resident", f"resident {resident.id} has no room here")
    if staff is not None and staff.id not in await staff_in_scope(community):
        raise AccessRefused("out_of_scope", f"staff {staff.id} does not work here")
    async with in_transaction():
        existing = await AccessCredential.get_or_none(
            community_id=community.id, kind=kind, value=value
        )
        if existing is not None:
            existing.resident_id = resident.id if resident else None
            existing.staff_id = staff.id if staff else None
            existing.revoked_at = None
            await existing.save()
            credential = existing
        else:
            credential = await AccessCredential.create(
                community=community, kind=kind, value=value, resident=resident, staff=staff
            )
    if sync is not None:
        await sync.request(community.code)
    return credential


async def create_visitor_pass(
    community: Community,
    credential_type: str,
    credential: str,
    *,
    valid_from: datetime,
    valid_to: datetime,
    created_by: str,
    host: Resident | None = None,
    sync: PolicySync | None = None,
) -> VisitorPass:
    """A visitor credential for one window; the host's doors and floors, or any if no host."""
    credential = credential.strip()
    if credential_type not in CREDENTIAL_TYPES or credential_type == "face" or not credential:
        raise AccessRefused("bad_credential", f"{credential_type} {credential!r}")
    if credential_type == "plate":
        credential = normalize_plate(credential)
    if valid_from.tzinfo is None or valid_to.tzinfo is None:
        raise AccessRefused("bad_window", "times must be timezone-aware")
    if not valid_from < valid_to or valid_to - valid_from > timedelta(days=PASS_MAX_DAYS):
        raise AccessRefused("bad_window", f"window must be under {PASS_MAX_DAYS} days")
    if host is not None and not await _lives_in(host, community):
        raise AccessRefused("not_a_resident", f"resident {host.id} has no room here")
    async with in_transaction():
        visitor_pass, _ = await VisitorPass.update_or_create(
            defaults={
                "valid_from": valid_from,
                "valid_to": valid_to,
                "host": host,
                "created_by": created_by,
                "revoked_at": None,
            },
            community_id=community.id,
            credential_type=credential_type,
            credential=credential,
        )
    if sync is not None:
        await sync.request(community.code)
    return visitor_pass


# ---- remote commands -------------------------------------------------------------------------


class CommandPublisher(Protocol):
    """Port: deliver a command to a community's gateway (the gateway_sync worker does)."""

    async def publish_command(self, community_code: str, command: dict[str, Any]) -> None: ...


async def issue_gateway_command(
    publisher: CommandPublisher,
    community: Community,
    device_id: str,
    action: str,
    *,
    issued_by: Staff,
    now: datetime,
    ttl_s: float = 30.0,
) -> str:
    """A staff member's remote open/close/release/restore: audited first, then sent.

    The command expires `ttl_s` after now: a gateway that only gets it later (link down)
    never opens a door nobody is standing at any more.
    """
    if action not in COMMAND_ACTIONS:
        raise AccessRefused("bad_action", action)
    if device_id == ALL_DEVICES and action not in ("release", "restore"):
        raise AccessRefused("bad_action", f"{action} needs one device")
    if device_id != ALL_DEVICES and not await Device.exists(
        community_id=community.id, device_id=device_id
    ):
        raise AccessRefused("no_such_device", device_id)
    if issued_by.id not in await staff_in_scope(community):
        raise AccessRefused("out_of_scope", f"staff {issued_by.id} does not work here")
    command_id = uuid.uuid4().hex
    expires_at = now.timestamp() + ttl_s
    await AccessEvent.create(
        event_id=f"cmd-{command_id}",
        community=community,
        gateway_id="server",
        kind="remote_command",
        at=now,
        device_id=device_id,
        detail={
            "command_id": command_id,
            "action": action,
            "issued_by": f"staff:{issued_by.id}",
            "expires_at": expires_at,
        },
    )
    await publisher.publish_command(
        community.code,
        {
            "command_id": command_id,
            "device_id": device_id,
            "action": action,
            "expires_at": expires_at,
            "issued_by": f"staff:{issued_by.id}",
            "ts": now.timestamp(),
        },
    )
    return command_id
