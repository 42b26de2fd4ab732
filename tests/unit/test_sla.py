"""SLA clocks of the repair process: deadlines, warning/breach plans, pauses, on-time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.domain.process import ProcessDefinition
from server.domain.sla import (
    ClockPaused,
    clock_deadlines,
    clocks_starting_in,
    clocks_stopping_in,
    deadline,
    is_on_time,
    rating_closes_at,
    timer_plan,
)
from server.processes import PROCESS_DIR, load_process_file

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Hangzhou
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def repair() -> ProcessDefinition:
    return load_process_file(PROCESS_DIR / "repair.yaml")


def test_urgent_deadlines(repair: ProcessDefinition):
    assert clock_deadlines(repair, "urgent", T0) == {
        "respond": T0 + 15 * MIN,
        "arrive": T0 + 30 * MIN,
        "resolve": T0 + 4 * HOUR,
    }


def test_normal_deadlines_without_calendars_run_24_7(repair: ProcessDefinition):
    # Without a calendar book every clock runs 24/7 (the durations are then wall seconds).
    assert clock_deadlines(repair, "normal", T0) == {
        "respond": T0 + 2 * HOUR,
        "arrive": T0 + 7.5 * HOUR,
        "resolve": T0 + 22.5 * HOUR,
    }


def test_urgent_timer_plan_warns_before_each_breach_then_escalates(repair: ProcessDefinition):
    assert timer_plan(repair, "urgent", T0) == [
        ("respond", "warn", T0 + 10 * MIN),
        ("respond", "breach", T0 + 15 * MIN),
        ("arrive", "warn", T0 + 20 * MIN),
        ("respond", "escalate2", T0 + 30 * MIN),
        ("arrive", "breach", T0 + 30 * MIN),
        ("respond", "escalate3", T0 + HOUR),
        ("arrive", "escalate2", T0 + HOUR),
        ("arrive", "escalate3", T0 + 2 * HOUR),
        ("resolve", "warn", T0 + 3 * HOUR),
        ("resolve", "breach", T0 + 4 * HOUR),
        ("resolve", "escalate2", T0 + 5 * HOUR),
        ("resolve", "escalate3", T0 + 8 * HOUR),
    ]


def test_timer_plan_is_in_due_order(repair: ProcessDefinition):
    due = [d for _, _, d in timer_plan(repair, "normal", T0)]
    assert due == sorted(due)


def test_unknown_urgency_is_rejected(repair: ProcessDefinition):
    with pytest.raises(ValueError, match="unknown urgency 'whenever'"):
        clock_deadlines(repair, "whenever", T0)


def test_pause_shifts_the_deadline():
    paused = [(T0 + HOUR, T0 + HOUR + 30 * MIN)]
    assert deadline(T0, 7200, paused) == T0 + 2 * HOUR + 30 * MIN


def test_pause_after_the_deadline_changes_nothing():
    paused = [(T0 + 3 * HOUR, T0 + 4 * HOUR)]
    assert deadline(T0, 7200, paused) == T0 + 2 * HOUR


def test_pause_starting_exactly_at_the_deadline_changes_nothing():
    assert deadline(T0, 7200, [(T0 + 2 * HOUR, T0 + 5 * HOUR)]) == T0 + 2 * HOUR


def test_only_the_part_of_a_pause_after_the_start_counts():
    paused = [(T0 - HOUR, T0 + 10 * MIN)]
    assert deadline(T0, 7200, paused) == T0 + 2 * HOUR + 10 * MIN


def test_overlapping_pauses_count_once():
    paused = [(T0 + 30 * MIN, T0 + 90 * MIN), (T0 + HOUR, T0 + 2 * HOUR)]
    assert deadline(T0, 7200, paused) == T0 + 3 * HOUR + 30 * MIN


def test_pauses_in_any_order_give_the_same_deadline():
    first = (T0 + 10 * MIN, T0 + 20 * MIN)
    second = (T0 + HOUR, T0 + 2 * HOUR)
    assert deadline(T0, 7200, [second, first]) == deadline(T0, 7200, [first, second])


def test_open_pause_leaves_the_deadline_unknown():
    with pytest.raises(ClockPaused) as caught:
        deadline(T0, 7200, [(T0 + 30 * MIN, None)])
    assert caught.value.paused_at == T0 + 30 * MIN
    assert caught.value.remaining_s == 5400


def test_open_pause_after_the_deadline_is_harmless():
    assert deadline(T0, 7200, [(T0 + 3 * HOUR, None)]) == T0 + 2 * HOUR


def test_pause_that_ends_before_it_starts_is_rejected():
    with pytest.raises(ValueError, match="ends before it starts"):
        deadline(T0, 7200, [(T0 + HOUR, T0)])


def test_pause_moves_the_warning_too(repair: ProcessDefinition):
    paused = [(T0 + 5 * MIN, T0 + 25 * MIN)]
    plan = timer_plan(repair, "urgent", T0, paused)
    assert ("respond", "warn", T0 + 30 * MIN) in plan
    assert ("respond", "breach", T0 + 35 * MIN) in plan


def test_naive_start_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(datetime(2026, 3, 2, 9, 0), 60)


def test_naive_pause_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(T0, 60, [(datetime(2026, 3, 2, 9, 0), None)])


def test_naive_time_in_on_time_check_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        is_on_time(T0, datetime(2026, 3, 2, 9, 0))


def test_naive_start_of_a_plan_is_rejected(repair: ProcessDefinition):
    with pytest.raises(ValueError, match="timezone-aware"):
        timer_plan(repair, "urgent", datetime(2026, 3, 2, 9, 0))


def test_deadlines_come_back_in_utc():
    shanghai = timezone(timedelta(hours=8))
    result = deadline(datetime(2026, 3, 2, 9, 0, tzinfo=shanghai), 900)
    assert result.utcoffset() == timedelta(0)
    assert result == T0 + 15 * MIN


def test_check_in_at_the_deadline_is_on_time():
    assert is_on_time(T0 + 30 * MIN, T0 + 30 * MIN)


def test_check_in_a_second_late_is_late():
    assert not is_on_time(T0 + 30 * MIN, T0 + 30 * MIN + timedelta(seconds=1))


def test_reopened_task_restarts_every_clock(repair: ProcessDefinition):
    assert [c.name for c in clocks_starting_in(repair, "reopened")] == [
        "respond", "arrive", "resolve",
    ]  # fmt: skip


def test_starting_in_limits_the_plan_to_clocks_that_start_there(repair: ProcessDefinition):
    assert timer_plan(repair, "urgent", T0, starting_in="accepted") == []
    assert clock_deadlines(repair, "urgent", T0, starting_in="accepted") == {}


def test_accepting_stops_only_the_respond_clock(repair: ProcessDefinition):
    assert [c.name for c in clocks_stopping_in(repair, "accepted")] == ["respond"]


def test_check_in_stops_the_arrive_clock(repair: ProcessDefinition):
    assert [c.name for c in clocks_stopping_in(repair, "on_site")] == ["arrive"]


def test_cancelling_stops_every_clock(repair: ProcessDefinition):
    assert len(clocks_stopping_in(repair, "cancelled")) == 3


def test_unrated_task_closes_after_72_hours(repair: ProcessDefinition):
    assert rating_closes_at(repair, T0) == T0 + 72 * HOUR
