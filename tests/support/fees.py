"""Fee fixtures: fee rows relative to today, a billing clerk, signed payment notifications."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from server.api.fees import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_of
from server.db.estate import Room
from server.db.fees import FeeRow
from server.db.people import Department, Staff
from tests.support.seed import Estate


async def owe(
    room: Room, *, days_overdue: int, amount: str = "960.00", item: str = "property_fee"
) -> FeeRow:
    """An unpaid fee whose due date passed `days_overdue` days ago (negative: not yet due).

    Its period is the month `days_overdue // 30` months back, not the due date's month: fees
    30 or more days apart then never share a period (and the unique key), as they did whenever
    both due dates fell in one 31-day month.
    """
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the estate's today, as the server's
    due = today - timedelta(days=days_overdue)
    months_back = today.year * 12 + today.month - 1 - days_overdue // 30
    return await FeeRow.create(
        room=room,
        period=f"{months_back // 12}-{months_back % 12 + 1:02d}",
        item=item,
        amount_due=Decimal(amount),
        amount_paid=Decimal("0.00"),
        due_date=due,
    )


async def billing_clerk(estate: Estate) -> Staff:
    finance = await Department.create(code="finance", name="财务部", kind="internal")
    clerk = await Staff.create(
        employee_no="B001",
        name="吴会计",
        phone="13600000301",
        department=finance,
        role="billing",
        openid="o_billing",
    )
    await clerk.communities.add(estate.a)
    return clerk


def notification(
    payment_id: str, amount: str, *, room: str = "302", item: str = "property_fee"
) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "community": "alpha",
        "building": "5",
        "unit": "2",
        "room": room,
        "item": item,
        "amount": amount,
    }


def signed(
    body: dict[str, Any], secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The raw body and the headers a payment system sends (docs/fees.md)."""
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return raw, {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature_of(secret, stamp, raw),
        "content-type": "application/json",
    }


async def notify(app: Any, settings: Any, body: dict[str, Any], **kwargs: Any) -> Any:
    raw, headers = signed(body, settings.fees.payment_notify_secret, **kwargs)
    _, response = await app.asgi_client.post(
        "/api/v1/payments/notify", content=raw, headers=headers
    )
    return response
