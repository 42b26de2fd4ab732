"""Fees over HTTP: a room's statement, payments (billing desk and signed notifications), arrears.

docs/fees.md documents every route, the notification signature and the masking by role.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions import fees as fee_actions
from server.api.access import (
    PUBLIC,
    aware_time,
    check_body,
    check_community,
    endpoint,
    principal_of,
)
from server.api.errors import ApiError
from server.db.estate import Community, Room
from server.db.people import RoomBinding, Staff
from server.domain.privacy import mask_phone
from templates_msg import label, render_text

bp = Blueprint("api_fees", url_prefix="/api/v1")

# Who reads fees and arrears: the billing desk, the estate's management, the service desk.
FEE_READERS = frozenset({"billing", "manager", "lead", "customer_service"})
PAYMENT_RECORDERS = frozenset({"billing", "manager"})
# Roles that see residents' full names in the arrears list (everyone else: 张*). Phones are
# masked for every role here: an unmasked read goes through the audited reveal (DESIGN.md).
FULL_NAME_ROLES = frozenset({"billing", "manager"})
SIGNATURE_HEADER = "X-Wuye-Signature"
TIMESTAMP_HEADER = "X-Wuye-Timestamp"

MONEY = {"type": "string", "maxLength": 16}
PERIODS = {"type": "array"}
PAYMENT_FIELDS: dict[str, Any] = {
    "payment_id": {"type": "string", "maxLength": 64},
    "item": {"type": "string", "maxLength": 32},
    "amount": MONEY,
    "periods": PERIODS,
    "paid_at": {"type": "string", "maxLength": 40},
}
PAYMENT_BODY = {
    "type": "object",
    "required": ["payment_id", "room", "item", "amount"],
    "properties": {**PAYMENT_FIELDS, "room": {"type": "integer", "minimum": 1}},
}
NOTIFY_BODY = {
    "type": "object",
    "required": ["payment_id", "community", "building", "unit", "room", "item", "amount"],
    "properties": {
        **PAYMENT_FIELDS,
        "community": {"type": "string", "maxLength": 32},
        "building": {"type": "string", "maxLength": 16},
        "unit": {"type": "string", "maxLength": 16},
        "room": {"type": "string", "maxLength": 16},
    },
}
BALANCE = {
    "type": "object",
    "properties": {
        "item": {"type": "string"},
        "outstanding": {"type": "string"},
        "overdue": {"type": "string"},
    },
}
STATEMENT = {
    "type": "object",
    "properties": {
        "room": {"type": "integer"},
        "state": {"type": "string"},
        "balances": {"type": "array", "items": BALANCE},
        "rows": {"type": "array"},
        "credit": {"type": "string"},
    },
}
PAYMENT_RESULT = {
    "type": "object",
    "properties": {
        "result": {"type": "string", "enum": ["booked", "duplicate"]},
        "payment": {"type": "object"},
        "resumed": {"type": "array", "items": {"type": "string"}},
    },
}


def _now() -> datetime:
    return datetime.now(UTC)


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.ctx.services.settings.tz_name)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ApiError(400, "bad_field", "field 'amount' must be a decimal like 1280.00") from None
    if not value.is_finite():
        raise ApiError(400, "bad_field", "field 'amount' must be a decimal like 1280.00")
    return value


def _periods(value: Any) -> list[str]:
    if value is None:
        return []
    if not all(isinstance(p, str) and 0 < len(p) <= 16 for p in value):
        raise ApiError(400, "bad_field", "field 'periods' must list periods like 2026-10")
    return sorted(set(value))


async def _book(
    request: Request, body: dict[str, Any], room: Room, source: str, staff: Staff | None
) -> HTTPResponse:
    """Book the payment, then (committed) resume held tasks and resync the gateway policy."""
    now, tz = _now(), _tz(request)
    try:
        booked = await fee_actions.record_payment(
            payment_id=body["payment_id"].strip(),
            room=room,
            item=body["item"].strip(),
            amount=_amount(body["amount"]),
            periods=_periods(body.get("periods")),
            paid_at=aware_time(body.get("paid_at"), "paid_at") or now,
            source=source,
            now=now,
            recorded_by=staff,
        )
    except fee_actions.PaymentRefused as refused:
        status = 409 if refused.code == "payment_id_reused" else 400
        raise ApiError(status, refused.code, refused.detail) from None
    resumed = []
    if not booked.duplicate:
        services = request.app.ctx.services
        resumed = [t.ref for t in await fee_actions.after_payment(services, booked, now, tz)]
    return json(
        {
            "result": "duplicate" if booked.duplicate else "booked",
            "payment": fee_actions.payment_json(booked.payment, tz),
            "resumed": resumed,
        },
        status=200 if booked.duplicate else 201,
    )


# ---------------------------------------------------------------------------- statement


@endpoint(
    bp,
    "GET",
    "/rooms/<room_id:int>/fees",
    allow=FEE_READERS | {"resident"},
    summary="A room's fees: balance per item, arrears state, rows (residents: own rooms)",
    response=STATEMENT,
)
async def room_fees(request: Request, room_id: int) -> HTTPResponse:
    p = principal_of(request)
    room = await Room.get_or_none(id=room_id)
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    if p.kind == "resident":
        if not await RoomBinding.filter(resident_id=p.id, room_id=room.id).exists():
            raise ApiError(404, "not_found", "no such room")
    else:
        check_community(request, room.community_id)
    today = fee_actions.local_date(_now(), _tz(request))
    return json(await fee_actions.statement(room, today))


# ---------------------------------------------------------------------------- payments


@endpoint(
    bp,
    "POST",
    "/payments",
    allow=PAYMENT_RECORDERS,
    summary="Record a payment (billing desk); a repeated payment_id changes nothing",
    body=PAYMENT_BODY,
    response=PAYMENT_RESULT,
)
async def post_payment(request: Request) -> HTTPResponse:
    body = request.ctx.body
    room = await Room.get_or_none(id=body["room"])
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    check_community(request, room.community_id)
    staff = await Staff.get(id=principal_of(request).id)
    return await _book(request, body, room, "api", staff)


def signature_of(secret: str, timestamp: str, raw: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + raw body) (docs/fees.md)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _check_signature(request: Request) -> None:
    """403 unless the body is signed with the shared secret within the allowed clock skew."""
    fees = request.app.ctx.services.settings.fees
    timestamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
    given = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not fees.payment_notify_secret:
        raise ApiError(403, "notify_disabled", "payment notifications are not configured")
    if (
        not timestamp.isdigit()
        or abs(time.time() - int(timestamp)) > fees.payment_notify_max_skew_s
    ):
        raise ApiError(403, "stale_timestamp", f"{TIMESTAMP_HEADER} is missing or too far off")
    expected = signature_of(fees.payment_notify_secret, timestamp, request.body or b"")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "bad_signature", f"{SIGNATURE_HEADER} does not match the body")


@endpoint(
    bp,
    "POST",
    "/payments/notify",
    allow=PUBLIC,
    summary="Payment notification from a payment system, signed (X-Wuye-Signature, docs/fees.md)",
    response=PAYMENT_RESULT,
)
async def notify_payment(request: Request) -> HTTPResponse:
    _check_signature(request)  # before reading anything: unsigned callers learn nothing
    body = check_body(request, NOTIFY_BODY)
    room = await Room.get_or_none(
        community__code=body["community"],
        unit__building__name=body["building"],
        unit__name=body["unit"],
        number=body["room"],
    )
    if room is None:
        raise ApiError(404, "not_found", "no such room")
    return await _book(request, body, room, "notify", None)


notify_payment.__dict__["__openapi__"]["body"] = NOTIFY_BODY  # validated after the signature


# ---------------------------------------------------------------------------- arrears


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


@endpoint(
    bp,
    "GET",
    "/communities/<community_id:int>/arrears",
    allow=FEE_READERS,
    summary="Households with overdue fees, most overdue first (names and phones masked by role)",
    response={"type": "object", "properties": {"households": {"type": "array"}}},
)
async def community_arrears(request: Request, community_id: int) -> HTTPResponse:
    check_community(request, community_id)
    if not await Community.exists(id=community_id):
        raise ApiError(404, "not_found", "no such community in your scope")
    full_names = principal_of(request).role in FULL_NAME_ROLES
    today = fee_actions.local_date(_now(), _tz(request))
    households = []
    for h in await fee_actions.households_in_arrears(community_id, today):
        room = h.room
        households.append(
            {
                "room": room.id,
                "place": render_text(
                    "place_room",
                    building=room.unit.building.name,
                    unit=room.unit.name,
                    room=room.number,
                ),
                "state": h.arrears.state,
                "state_name": label("arrears_state", h.arrears.state),
                "overdue_months": h.arrears.overdue_months,
                "balances": [
                    fee_actions.balance_json(b) for b in h.balances.values() if b.outstanding > 0
                ],
                "residents": [
                    {
                        "name": r.name if full_names else _mask_name(r.name),
                        "phone": mask_phone(r.phone),
                    }
                    for r in h.residents
                ],
            }
        )
    return json({"households": households})
