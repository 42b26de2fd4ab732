"""KPI formulas (article section 2: 完成率, 及时率, 优秀率, 返工率, mean times), pure.

Two steps, so the same formula serves one task list in memory and a million rows in SQL:
`task_facts` turns one task's events into a `TaskFacts` row (what the reporting table stores),
`totals_of` adds facts up into additive `Totals` (what SQL's SUM/COUNT return), and `kpis`
divides. A ratio or mean with an empty denominator is None ("no data"), never 0.
docs/kpi.md defines every figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

PERIODS = ("day", "week", "month", "year", "custom")
EXCELLENT_MIN = 4  # a score of 4 or 5 is excellent (优秀)
MAX_CUSTOM_DAYS = 3660


class PeriodError(ValueError):
    """A period or date the caller typed that we cannot read."""


# ---------------------------------------------------------------------------- facts per task


@dataclass(frozen=True)
class Event:
    """What the KPIs read from one TaskEvent row."""

    action: str
    from_state: str
    to_state: str
    at: datetime
    actor_id: int | None = None
    data: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Milestones:
    """Where a process's phases end, read from its definition (states, not transition names)."""

    respond: frozenset[str]  # stop states of the respond clock (accepted, in_progress)
    arrive: frozenset[str]  # stop states of the arrive clock (on_site)
    done: frozenset[str]  # completed and the final states reached from it (closed)
    dropped: frozenset[str]  # final states that are not done (cancelled, rejected)
    paused: frozenset[str]  # states where SLA clocks stand still (held_for_payment)
    completed: str = "completed"


@dataclass(frozen=True)
class TaskFacts:
    """One task's KPI facts: the reporting table's row, recomputed on every transition."""

    counted: bool  # not cancelled or rejected
    completed: bool  # in a done state now (a reopened task is not)
    ever_completed: bool
    handler_id: int | None  # who the task counts for: its last completer, else its assignee
    resolved_on_time: bool | None  # completed and a resolve deadline known
    due_at: datetime | None  # open tasks: the resolve deadline (late once it passes)
    checked_in_on_time: bool | None  # first check-in; None without one or without a deadline
    response_s: int | None
    arrival_s: int | None
    resolution_s: int | None
    held_s: int
    score: int | None
    excellent: bool | None  # None: neither rated nor marked
    reworked: bool  # a manager or lead ordered rework (event marked kpi=rework)
    reopened: bool  # left a done state for an open one (rework or a low rating)


def _held_before(intervals: Sequence[tuple[datetime, datetime | None]], until: datetime) -> float:
    total = 0.0
    for start, end in intervals:
        stop = min(end, until) if end is not None else until
        if stop > start:
            total += (stop - start).total_seconds()
    return total


