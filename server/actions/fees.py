"""Fee use cases: statements, payments allocated under row locks, and the arrears hold.

A payment is one transaction (payment row + fee rows, locked); after it commits the gateway
policy is rebuilt (gate reminders depend on arrears) and the household's held tasks resume
at once (docs/fees.md). The hold itself is decided in server/actions/tasks.py when a task is
created, with `hold_for` and `tell_hold` from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.actions.gateway_policy import request_policy_sync
from server.actions.notify import Recipient, enqueue
from server.db import statements
from server.db.estate import Room
from server.db.fees import FeeRow, Payment
from server.db.people import Resident, RoomBinding, Staff
from server.db.tasks import Task
from server.domain.fees import (
    OVERDUE,
    ZERO,
    Arrears,
    Fee,
    HoldPolicy,
    ItemBalance,
    allocate,
    arrears,
    balances,
    hold_decision,
)
from server.settings import load_settings
from templates_msg import label, render_text

log = logging.getLogger("wuye.fees")

HELD_STATE = "held_for_payment"
MONEY = Decimal("0.01")


class PaymentRefused(Exception):
    """A payment that cannot be booked; `code` is the API error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@cache
def hold_policy() -> HoldPolicy:
    """[fees.hold] of the deployment's settings, read once."""
    return load_settings().fees.hold


def money(value: Decimal) -> str:
    return str(value.quantize(MONEY))


def _fee(row: FeeRow) -> Fee:
    return Fee(
        row.period, row.item, Decimal(row.amount_due), Decimal(row.amount_paid), row.due_date
    )


async def fees_of(room_id: int) -> list[FeeRow]:
    return await statements.fetch(
        FeeRow,
        "SELECT * FROM fee_rows WHERE room_id = $1 ORDER BY item, due_date, period",
        room_id,
    )


async def household_arrears(room_id: int, today: date, policy: HoldPolicy | None = None) -> Arrears:
    """The room's arrears state on the hold policy's items."""
    rows = await fees_of(room_id)
    return arrears([_fee(r) for r in rows], today, policy or hold_policy())


