"""KPI formulas against hand-computed values (docs/kpi.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.domain.kpi import (
    Event,
    Milestones,
    PeriodError,
    TaskFacts,
    Totals,
    kpis,
    period_range,
    previous_period,
    task_facts,
    totals_of,
)

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
NOW = T0 + timedelta(days=10)
REPAIR = Milestones(
    respond=frozenset({"accepted"}),
    arrive=frozenset({"on_site"}),
    done=frozenset({"completed", "closed"}),
    dropped=frozenset({"cancelled"}),
    paused=frozenset({"held_for_payment"}),
)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(action: str, a: str, b: str, minutes: float, actor: int | None = 7, **data: object) -> Event:
    return Event(action, a, b, m(minutes), actor, data)


def lifecycle(*extra: Event, late: bool = False) -> list[Event]:
    """Submitted at 0, assigned at 5, accepted at 20, on site at 50, completed at 110."""
    return [
        ev("submit", "", "submitted", 0, None),
        ev("assign", "submitted", "assigned", 5, None),
        ev("accept", "assigned", "accepted", 20),
        ev("check_in", "accepted", "on_site", 50, late=late),
        ev("complete", "on_site", "completed", 110),
        *extra,
    ]


def facts(events: list[Event], state: str, **kw: object) -> TaskFacts:
    args: dict[str, object] = {
        "created_at": T0,
        "state": state,
        "events": events,
        "milestones": REPAIR,
        "resolve_by": m(240),
        "score": None,
        "assignee_id": 7,
    }
    args.update(kw)
    return task_facts(**args)  # type: ignore[arg-type]


def test_a_plain_task_has_its_times_in_seconds() -> None:
    f = facts(lifecycle(ev("rate", "completed", "closed", 200, 1, score=5)), "closed", score=5)
    assert (f.response_s, f.arrival_s, f.resolution_s) == (1200, 3000, 6600)
    assert (f.completed, f.resolved_on_time, f.checked_in_on_time, f.excellent) == (
        True,
        True,
        True,
        True,
    )
    assert (f.held_s, f.reworked, f.reopened, f.handler_id) == (0, False, False, 7)


def test_no_tasks_give_none_not_zero() -> None:
    k = kpis(totals_of([], NOW))
    assert k.tasks == 0
    assert k.completion_ratio is None
    assert k.timely_ratio is None
    assert k.excellence_rate is None
    assert k.mean_resolution_s is None
    assert k.cost is None


def test_held_time_is_cut_out_of_every_duration() -> None:
    events = [
        ev("submit", "", "submitted", 0, None),
        ev("hold", "submitted", "held_for_payment", 1, None),
        ev("release", "held_for_payment", "submitted", 61, None),  # an hour waiting for payment
        ev("assign", "submitted", "assigned", 65, None),
        ev("accept", "assigned", "accepted", 80),
        ev("check_in", "accepted", "on_site", 110),
        ev("complete", "on_site", "completed", 170),
    ]
    f = facts(events, "completed")
    assert f.held_s == 3600
    assert (f.response_s, f.arrival_s, f.resolution_s) == (20 * 60, 50 * 60, 110 * 60)


def test_a_reopened_task_is_not_completed_until_completed_again() -> None:
    reopened = lifecycle(ev("rate_low", "completed", "reopened", 130, 1, score=2))
    f = facts(reopened, "reopened", score=2, resolve_by=m(500))
    assert (f.completed, f.ever_completed, f.reopened, f.reworked) == (False, True, True, False)
    assert f.resolution_s is None and f.resolved_on_time is None
    assert f.due_at == m(500)  # open again: late once its new deadline passes
    assert f.excellent is False

    again = [
        *reopened,
        ev("assign", "reopened", "assigned", 131, None),
        ev("accept", "assigned", "accepted", 140),
        ev("check_in", "accepted", "on_site", 150),
        ev("complete", "on_site", "completed", 300),
    ]
    f2 = facts(again, "completed", score=2, resolve_by=m(500))
    assert (f2.completed, f2.resolution_s, f2.resolved_on_time) == (True, 300 * 60, True)
    assert f2.response_s == 1200  # the first response counts


def test_rework_is_counted_against_the_handler() -> None:
    events = lifecycle(
        ev("rework", "completed", "reopened", 150, 2, kpi="rework", handler_id=7),
        ev("assign", "reopened", "assigned", 150, None),
        ev("accept", "assigned", "accepted", 160),
        ev("check_in", "accepted", "on_site", 170),
        ev("complete", "on_site", "completed", 250, 7),
    )
    f = facts(events, "completed", resolve_by=m(240))
    assert (f.reworked, f.reopened, f.handler_id) == (True, True, 7)
    assert f.resolved_on_time is False  # completed again at 250 after a 240 deadline


def test_late_check_in_is_not_timely() -> None:
    f = facts(lifecycle(late=True), "completed")
    assert f.checked_in_on_time is False
    assert f.resolved_on_time is True


def test_cancelled_tasks_count_nowhere() -> None:
    cancelled = facts(
        [ev("submit", "", "submitted", 0, None), ev("cancel", "submitted", "cancelled", 3, 1)],
        "cancelled",
    )
    assert cancelled.counted is False
    assert kpis(totals_of([cancelled], NOW)).tasks == 0


def test_kpis_over_several_tasks_match_hand_computed_values() -> None:
    good = facts(lifecycle(ev("rate", "completed", "closed", 200, 1, score=5)), "closed", score=5)
    slow = facts(
        lifecycle(ev("rate", "completed", "closed", 300, 1, score=3), late=True),
        "closed",
        score=3,
        resolve_by=m(100),
    )
    reworked = facts(
        lifecycle(ev("rework", "completed", "reopened", 150, 2, kpi="rework", handler_id=7)),
        "reopened",
        resolve_by=m(200),
    )
    waiting = facts([ev("submit", "", "submitted", 0, None)], "submitted", resolve_by=m(60))
    k = kpis(totals_of([good, slow, reworked, waiting], NOW, costs=[120.0, None, 30.5]))
    assert (k.tasks, k.completed) == (4, 2)
    assert k.completion_ratio == 0.5
    # on time: good; late: slow (completed after deadline), reworked and waiting (open, overdue)
    assert k.timely_ratio == 0.25
    assert k.checkin_on_time_ratio == round(2 / 3, 4)  # good, reworked on time; slow late
    assert k.excellence_rate == 0.5  # 5 and 3 rated
    assert k.rework_rate == round(1 / 3, 4)  # of three ever completed
    assert k.mean_resolution_s == 6600
    assert k.mean_score == 4
    assert k.cost == 150.5


def test_sql_style_totals_read_none_as_zero() -> None:
    t = Totals.of({"tasks": 3, "completed": None, "cost_sum": None})
    assert (t.tasks, t.completed, t.cost_sum) == (3, 0, 0)


@pytest.mark.parametrize(
    ("period", "at", "expected"),
    [
        ("day", "2026-11-26", (date(2026, 11, 26), date(2026, 11, 26))),
        ("week", "2026-11-26", (date(2026, 11, 23), date(2026, 11, 29))),
        ("week", "2026-W48", (date(2026, 11, 23), date(2026, 11, 29))),
        ("month", "2026-11", (date(2026, 11, 1), date(2026, 11, 30))),
        ("month", "2026-12", (date(2026, 12, 1), date(2026, 12, 31))),
        ("month", "2024-2", (date(2024, 2, 1), date(2024, 2, 29))),
        ("year", "2026", (date(2026, 1, 1), date(2026, 12, 31))),
        ("custom", "2026-11-01..2026-11-15", (date(2026, 11, 1), date(2026, 11, 15))),
        ("month", "", (date(2026, 11, 1), date(2026, 11, 30))),
    ],
)
def test_periods_are_calendar_ranges(period: str, at: str, expected: tuple[date, date]) -> None:
    assert period_range(period, at, date(2026, 11, 26)) == expected


@pytest.mark.parametrize(
    ("period", "at"),
    [("month", "2026-13"), ("day", "yesterday"), ("custom", "2026-11-15..2026-11-01"), ("x", "")],
)
def test_bad_periods_are_refused(period: str, at: str) -> None:
    with pytest.raises(PeriodError):
        period_range(period, at, date(2026, 11, 26))


def test_previous_period() -> None:
    today = date(2026, 1, 7)
    assert previous_period("week", today) == "2026-01-04"
    assert previous_period("month", today) == "2025-12"
    assert previous_period("year", today) == "2025"