def task_facts(
    *,
    created_at: datetime,
    state: str,
    events: Sequence[Event],
    milestones: Milestones,
    resolve_by: datetime | None,
    score: int | None,
    assignee_id: int | None,
) -> TaskFacts:
    """A task's facts from its events (in order): held time is cut out of every duration."""
    moves = [e for e in events if e.from_state != e.to_state]
    held: list[tuple[datetime, datetime | None]] = []
    for e in moves:
        if held and held[-1][1] is None and e.to_state not in milestones.paused:
            held[-1] = (held[-1][0], e.at)
        if e.to_state in milestones.paused and (not held or held[-1][1] is not None):
            held.append((e.at, None))

    def net(at: datetime | None) -> int | None:
        if at is None:
            return None
        return max(0, round((at - created_at).total_seconds() - _held_before(held, at)))

    first_response = next((e for e in moves if e.to_state in milestones.respond), None)
    first_arrival = next((e for e in moves if e.to_state in milestones.arrive), None)
    completions = [e for e in moves if e.to_state == milestones.completed]
    last_completion = completions[-1] if completions else None
    completed = state in milestones.done and last_completion is not None
    counted = state not in milestones.dropped
    late = first_arrival.data.get("late") if first_arrival and first_arrival.data else None
    marked = [e.data["excellent"] for e in events if e.data and "excellent" in e.data]
    excellent: bool | None = None
    if score is not None or marked:
        excellent = (score is not None and score >= EXCELLENT_MIN) or any(marked)
    on_time = None
    if completed and resolve_by is not None and last_completion is not None:
        on_time = last_completion.at <= resolve_by
    return TaskFacts(
        counted=counted,
        completed=completed,
        ever_completed=bool(completions),
        handler_id=last_completion.actor_id if last_completion else assignee_id,
        resolved_on_time=on_time,
        due_at=resolve_by if counted and not completed else None,
        checked_in_on_time=None if late is None else not late,
        response_s=net(first_response.at if first_response else None),
        arrival_s=net(first_arrival.at if first_arrival else None),
        resolution_s=net(last_completion.at) if completed and last_completion else None,
        held_s=round(_held_before(held, events[-1].at if events else created_at)),
        score=score,
        excellent=excellent,
        reworked=any(e.data and e.data.get("kpi") == "rework" for e in events),
        reopened=any(
            e.from_state in milestones.done and e.to_state not in milestones.done
            for e in moves
            if e.to_state not in milestones.dropped
        ),
    )


# ---------------------------------------------------------------------------- totals and KPIs


@dataclass(frozen=True)
class Totals:
    """Additive sums over counted tasks (SQL computes the same with SUM, see actions/kpi.py)."""

    tasks: int = 0
    completed: int = 0
    ever_completed: int = 0
    on_time: int = 0
    timed: int = 0  # completed with a deadline
    overdue_open: int = 0  # open and past the deadline at `now`
    checkins: int = 0
    checkins_on_time: int = 0
    rated: int = 0  # rated or marked
    excellent: int = 0
    reworked: int = 0
    reopened: int = 0
    response_n: int = 0
    response_sum: int = 0
    arrival_n: int = 0
    arrival_sum: int = 0
    resolution_n: int = 0
    resolution_sum: int = 0
    score_n: int = 0
    score_sum: int = 0
    cost_n: int = 0
    cost_sum: float = 0.0

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Totals:
        """Totals from a SQL row (None for SUM over no rows becomes 0)."""
        return cls(**{f.name: (row.get(f.name) or 0) for f in fields(cls)})


def totals_of(
    facts: Iterable[TaskFacts], now: datetime, costs: Iterable[float | None] = ()
) -> Totals:
    """Add facts up; cancelled tasks count nowhere."""
    n: dict[str, Any] = {f.name: 0 for f in fields(Totals)}
    for f in facts:
        if not f.counted:
            continue
        n["tasks"] += 1
        n["completed"] += f.completed
        n["ever_completed"] += f.ever_completed
        n["on_time"] += f.resolved_on_time is True
        n["timed"] += f.resolved_on_time is not None
        n["overdue_open"] += f.due_at is not None and f.due_at < now
        n["checkins"] += f.checked_in_on_time is not None
        n["checkins_on_time"] += f.checked_in_on_time is True
        n["rated"] += f.excellent is not None
        n["excellent"] += f.excellent is True
        n["reworked"] += f.reworked
        n["reopened"] += f.reopened
        for name in ("response", "arrival", "resolution", "score"):
            value = getattr(f, "score" if name == "score" else f"{name}_s")
            if value is not None:
                n[f"{name}_n"] += 1
                n[f"{name}_sum"] += value
    for cost in costs:
        if cost is not None:
            n["cost_n"] += 1
            n["cost_sum"] += cost
    return Totals(**n)


@dataclass(frozen=True)
class Kpis:
    """The figures shown to people; None = no tasks to judge by."""

    tasks: int
    completed: int
    completion_ratio: float | None
    timely_ratio: float | None
    checkin_on_time_ratio: float | None
    excellence_rate: float | None
    rework_rate: float | None
    reopen_rate: float | None
    mean_response_s: float | None
    mean_arrival_s: float | None
    mean_resolution_s: float | None
    mean_score: float | None
    cost: float | None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else round(numerator / denominator, 4)