def local_date(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


# ---------------------------------------------------------------------------- statements


def balance_json(balance: ItemBalance) -> dict[str, Any]:
    return {
        "item": balance.item,
        "item_name": label("fee_item", balance.item),
        "outstanding": money(balance.outstanding),
        "overdue": money(balance.overdue),
        "oldest_overdue": balance.oldest_overdue.isoformat() if balance.oldest_overdue else None,
        "open_periods": list(balance.open_periods),
    }


async def statement(room: Room, today: date) -> dict[str, Any]:
    """A room's fees: balance per item, arrears state, every row, credit left on payments."""
    rows = await fees_of(room.id)
    fees = [_fee(r) for r in rows]
    state = arrears(fees, today, hold_policy())
    credit = sum(
        (
            Decimal(p)
            for p in await Payment.filter(room_id=room.id).values_list("unallocated", flat=True)
        ),
        ZERO,
    )
    return {
        "room": room.id,
        "state": state.state,
        "overdue_months": state.overdue_months,
        "balances": [balance_json(b) for b in balances(fees, today).values()],
        "credit": money(credit),
        "rows": [
            {
                "period": r.period,
                "item": r.item,
                "amount_due": money(Decimal(r.amount_due)),
                "amount_paid": money(Decimal(r.amount_paid)),
                "due_date": r.due_date.isoformat(),
                "overdue": f.outstanding > 0 and f.due_date < today,
            }
            for r, f in zip(rows, fees, strict=True)
        ],
    }


@dataclass(frozen=True)
class Household:
    """A room in arrears and who lives there (the arrears list)."""

    room: Room
    balances: dict[str, ItemBalance]
    arrears: Arrears
    residents: list[Resident]


async def households_in_arrears(community_id: int, today: date) -> list[Household]:
    """Rooms of the community with overdue fees of any item, most overdue first."""
    rows = await FeeRow.filter(room__community_id=community_id, due_date__lt=today).values(
        "room_id", "amount_due", "amount_paid"
    )
    room_ids = sorted(
        {r["room_id"] for r in rows if Decimal(r["amount_paid"]) < Decimal(r["amount_due"])}
    )
    if not room_ids:
        return []
    fees: dict[int, list[Fee]] = {}
    for row in await FeeRow.filter(room_id__in=room_ids):
        fees.setdefault(row.room_id, []).append(_fee(row))
    people: dict[int, list[Resident]] = {}
    for binding in (
        await RoomBinding.filter(room_id__in=room_ids).order_by("id").select_related("resident")
    ):
        people.setdefault(binding.room_id, []).append(binding.resident)
    rooms = await Room.filter(id__in=room_ids).select_related("unit__building")
    result = [
        Household(
            room,
            balances(fees[room.id], today),
            arrears(fees[room.id], today, hold_policy()),
            people.get(room.id, []),
        )
        for room in rooms
    ]
    result.sort(key=lambda h: (-sum(b.overdue for b in h.balances.values()), h.room.id))
    return result


# ---------------------------------------------------------------------------- payments


@dataclass(frozen=True)
class Booked:
    """A payment as booked; `duplicate` when the payment id was seen before (nothing changed)."""

    payment: Payment
    duplicate: bool


def payment_json(payment: Payment, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "room": payment.room_id,
        "item": payment.item,
        "periods": payment.periods,
        "amount": money(Decimal(payment.amount)),
        "allocations": [{"period": p, "amount": a} for p, a in payment.allocations],
        "unallocated": money(Decimal(payment.unallocated)),
        "paid_at": payment.paid_at.astimezone(tz).isoformat(),
        "source": payment.source,
    }


async def record_payment(
    *,
    payment_id: str,
    room: Room,
    item: str,
    amount: Decimal,
    periods: list[str],
    paid_at: datetime,
    source: str,
    now: datetime,
    recorded_by: Staff | None = None,
) -> Booked:
    """Book a payment against the room's rows of `item`, oldest due first, in one transaction.

    The fee rows are locked (SELECT ... FOR UPDATE) so two payments of one household cannot
    both spend the same outstanding amount; the unique payment id makes a repeat a no-op.
    """
    if amount <= 0:
        raise PaymentRefused("bad_amount", "the amount must be positive")
    if amount != amount.quantize(MONEY):
        raise PaymentRefused("bad_amount", "the amount has more than two decimals")
    existing = await Payment.get_or_none(payment_id=payment_id)
    if existing is not None:
        return _repeat(existing, room, item, amount)
    try:
        async with in_transaction():
            payment = await Payment.create(
                payment_id=payment_id,
                room=room,
                item=item,
                periods=periods,
                amount=amount,
                allocations=[],
                unallocated=amount,
                paid_at=paid_at,
                source=source,
                recorded_by=recorded_by,
                created_at=now,
            )
            rows = await FeeRow.filter(room_id=room.id, item=item).select_for_update()
            if not rows:
                raise PaymentRefused("no_such_fee", f"room {room.id} owes nothing for {item}")
            unknown = sorted(set(periods) - {r.period for r in rows})
            if unknown:
                raise PaymentRefused("no_such_period", f"no {item} for {', '.join(unknown)}")
            parts, left = allocate([_fee(r) for r in rows], amount, periods)
            by_period = {r.period: r for r in rows}
            for period, part in parts:
                row = by_period[period]
                row.amount_paid = Decimal(row.amount_paid) + part
                await row.save(update_fields=["amount_paid"])
            payment.allocations = [[period, money(part)] for period, part in parts]
            payment.unallocated = left
            await payment.save(update_fields=["allocations", "unallocated"])
    except IntegrityError:
        # The same payment id booked concurrently: that one stands, this one rolled back.
        first = await Payment.get_or_none(payment_id=payment_id)
        if first is None:
            raise
        return _repeat(first, room, item, amount)
    return Booked(payment, duplicate=False)


def _repeat(first: Payment, room: Room, item: str, amount: Decimal) -> Booked:
    """A payment id seen before: the same payment again, or a conflicting reuse of the id."""
    if (first.room_id, first.item, Decimal(first.amount)) != (room.id, item, amount):
        raise PaymentRefused("payment_id_reused", "this payment id was booked with other data")
    return Booked(first, duplicate=True)


async def after_payment(services: Any, booked: Booked, now: datetime, tz: ZoneInfo) -> list[Task]:
    """After the payment commits: rebuild the gateway policy and resume held tasks at once."""
    room = await Room.get(id=booked.payment.room_id).select_related("community")
    settings = services.settings
    try:
        await request_policy_sync(services.redis, settings.redis_prefix, room.community.code)
    except Exception:  # the gateway catches up on its next sync; the payment stands
        log.exception("policy sync request failed after payment %s", booked.payment.payment_id)
    return await resume_paid(room.id, now, tz)


async def resume_paid(room_id: int, now: datetime, tz: ZoneInfo) -> list[Task]:
    """Resume every held task of the room once its arrears are under the thresholds."""
    if (await household_arrears(room_id, local_date(now, tz))).state == OVERDUE:
        return []
    from server.actions import tasks as task_actions  # tasks.py imports this module

    resumed = []
    for task in await Task.filter(room_id=room_id, state=HELD_STATE).order_by("id"):
        try:
            resumed.append(
                await task_actions.fire(
                    task.ref,
                    "resume",
                    task_actions.SYSTEM,
                    task_actions.Move(note="paid"),
                    now=now,
                    tz=tz,
                )
            )
        except task_actions.TaskRefused as refused:  # cancelled meanwhile, say
            log.info("task %s not resumed: %s", task.ref, refused)
    return resumed


# ---------------------------------------------------------------------------- the hold


async def hold_for(task: Task, now: datetime, tz: ZoneInfo) -> Arrears | None:
    """The household's arrears when the new task must wait for payment, else None."""
    if task.room_id is None:
        return None  # a public spot: a shared facility is never held
    policy = hold_policy()
    if not hold_decision(task.category, task.urgency, True, OVERDUE, policy)[0]:
        return None  # never held, whatever is owed: no need to read the fees
    state = await household_arrears(task.room_id, local_date(now, tz), policy)
    held, _ = hold_decision(task.category, task.urgency, True, state.state, policy)
    return state if held else None


async def billing_staff(community_id: int) -> list[Staff]:
    return (
        await Staff.filter(
            Q(role="billing") & (Q(all_communities=True) | Q(communities__id=community_id))
        )
        .distinct()
        .order_by("id")
    )


async def tell_hold(
    task: Task, state: Arrears, values: dict[str, Any], event_id: int, now: datetime
) -> None:
    """Tell the resident why and how to pay, and the community's billing staff (outbox)."""
    values = {
        **values,
        "overdue_amount": money(state.overdue_amount),
        "overdue_months": state.overdue_months,
        "how_to_pay": render_text("how_to_pay"),
    }
    resident = await Resident.get_or_none(id=task.reporter_id) if task.reporter_id else None
    if resident is not None:
        await enqueue(
            "arrears_hold",
            Recipient.of_resident(resident),
            values,
            key=f"event:{event_id}:arrears_hold:resident:{resident.id}",
            now=now,
        )
    for person in await billing_staff(task.community_id):
        await enqueue(
            "arrears_hold_billing",
            Recipient.of_staff(person),
            values,
            key=f"event:{event_id}:arrears_hold_billing:staff:{person.id}",
            now=now,
        )
