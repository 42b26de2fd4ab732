"""Fee rules: balances, arrears states and thresholds, allocation, and the lawful hold sweep."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest

from server.domain.fees import (
    ARREARS_STATES,
    CLEAR,
    DUE,
    OVERDUE,
    OVERDUE_BELOW_THRESHOLD,
    SAFETY_CATEGORIES,
    SHARED_CATEGORIES,
    Fee,
    HoldPolicy,
    allocate,
    arrears,
    balances,
    hold_decision,
    months_between,
)
from server.domain.routing import CATEGORIES
from server.settings import load_settings

TODAY = date(2026, 11, 20)
POLICY = load_settings(env={}).fees.hold


def fee(period: str, due: str, paid: str, due_date: date, item: str = "property_fee") -> Fee:
    return Fee(period, item, Decimal(due), Decimal(paid), due_date)


def test_balances_add_up_outstanding_and_overdue_per_item():
    rows = [
        fee("2026-08", "320.00", "0.00", date(2026, 8, 15)),
        fee("2026-09", "320.00", "120.00", date(2026, 9, 15)),
        fee("2026-12", "320.00", "0.00", date(2026, 12, 15)),
        fee("2026", "1800.00", "1800.00", date(2026, 1, 31), item="parking_fee"),
    ]
    result = balances(rows, TODAY)
    property_fee = result["property_fee"]
    assert (property_fee.outstanding, property_fee.overdue) == (
        Decimal("840.00"),
        Decimal("520.00"),
    )
    assert property_fee.oldest_overdue == date(2026, 8, 15)
    assert property_fee.open_periods == ("2026-08", "2026-09", "2026-12")
    assert result["parking_fee"].outstanding == 0


def test_a_fee_is_overdue_only_after_its_due_date():
    assert balances([fee("2026-11", "320.00", "0", TODAY)], TODAY)["property_fee"].overdue == 0


def test_prepayment_does_not_count_as_a_negative_debt():
    rows = [fee("2026-10", "320.00", "500.00", date(2026, 10, 15))]
    assert balances(rows, TODAY)["property_fee"].outstanding == 0


@pytest.mark.parametrize(
    ("earlier", "later", "months"),
    [
        (date(2026, 8, 15), date(2026, 11, 15), 3),
        (date(2026, 8, 15), date(2026, 11, 14), 2),
        (date(2026, 1, 31), date(2026, 2, 28), 0),
        (date(2025, 11, 20), date(2026, 11, 20), 12),
    ],
)
def test_months_between_counts_whole_months(earlier, later, months):
    assert months_between(earlier, later) == months


@pytest.mark.parametrize(
    ("rows", "state"),
    [
        ([], CLEAR),
        ([fee("2026-10", "320.00", "320.00", date(2026, 10, 15))], CLEAR),
        ([fee("2026-12", "320.00", "0", date(2026, 12, 15))], DUE),
        ([fee("2026-10", "320.00", "0", date(2026, 10, 15))], OVERDUE_BELOW_THRESHOLD),
        ([fee("2026-08", "320.00", "0", date(2026, 8, 15))], OVERDUE),  # 3 months
        ([fee("2026", "3840.00", "0", date(2026, 11, 1))], OVERDUE),  # 1500 yuan or more
        # parking fees do not count towards the hold: only property fees do
        ([fee("2025", "1800.00", "0", date(2025, 1, 31), item="parking_fee")], CLEAR),
    ],
)
def test_arrears_state_follows_the_thresholds(rows, state):
    assert arrears(rows, TODAY, POLICY).state == state


def test_thresholds_come_from_settings():
    assert (POLICY.overdue_months, POLICY.overdue_amount) == (3, Decimal("1500.00"))
    assert POLICY.items == {"property_fee"}
    strict = HoldPolicy(POLICY.chargeable_categories, overdue_months=1)
    rows = [fee("2026-10", "320.00", "0", date(2026, 10, 15))]
    assert arrears(rows, TODAY, strict).state == OVERDUE


def test_allocation_pays_the_oldest_due_first():
    rows = [
        fee("2026-10", "320.00", "0", date(2026, 10, 15)),
        fee("2026-08", "320.00", "100.00", date(2026, 8, 15)),
        fee("2026-09", "320.00", "0", date(2026, 9, 15)),
    ]
    parts, left = allocate(rows, Decimal("500.00"))
    assert parts == [("2026-08", Decimal("220.00")), ("2026-09", Decimal("280.00"))]
    assert left == 0


def test_allocation_to_named_periods_only_and_the_rest_is_credit():
    rows = [
        fee("2026-08", "320.00", "0", date(2026, 8, 15)),
        fee("2026-10", "320.00", "0", date(2026, 10, 15)),
    ]
    parts, left = allocate(rows, Decimal("400.00"), ["2026-10"])
    assert (parts, left) == ([("2026-10", Decimal("320.00"))], Decimal("80.00"))


# ---- the sweep: every arrears state x category x urgency x place ---------------------------


def test_the_hold_sweep_holds_exactly_chargeable_own_room_normal_tasks_past_the_threshold():
    held_cases = set()
    for state, category, urgency, own_room in itertools.product(
        ARREARS_STATES, CATEGORIES, ("normal", "urgent"), (True, False)
    ):
        held, reason = hold_decision(category, urgency, own_room, state, POLICY)
        if held:
            held_cases.add((state, category, urgency, own_room))
            assert reason == "arrears"
        else:
            assert reason != "arrears"
    expected = {(OVERDUE, category, "normal", True) for category in POLICY.chargeable_categories}
    assert held_cases == expected
    assert expected  # the default policy does hold something


def test_safety_and_shared_categories_are_never_held_even_if_configured_chargeable():
    reckless = HoldPolicy(frozenset(CATEGORIES))
    for category in SAFETY_CATEGORIES:
        assert hold_decision(category, "normal", True, OVERDUE, reckless) == (
            False,
            "safety_category",
        )
    for category in SHARED_CATEGORIES:
        assert hold_decision(category, "normal", True, OVERDUE, reckless) == (
            False,
            "shared_place",
        )
    assert {"gas", "elevator", "security"} <= SAFETY_CATEGORIES


def test_urgent_and_public_spot_tasks_are_never_held():
    assert hold_decision("water", "urgent", True, OVERDUE, POLICY) == (False, "urgent")
    assert hold_decision("water", "normal", False, OVERDUE, POLICY) == (False, "shared_place")
    assert hold_decision("water", "normal", True, OVERDUE_BELOW_THRESHOLD, POLICY) == (
        False,
        "below_threshold",
    )
