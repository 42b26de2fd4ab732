"""Fee rules: balances, arrears states, payment allocation and the lawful arrears hold.

Pure code (no I/O). The law behind the hold (DESIGN.md, "Lawful operation"): PRC Civil Code
art. 944 forbids pressing for fees by cutting services, so arrears may hold only chargeable
services inside the household's own home, never shared facilities, safety work or anything
urgent. docs/fees.md explains the states and the thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ZERO = Decimal("0.00")

# Arrears states of a household, from nothing owed to past the hold threshold.
CLEAR = "clear"  # nothing unpaid
DUE = "due"  # unpaid, but no due date has passed yet
OVERDUE_BELOW_THRESHOLD = "overdue_below_threshold"  # overdue, under the configured thresholds
OVERDUE = "overdue"  # overdue at or past a threshold: chargeable in-home services may be held
ARREARS_STATES: tuple[str, ...] = (CLEAR, DUE, OVERDUE_BELOW_THRESHOLD, OVERDUE)

# Never held, whatever the configuration says: safety work (gas, lifts, security, the building's
# structure; fire equipment is reported under these or as urgent) and shared facilities.
SAFETY_CATEGORIES: frozenset[str] = frozenset({"gas", "elevator", "security", "structure"})
SHARED_CATEGORIES: frozenset[str] = frozenset({"public_area", "cleaning", "parking", "noise"})

# Why a task was (not) held: the reason codes of hold_decision (labels.yaml `hold_reason`).
HELD = "arrears"
NOT_HELD_REASONS: tuple[str, ...] = (
    "safety_category",
    "urgent",
    "shared_place",
    "not_chargeable",
    "below_threshold",
)


@dataclass(frozen=True)
class Fee:
    """One fee row: what a room owes for one period of one item."""

    period: str
    item: str
    amount_due: Decimal
    amount_paid: Decimal
    due_date: date

    @property
    def outstanding(self) -> Decimal:
        return max(ZERO, self.amount_due - self.amount_paid)


@dataclass(frozen=True)
class ItemBalance:
    """A household's balance of one item: still owed, of which overdue, since when."""

    item: str
    outstanding: Decimal
    overdue: Decimal
    oldest_overdue: date | None
    open_periods: tuple[str, ...]


@dataclass(frozen=True)
class HoldPolicy:
    """[fees.hold] in config/default.toml: what may be held and from which arrears on."""

    chargeable_categories: frozenset[str]
    items: frozenset[str] = frozenset({"property_fee"})
    overdue_months: int = 3
    overdue_amount: Decimal = Decimal("1500.00")


@dataclass(frozen=True)
class Arrears:
    """A household's arrears as the hold rule sees them (the policy's items only)."""

    state: str
    overdue_amount: Decimal
    overdue_months: int


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from `earlier` to `later` (01-31 -> 02-28 is 0, -> 03-01 is 1)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    if later.day < earlier.day:
        months -= 1
    return max(0, months)


def balances(fees: Iterable[Fee], today: date) -> dict[str, ItemBalance]:
    """Balance per item; a fee is overdue once its due date has passed (the day after it)."""
    by_item: dict[str, list[Fee]] = {}
    for fee in fees:
        by_item.setdefault(fee.item, []).append(fee)
    result = {}
    for item, rows in sorted(by_item.items()):
        open_rows = sorted((f for f in rows if f.outstanding > 0), key=lambda f: f.due_date)
        overdue = [f for f in open_rows if f.due_date < today]
        result[item] = ItemBalance(
            item=item,
            outstanding=sum((f.outstanding for f in open_rows), ZERO),
            overdue=sum((f.outstanding for f in overdue), ZERO),
            oldest_overdue=overdue[0].due_date if overdue else None,
            open_periods=tuple(f.period for f in open_rows),
        )
    return result


def arrears(fees: Iterable[Fee], today: date, policy: HoldPolicy) -> Arrears:
    """The household's arrears state on the policy's items (property fees by default)."""
    counted = [b for b in balances(fees, today).values() if b.item in policy.items]
    outstanding = sum((b.outstanding for b in counted), ZERO)
    overdue = sum((b.overdue for b in counted), ZERO)
    oldest = min((b.oldest_overdue for b in counted if b.oldest_overdue), default=None)
    months = months_between(oldest, today) if oldest else 0
    if outstanding <= 0:
        state = CLEAR
    elif overdue <= 0:
        state = DUE
    elif months >= policy.overdue_months or overdue >= policy.overdue_amount:
        state = OVERDUE
    else:
        state = OVERDUE_BELOW_THRESHOLD
    return Arrears(state, overdue, months)


def hold_decision(
    category: str, urgency: str, own_room: bool, state: str, policy: HoldPolicy
) -> tuple[bool, str]:
    """(held, reason): may a new task of this household wait for payment?

    Only a non-urgent, chargeable in-home service in the household's own room, from a
    household past the thresholds. The order of the checks is the order of the reasons a
    person is told: safety first, then urgency, place, category, arrears.
    """
    if category in SAFETY_CATEGORIES:
        return False, "safety_category"
    if urgency == "urgent":
        return False, "urgent"
    if not own_room or category in SHARED_CATEGORIES:
        return False, "shared_place"
    if category not in policy.chargeable_categories:
        return False, "not_chargeable"
    if state != OVERDUE:
        return False, "below_threshold"
    return True, HELD


def allocate(
    fees: Sequence[Fee], amount: Decimal, periods: Sequence[str] = ()
) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """Split a payment over fee rows of one item: ([(period, amount)], left over).

    Oldest due date first; when the payer named periods, only those rows. What is left after
    every open row is paid is returned as a credit (the caller books it as a prepayment).
    """
    wanted = set(periods)
    rows = sorted(
        (f for f in fees if f.outstanding > 0 and (not wanted or f.period in wanted)),
        key=lambda f: (f.due_date, f.period),
    )
    left = amount
    parts: list[tuple[str, Decimal]] = []
    for fee in rows:
        if left <= 0:
            break
        part = min(left, fee.outstanding)
        parts.append((fee.period, part))
        left -= part
    return parts, left
