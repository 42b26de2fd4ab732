"""SLA clock maths: deadlines, warning/breach timer plans and on-time judgements (article 1.2, 3.1).

Durations run 24/7 for now. Business calendars come later; pauses (a task held for payment,
article 3.3) are already part of every signature so callers will not change when they arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from server.domain.process import ClockSpec, ProcessDefinition

Pause = tuple[datetime, datetime | None]


class ClockPaused(ValueError):
    """The clock is paused with no end yet, so its deadline is not known until it resumes."""

    def __init__(self, paused_at: datetime, remaining_s: float) -> None:
        self.paused_at = paused_at
        self.remaining_s = remaining_s
        super().__init__(f"clock paused at {paused_at.isoformat()} with {remaining_s:.0f} s left")


def require_aware(name: str, value: datetime) -> datetime:
    """Return `value` in UTC; a naive datetime is a bug (STYLE.md: `*_at` are aware UTC)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def deadline(started_at: datetime, duration_s: int, paused: Sequence[Pause] = ()) -> datetime:
    """When a clock started at `started_at` with `duration_s` of running time runs out.

    Time inside a pause does not count. Pauses may overlap or start before the clock did; an
    open pause (end None) that begins before the deadline raises ClockPaused.
    """
    cursor = require_aware("started_at", started_at)
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    remaining = timedelta(seconds=duration_s)
    spans: list[tuple[datetime, datetime | None]] = []
    for index, (start, end) in enumerate(paused):
        start_at = require_aware(f"paused[{index}] start", start)
        end_at = None if end is None else require_aware(f"paused[{index}] end", end)
        if end_at is not None and end_at < start_at:
            raise ValueError(f"paused[{index}] ends before it starts")
        spans.append((start_at, end_at))
    spans.sort(key=lambda span: span[0])
    for start_at, end_at in spans:
        if end_at is not None and end_at <= cursor:
            continue  # over before the clock reached it
        begins = max(start_at, cursor)
        if begins >= cursor + remaining:
            break  # the clock runs out before this pause
        remaining -= begins - cursor
        if end_at is None:
            raise ClockPaused(begins, remaining.total_seconds())
        cursor = end_at
    return cursor + remaining


def clocks_starting_in(defn: ProcessDefinition, state: str) -> tuple[ClockSpec, ...]:
    """The clocks that (re)start when a task enters `state`."""
    return tuple(spec for spec in defn.clocks if state in spec.starts_in)


def clocks_stopping_in(defn: ProcessDefinition, state: str) -> tuple[ClockSpec, ...]:
    """The clocks that stop when a task enters `state` (its stop states, or any final state)."""
    final = state in defn.final_states
    return tuple(spec for spec in defn.clocks if final or state in spec.stops_in)


def clock_deadlines(
    defn: ProcessDefinition,
    urgency: str,
    started_at: datetime,
    paused: Sequence[Pause] = (),
    *,
    starting_in: str | None = None,
) -> dict[str, datetime]:
    """Deadline of each clock by name, e.g. {"respond": ..., "arrive": ..., "resolve": ...}.

    `starting_in` limits the result to the clocks that start in that state.
    """
    specs = defn.clocks if starting_in is None else clocks_starting_in(defn, starting_in)
    return {spec.name: deadline(started_at, spec.duration_s(urgency), paused) for spec in specs}


def timer_plan(
    defn: ProcessDefinition,
    urgency: str,
    started_at: datetime,
    paused: Sequence[Pause] = (),
    *,
    starting_in: str | None = None,
) -> list[tuple[str, str, datetime]]:
    """The timers to schedule: (clock, "warn" | "breach", due_at), earliest first.

    The warning fires when `warn_before_s` of running time is left, so a pause moves it too.
    """
    specs = defn.clocks if starting_in is None else clocks_starting_in(defn, starting_in)
    plan: list[tuple[str, str, datetime]] = []
    for spec in specs:
        duration_s = spec.duration_s(urgency)
        if spec.warn_before_s:
            warn_at = deadline(started_at, duration_s - spec.warn_before_s, paused)
            plan.append((spec.name, "warn", warn_at))
        plan.append((spec.name, "breach", deadline(started_at, duration_s, paused)))
    order = {spec.name: index for index, spec in enumerate(specs)}
    plan.sort(key=lambda item: (item[2], order[item[0]], item[1] == "breach"))
    return plan


def rating_closes_at(defn: ProcessDefinition, completed_at: datetime) -> datetime:
    """When an unrated completed task closes (the close_unrated timer's due time)."""
    return require_aware("completed_at", completed_at) + timedelta(seconds=defn.rating_window_s)


def is_on_time(deadline_at: datetime, at: datetime) -> bool:
    """Done at `at` against `deadline_at`: exactly at the deadline still counts as on time."""
    return require_aware("at", at) <= require_aware("deadline_at", deadline_at)
