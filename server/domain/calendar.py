"""Business calendars for SLA clocks: working hours, lunch breaks, holidays and 调休 make-up days.

Pure maths in the business time zone (settings.tz_name, Asia/Shanghai): add N business seconds
to an instant, or count the business seconds between two instants, skipping pauses. Inputs must
be aware datetimes; results are aware UTC. A clock on the `always` calendar runs 24/7.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Pause = tuple[datetime, datetime | None]
Span = tuple[int, int]  # seconds after local midnight, [start, end); end may be 86400

ALWAYS = "always"  # the built-in 24/7 calendar: urgent work, security shifts
DEPARTMENT = "department"  # in a clock definition: the calendar of the task's department
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_S = 86400
MAX_SEARCH_DAYS = 3660  # a calendar with no working time in ten years is a configuration bug
_FAR = datetime(9999, 1, 1, tzinfo=UTC)
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_BOOK_KEYS = frozenset(
    {"assessment_department", "default_calendar", "departments", "holidays",
     "makeup_workdays", "calendars"}
)  # fmt: skip
_CALENDAR_KEYS = frozenset({"hours", "makeup_hours", "holidays", "description"})


class ClockPaused(ValueError):
    """The clock is paused with no end yet, so its deadline is not known until it resumes."""

    def __init__(self, paused_at: datetime, remaining_s: float) -> None:
        self.paused_at = paused_at
        self.remaining_s = remaining_s
        super().__init__(f"clock paused at {paused_at.isoformat()} with {remaining_s:.0f} s left")


class CalendarError(ValueError):
    """Calendar settings that cannot be used; `problems` lists every fault found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid SLA calendars:\n- " + "\n- ".join(self.problems))


