"""SLA clock maths: deadlines, warning/breach/escalation plans, on-time judgements (article 1.2,
3.1), on business calendars with pauses (a task held for payment, article 3.3).

Every function takes the calendars as a parameter: without one a clock runs 24/7, which is what
an `always` clock does anyway. The actions layer passes the book loaded from config/sla.yaml and
the task's department code (for clocks on the `department` calendar).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from server.domain.calendar import (
    Calendar,
    CalendarBook,
    ClockPaused,
    Pause,
    add_business_seconds,
    around_the_clock_book,
    business_seconds_between,
    require_aware,
)
from server.domain.process import ClockSpec, Escalation, ProcessDefinition

__all__ = [
    "ClockPaused",
    "Pause",
    "PlannedTimer",
    "clock_calendar",
    "clock_deadlines",
    "clock_plan",
    "clocks_pausing_in",
    "clocks_starting_in",
    "clocks_stopping_in",
    "deadline",
    "escalation_of",
    "is_on_time",
    "lateness_s",
    "level_of",
    "rating_closes_at",
    "require_aware",
    "timer_plan",
]

WARN = "warn"
BREACH = "breach"
ESCALATE = "escalate"  # timer kinds escalate2, escalate3, ... (level 1 is the breach)
_ALWAYS_BOOK = around_the_clock_book(ZoneInfo("Asia/Shanghai"))


@dataclass(frozen=True)
class PlannedTimer:
    """One timer of a clock: `kind` is warn, breach or escalateN; `level` 0 for the warning."""

    clock: str
    kind: str
    level: int
    due_at: datetime

    @property
    def name(self) -> str:
        """The timer row's name: `resolve.breach`, `respond.escalate2`, ..."""
        return f"{self.clock}.{self.kind}"


def level_of(kind: str) -> int:
    """0 for warn, 1 for breach, N for escalateN; ValueError for anything else."""
    if kind == WARN:
        return 0
    if kind == BREACH:
        return 1
    if kind.startswith(ESCALATE) and kind[len(ESCALATE) :].isdigit():
        return int(kind[len(ESCALATE) :])
    raise ValueError(f"not a clock timer kind: {kind!r}")


def kind_of(level: int) -> str:
    """The timer kind of an escalation level (1 is the breach)."""
    return BREACH if level == 1 else f"{ESCALATE}{level}"


def escalation_of(spec: ClockSpec, level: int) -> Escalation:
    """The escalation level `level` (1-based) of a clock."""
    return spec.escalation[level - 1]


def clock_calendar(
    spec: ClockSpec, urgency: str, calendars: CalendarBook | None, department: str | None
) -> Calendar:
    """The calendar a clock runs on for this urgency and department (24/7 without a book)."""
    if calendars is None:
        return _ALWAYS_BOOK.named("always")
    return calendars.resolve(spec.calendar_for(urgency), department)


def deadline(
    started_at: datetime,
    duration_s: float,
    paused: Sequence[Pause] = (),
    *,
    calendar: Calendar | None = None,
) -> datetime:
    """When a clock started at `started_at` with `duration_s` of running time runs out.

    Only working time of `calendar` (24/7 when None) outside pauses counts. Pauses may overlap
    or start before the clock did; an open pause (end None) that begins before the deadline
    raises ClockPaused. Exactly `duration_s` after the start is the deadline (not a second later).
    """
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    cal = calendar or _ALWAYS_BOOK.named("always")
    return add_business_seconds(cal, started_at, duration_s, paused)


def lateness_s(
    deadline_at: datetime,
    now: datetime,
    paused: Sequence[Pause] = (),
    *,
    calendar: Calendar | None = None,
) -> float:
    """Running seconds past `deadline_at` at `now` (negative: time left)."""
    cal = calendar or _ALWAYS_BOOK.named("always")
    return business_seconds_between(cal, deadline_at, now, paused)


def clocks_starting_in(defn: ProcessDefinition, state: str) -> tuple[ClockSpec, ...]:
    """The clocks that (re)start when a task enters `state`."""
    return tuple(spec for spec in defn.clocks if state in spec.starts_in)