def kpis(t: Totals) -> Kpis:
    """Every KPI from totals (docs/kpi.md, "Formulas")."""
    return Kpis(
        tasks=t.tasks,
        completed=t.completed,
        completion_ratio=ratio(t.completed, t.tasks),
        timely_ratio=ratio(t.on_time, t.timed + t.overdue_open),
        checkin_on_time_ratio=ratio(t.checkins_on_time, t.checkins),
        excellence_rate=ratio(t.excellent, t.rated),
        rework_rate=ratio(t.reworked, t.ever_completed),
        reopen_rate=ratio(t.reopened, t.ever_completed),
        mean_response_s=ratio(t.response_sum, t.response_n),
        mean_arrival_s=ratio(t.arrival_sum, t.arrival_n),
        mean_resolution_s=ratio(t.resolution_sum, t.resolution_n),
        mean_score=ratio(t.score_sum, t.score_n),
        cost=round(t.cost_sum, 2) if t.cost_n else None,
    )


# ---------------------------------------------------------------------------- periods


def local_day(at: datetime, tz: ZoneInfo) -> date:
    """The business-calendar day of an instant (Asia/Shanghai by default)."""
    return at.astimezone(tz).date()


def week_start(day: date) -> date:
    """Monday of the ISO week (Chinese weeks start on Monday)."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"not a date (YYYY-MM-DD): {text!r}") from None


def period_range(period: str, at: str, today: date) -> tuple[date, date]:
    """First and last day (inclusive) of the period named by `at`.

    day `2026-11-26`; week: any day of it or `2026-W48`; month `2026-11`; year `2026`;
    custom `2026-11-01..2026-11-15`. An empty `at` means the period containing `today`.
    """
    at = at.strip()
    if period == "day":
        day = _parse_day(at) if at else today
        return day, day
    if period == "week":
        iso = re.fullmatch(r"(\d{4})-W(\d{1,2})", at)
        if iso:
            try:
                first = date.fromisocalendar(int(iso[1]), int(iso[2]), 1)
            except ValueError:
                raise PeriodError(f"no such week: {at!r}") from None
        else:
            first = week_start(_parse_day(at) if at else today)
        return first, first + timedelta(days=6)
    if period == "month":
        if not at:
            first = month_start(today)
        elif re.fullmatch(r"\d{4}-\d{1,2}", at):
            year, month = (int(x) for x in at.split("-"))
            if not 1 <= month <= 12:
                raise PeriodError(f"no such month: {at!r}")
            first = date(year, month, 1)
        else:
            raise PeriodError(f"a month is YYYY-MM: {at!r}")
        return first, _month_end(first)
    if period == "year":
        if at and not re.fullmatch(r"\d{4}", at):
            raise PeriodError(f"a year is YYYY: {at!r}")
        year = int(at) if at else today.year
        return date(year, 1, 1), date(year, 12, 31)
    if period == "custom":
        start, sep, end = at.partition("..")
        if not sep:
            raise PeriodError("a custom period is FROM..TO, e.g. 2026-11-01..2026-11-15")
        first, last = _parse_day(start), _parse_day(end)
        if last < first or (last - first).days > MAX_CUSTOM_DAYS:
            raise PeriodError(f"{at!r}: TO must follow FROM, at most {MAX_CUSTOM_DAYS} days")
        return first, last
    raise PeriodError(f"period must be one of {', '.join(PERIODS)}")


def previous_period(period: str, today: date) -> str:
    """The `at` of the period before the one containing today (上周, 上月, 去年)."""
    first, _ = period_range(period, "", today)
    before = first - timedelta(days=1)
    if period == "month":
        return f"{before.year:04d}-{before.month:02d}"
    if period == "year":
        return f"{before.year:04d}"
    return before.isoformat()