def require_aware(name: str, value: datetime) -> datetime:
    """Return `value` in UTC; a naive datetime is a bug (STYLE.md: `*_at` are aware UTC)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Calendar:
    """When the clock runs: hours per weekday (Mon..Sun), minus holidays, plus make-up days."""

    name: str
    tz: ZoneInfo
    week: tuple[tuple[Span, ...], ...] = ((),) * 7
    makeup: tuple[Span, ...] = ()
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    always: bool = False

    @classmethod
    def around_the_clock(cls, tz: ZoneInfo, name: str = ALWAYS) -> Calendar:
        """24/7: every second counts (urgent work)."""
        return cls(name=name, tz=tz, always=True)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        """Working spans of a local date: a holiday has none, a make-up day has `makeup`."""
        if self.always:
            return ((0, DAY_S),)
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.makeup
        return self.week[day.weekday()]

    def is_working(self, at: datetime) -> bool:
        """True when `at` lies inside working hours."""
        local = require_aware("at", at).astimezone(self.tz)
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(a <= second < b for a, b in self.spans_on(local.date()))

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals from `start` on, in UTC, the first one clipped to `start`."""
        start = require_aware("start", start)
        if self.always:
            yield start, _FAR
            return
        day = start.astimezone(self.tz).date()
        idle = 0
        while True:
            spans = self.spans_on(day)
            idle = 0 if spans else idle + 1
            if idle > MAX_SEARCH_DAYS:
                raise ValueError(f"calendar {self.name!r} has no working time after {day}")
            for begin, end in _utc_spans(self, day):
                if end > start:
                    yield max(begin, start), end
            day += timedelta(days=1)

    def _instant(self, day: date, second: int) -> datetime:
        if second >= DAY_S:
            day, second = day + timedelta(days=1), second - DAY_S
        local = datetime.combine(day, time(second // 3600, second % 3600 // 60, second % 60))
        return local.replace(tzinfo=self.tz).astimezone(UTC)


@lru_cache(maxsize=4096)
def _utc_spans(calendar: Calendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """A day's working spans as UTC instants: every deadline computed walks the same few days
    (a new repair plans 15 timers), and the time zone arithmetic was most of that walk."""
    return tuple(
        (calendar._instant(day, a), calendar._instant(day, b)) for a, b in calendar.spans_on(day)
    )


def _merged_pauses(paused: Sequence[Pause]) -> list[tuple[datetime, datetime | None]]:
    spans: list[tuple[datetime, datetime | None]] = []
    for index, (start, end) in enumerate(paused):
        start_at = require_aware(f"paused[{index}] start", start)
        end_at = None if end is None else require_aware(f"paused[{index}] end", end)
        if end_at is not None and end_at < start_at:
            raise ValueError(f"paused[{index}] ends before it starts")
        spans.append((start_at, end_at))
    spans.sort(key=lambda span: span[0])
    merged: list[tuple[datetime, datetime | None]] = []
    for start_at, end_at in spans:
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None or start_at <= last_end:
                longer = None if last_end is None or end_at is None else max(last_end, end_at)
                merged[-1] = (last_start, longer)
                continue
        merged.append((start_at, end_at))
    return merged


def _running(
    calendar: Calendar, start: datetime, paused: Sequence[Pause]
) -> Iterator[tuple[datetime, datetime | None]]:
    """Intervals in which the clock runs: working time minus pauses. An interval with end None
    marks an open pause starting at its first element: nothing runs after it."""
    pauses = _merged_pauses(paused)
    index = 0
    for a, b in calendar.intervals(start):
        cursor = a
        while index < len(pauses):
            p_start, p_end = pauses[index]
            if p_end is not None and p_end <= cursor:
                index += 1
                continue
            if p_start >= b:
                break
            if p_start > cursor:
                yield cursor, p_start
            if p_end is None:
                yield max(p_start, start), None
                return
            cursor = max(cursor, p_end)
            if cursor >= b:
                break
            index += 1
        if cursor < b:
            yield cursor, b


def add_business_seconds(
    calendar: Calendar, start: datetime, seconds: float, paused: Sequence[Pause] = ()
) -> datetime:
    """The first instant at which `seconds` of running time have passed since `start`.

    Running time is working time outside pauses; the result may fall exactly on the end of a
    working span (a 2 h clock started at 10:00 runs out at 12:00, not after lunch). An open
    pause (end None) reached before that raises ClockPaused.
    """
    start = require_aware("start", start)
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    remaining = timedelta(seconds=seconds)
    if not remaining:
        return start
    for begin, end in _running(calendar, start, paused):
        if end is None:
            raise ClockPaused(begin, remaining.total_seconds())
        if remaining <= end - begin:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("unreachable: intervals never end")  # pragma: no cover


def business_seconds_between(
    calendar: Calendar, start: datetime, end: datetime, paused: Sequence[Pause] = ()
) -> float:
    """Running seconds from `start` to `end` (negative when `end` comes first)."""
    start, end = require_aware("start", start), require_aware("end", end)
    if end < start:
        return -business_seconds_between(calendar, end, start, paused)
    total = timedelta()
    for begin, stop in _running(calendar, start, paused):
        if begin >= end or stop is None:
            break  # past `end`, or an open pause: nothing runs from its start on
        total += min(stop, end) - begin
    return total.total_seconds()


# ---------------------------------------------------------------------------- the book


@dataclass(frozen=True)
class CalendarBook:
    """Every named calendar, which department works on which, and the assessment department."""

    calendars: Mapping[str, Calendar]
    departments: Mapping[str, str]
    default: str
    assessment_department: str
    tz: ZoneInfo

    def named(self, name: str) -> Calendar:
        """The calendar called `name`; KeyError names the known ones."""
        try:
            return self.calendars[name]
        except KeyError:
            raise KeyError(f"unknown calendar {name!r} (known: {sorted(self.calendars)})") from None

    def of_department(self, code: str | None) -> Calendar:
        """The calendar a department works on; the default one for unlisted departments."""
        return self.named(self.departments.get(code or "", self.default))

    def resolve(self, name: str, department: str | None) -> Calendar:
        """A clock's calendar name made concrete: `department` means the task's department."""
        return self.of_department(department) if name == DEPARTMENT else self.named(name)


def around_the_clock_book(tz: ZoneInfo | str = "Asia/Shanghai") -> CalendarBook:
    """A book in which every calendar is 24/7 (tests, and definitions without calendars)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    always = Calendar.around_the_clock(zone)
    return CalendarBook({ALWAYS: always}, {}, ALWAYS, "", zone)


def load_calendar_book(raw: Mapping[str, Any], tz_name: str) -> CalendarBook:
    """Validate config/sla.yaml (as a plain dict) and build the book; CalendarError lists faults."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise CalendarError([f"settings must be a mapping, got {type(raw).__name__}"])
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError([f"unknown time zone {tz_name!r}"]) from None
    for key in sorted(set(raw) - _BOOK_KEYS):
        problems.append(f"unknown key {key!r}")
    holidays = _dates(raw.get("holidays", []), "holidays", problems)
    workdays = _dates(raw.get("makeup_workdays", []), "makeup_workdays", problems)
    for day in sorted(holidays & workdays):
        problems.append(f"{day} is both a holiday and a make-up working day")
    for day in sorted(workdays):
        if day.weekday() < 5:
            problems.append(f"make-up working day {day} is not a weekend day")

    calendars: dict[str, Calendar] = {ALWAYS: Calendar.around_the_clock(tz)}
    entries = raw.get("calendars", {})
    if not isinstance(entries, Mapping):
        problems.append("calendars must map names to calendars")
        entries = {}
    for name, entry in entries.items():
        where = f"calendar {name!r}"
        if not isinstance(name, str) or not _NAME.match(name) or name in (ALWAYS, DEPARTMENT):
            problems.append(f"{where}: name must be lower_snake_case and not always/department")
            continue
        calendar = _calendar(name, entry, tz, holidays, workdays, where, problems)
        if calendar is not None:
            calendars[name] = calendar

    default = raw.get("default_calendar", ALWAYS)
    if default not in calendars:
        problems.append(f"default_calendar {default!r} is not a calendar")
    departments = raw.get("departments", {})
    if not isinstance(departments, Mapping):
        problems.append("departments must map department codes to calendar names")
        departments = {}
    for code, name in departments.items():
        if name not in calendars:
            problems.append(f"department {code!r}: unknown calendar {name!r}")
    assessment = raw.get("assessment_department", "")
    if not isinstance(assessment, str):
        problems.append("assessment_department must be a department code")
        assessment = ""
    if problems:
        raise CalendarError(problems)
    return CalendarBook(
        calendars=calendars,
        departments={str(k): str(v) for k, v in departments.items()},
        default=str(default),
        assessment_department=assessment,
        tz=tz,
    )


def _dates(value: Any, where: str, problems: list[str]) -> frozenset[date]:
    if not isinstance(value, list):
        problems.append(f"{where} must be a list of dates")
        return frozenset()
    days: set[date] = set()
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(str(item)))
        except ValueError:
            problems.append(f"{where}: {item!r} is not a date (YYYY-MM-DD)")
    return frozenset(days)


def _calendar(
    name: str,
    entry: Any,
    tz: ZoneInfo,
    holidays: frozenset[date],
    workdays: frozenset[date],
    where: str,
    problems: list[str],
) -> Calendar | None:
    if not isinstance(entry, Mapping):
        problems.append(f"{where} must be a mapping with hours")
        return None
    for key in sorted(set(entry) - _CALENDAR_KEYS):
        problems.append(f"{where}: unknown key {key!r}")
    hours = entry.get("hours")
    if not isinstance(hours, Mapping) or not hours:
        problems.append(f"{where}: hours must map weekdays (mon, mon-fri, ...) to spans")
        return None
    week: list[tuple[Span, ...]] = [()] * 7
    for days, spans in hours.items():
        indexes = _weekdays(str(days))
        if indexes is None:
            problems.append(f"{where}: {days!r} is not a weekday or range such as mon-fri")
            continue
        parsed = _spans(spans, f"{where} {days}", problems)
        for index in indexes:
            if week[index]:
                problems.append(f"{where}: {WEEKDAYS[index]} is given twice")
            week[index] = parsed
    if not any(week):
        problems.append(f"{where}: no working hours in the week")
    observes = entry.get("holidays", True)
    if not isinstance(observes, bool):
        problems.append(f"{where}: holidays must be true or false")
        observes = True
    makeup_raw = entry.get("makeup_hours")
    weekday_hours = next((spans for spans in week[:5] if spans), ())
    makeup = weekday_hours if makeup_raw is None else _spans(makeup_raw, where, problems)
    return Calendar(
        name=name,
        tz=tz,
        week=tuple(week),
        makeup=makeup,
        holidays=holidays if observes else frozenset(),
        workdays=workdays if observes else frozenset(),
    )


def _weekdays(text: str) -> list[int] | None:
    first, _, last = text.strip().lower().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        return None
    a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    return list(range(a, b + 1)) if a <= b else None


def _spans(value: Any, where: str, problems: list[str]) -> tuple[Span, ...]:
    if not isinstance(value, list):
        problems.append(f"{where}: spans must be a list such as ['08:30-12:00', '13:30-17:30']")
        return ()
    spans: list[Span] = []
    for item in value:
        match = _SPAN.match(str(item).strip())
        if not match:
            problems.append(f"{where}: {item!r} is not HH:MM-HH:MM")
            continue
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        a, b = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if h1 > 23 or m1 > 59 or m2 > 59 or b > DAY_S or b <= a:
            problems.append(f"{where}: {item!r} must end after it starts, within one day")
            continue
        spans.append((a, b))
    spans.sort()
    for (_, end), (start, _) in pairwise(spans):
        if start < end:
            problems.append(f"{where}: spans overlap")
            break
    return tuple(spans)