def clocks_stopping_in(defn: ProcessDefinition, state: str) -> tuple[ClockSpec, ...]:
    """The clocks that stop when a task enters `state` (its stop states, or any final state)."""
    final = state in defn.final_states
    return tuple(spec for spec in defn.clocks if final or state in spec.stops_in)


def clocks_pausing_in(defn: ProcessDefinition, state: str) -> tuple[ClockSpec, ...]:
    """The clocks that stand still while a task is in `state` (held, waiting on the resident)."""
    if state in defn.final_states:
        return ()
    return tuple(spec for spec in defn.clocks if state in spec.paused_in)


def clock_plan(
    spec: ClockSpec,
    urgency: str,
    started_at: datetime,
    paused: Sequence[Pause] = (),
    *,
    calendar: Calendar | None = None,
    duration_s: float | None = None,
) -> list[PlannedTimer]:
    """Every timer of one clock run, earliest first: warning, breach, then escalation levels.

    The warning fires when `warn_before_s` of running time is left, level N of the escalation
    `after_s` of running time after the breach; pauses and closed hours move all of them. A
    timer behind an open pause is left out (not known yet). `duration_s` overrides the spec's
    duration (a deadline given at creation); a warning then needs more than warn_before_s.
    """
    total = spec.duration_s(urgency) if duration_s is None else duration_s
    offsets: list[tuple[str, int, float]] = []
    if spec.warn_before_s and total > spec.warn_before_s:
        offsets.append((WARN, 0, total - spec.warn_before_s))
    for step in spec.escalation:
        offsets.append((kind_of(step.level), step.level, total + step.delay_s(urgency)))
    plan: list[PlannedTimer] = []
    for kind, level, offset in offsets:
        try:
            due_at = deadline(started_at, offset, paused, calendar=calendar)
        except ClockPaused:
            break  # offsets grow: every later timer is behind the open pause too
        plan.append(PlannedTimer(spec.name, kind, level, due_at))
    return plan


def clock_deadlines(
    defn: ProcessDefinition,
    urgency: str,
    started_at: datetime,
    paused: Sequence[Pause] = (),
    *,
    starting_in: str | None = None,
    calendars: CalendarBook | None = None,
    department: str | None = None,
) -> dict[str, datetime]:
    """Deadline of each clock by name, e.g. {"respond": ..., "arrive": ..., "resolve": ...}.

    `starting_in` limits the result to the clocks that start in that state.
    """
    specs = defn.clocks if starting_in is None else clocks_starting_in(defn, starting_in)
    return {
        spec.name: deadline(
            started_at, spec.duration_s(urgency), paused,
            calendar=clock_calendar(spec, urgency, calendars, department),
        )
        for spec in specs
    }  # fmt: skip


def timer_plan(
    defn: ProcessDefinition,
    urgency: str,
    started_at: datetime,
    paused: Sequence[Pause] = (),
    *,
    starting_in: str | None = None,
    calendars: CalendarBook | None = None,
    department: str | None = None,
) -> list[tuple[str, str, datetime]]:
    """The timers to schedule: (clock, "warn" | "breach" | "escalateN", due_at), earliest first.

    Ties keep the definition's clock order, and a clock's warning before its breach before its
    escalations.
    """
    specs = defn.clocks if starting_in is None else clocks_starting_in(defn, starting_in)
    order = {spec.name: index for index, spec in enumerate(specs)}
    plan = [
        timer
        for spec in specs
        for timer in clock_plan(
            spec, urgency, started_at, paused,
            calendar=clock_calendar(spec, urgency, calendars, department),
        )
    ]  # fmt: skip
    plan.sort(key=lambda t: (t.due_at, order[t.clock], t.level))
    return [(t.clock, t.kind, t.due_at) for t in plan]


def rating_closes_at(defn: ProcessDefinition, completed_at: datetime) -> datetime:
    """When an unrated completed task closes (the close_unrated timer's due time)."""
    return require_aware("completed_at", completed_at) + timedelta(seconds=defn.rating_window_s)


def is_on_time(deadline_at: datetime, at: datetime) -> bool:
    """Done at `at` against `deadline_at`: exactly at the deadline still counts as on time."""
    return require_aware("at", at) <= require_aware("deadline_at", deadline_at)
