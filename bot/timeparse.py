"""Preferred visit times in Chinese ("tomorrow after 3 pm", "Saturday morning") -> a time window.

Pure: the caller passes `now`; windows are aware datetimes in `now`'s time zone. Every word
comes from bot/lexicon/time.yaml, where the window boundaries are set too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

from bot import lexicon

Span = tuple[int, int]
Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class VisitTime:
    """A visit-time phrase found in a message: its words, its window, where it sits."""

    phrase: str  # the words as written in the message
    start: datetime | None  # None when the phrase cannot be placed (past, or any time)
    end: datetime | None
    any_time: bool  # "any time": the resident sets no constraint
    spans: tuple[Span, ...]  # positions in the (normalized) text, for the description


@dataclass(frozen=True)
class _Period:
    start: time
    end: time
    pm: bool
    noon: bool


@dataclass(frozen=True)
class _TimeVocab:
    day_start: time
    day_end: time
    latest: time
    slot: timedelta
    asap: timedelta
    bare_pm_until: int
    days: dict[str, int]
    day_periods: dict[str, tuple[int, str]]
    periods: dict[str, _Period]
    weekdays: dict[str, int]
    week_re: re.Pattern[str]
    week_shifts: dict[str, int]
    weekend: tuple[str, ...]
    workdays: tuple[str, ...]
    clock_re: re.Pattern[str]
    range_re: re.Pattern[str]
    half_hour: frozenset[str]
    quarter_hour: frozenset[str]
    after: frozenset[str]
    before: frozenset[str]
    relative_re: re.Pattern[str]
    within: frozenset[str]
    half_word: str
    month_day_re: re.Pattern[str]
    any_time: tuple[str, ...]
    asap_words: tuple[str, ...]
    visit_cues: tuple[str, ...]


def _alt(words: list[str] | tuple[str, ...]) -> str:
    return "|".join(re.escape(str(w)) for w in sorted(words, key=lambda w: -len(str(w))))


def _clock(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


@cache
def _tv() -> _TimeVocab:
    t = lexicon.load("time")
    periods = {
        str(name): _Period(
            _clock(p["from"]), _clock(p["to"]), bool(p.get("pm")), bool(p.get("noon"))
        )
        for name, p in t["periods"].items()
    }
    weekdays = {str(k): int(v) for k, v in t["weekdays"].items()}
    shifts = {str(k): int(v) for k, v in t["week_shifts"].items()}
    relations = [*t["after"], *t["before"]]
    fractions = [*t["half_hour"], *t["quarter_hour"]]
    within = [*t["within"], *t["after"]]
    return _TimeVocab(
        day_start=_clock(t["day_start"]),
        day_end=_clock(t["day_end"]),
        latest=_clock(t["latest"]),
        slot=timedelta(minutes=int(t["slot_minutes"])),
        asap=timedelta(minutes=int(t["asap_minutes"])),
        bare_pm_until=int(t["bare_pm_until"]),
        days={str(k): int(v) for k, v in t["days"].items()},
        day_periods={str(k): (int(v[0]), str(v[1])) for k, v in t["day_periods"].items()},
        periods=periods,
        weekdays=weekdays,
        week_re=re.compile(
            rf"({_alt(list(shifts))})?(?:{_alt(t['week_prefixes'])})({_alt(list(weekdays))})?"
        ),
        week_shifts=shifts,
        weekend=tuple(str(w) for w in t["weekend"]),
        workdays=tuple(str(w) for w in t["workdays"]),
        clock_re=re.compile(
            rf"(?<![\d.])(\d{{1,2}})(?:(?:{_alt(t['clock_markers'])})"
            rf"(?:({_alt(fractions)})|(\d{{1,2}})(?:{_alt(t['minute_markers'])})?)?|:(\d{{2}}))"
            rf"({_alt(relations)})?"
        ),
        range_re=re.compile(
            rf"(?<![\d.])(\d{{1,2}})(?:{_alt(t['clock_markers'])})?({_alt(t['half_hour'])})?"
            rf"(?:{_alt(t['range_words'])})(\d{{1,2}})(?:{_alt(t['clock_markers'])})({_alt(t['half_hour'])})?"
        ),
        half_hour=frozenset(str(w) for w in t["half_hour"]),
        quarter_hour=frozenset(str(w) for w in t["quarter_hour"]),
        after=frozenset(str(w) for w in t["after"]),
        before=frozenset(str(w) for w in t["before"]),
        relative_re=re.compile(
            rf"(\d{{1,2}}|{re.escape(str(t['half_word']))})(?:{_alt(t['hour_words'])})({_alt(within)})"
        ),
        within=frozenset(str(w) for w in t["within"]),
        half_word=str(t["half_word"]),
        month_day_re=re.compile(
            rf"(\d{{1,2}})(?:{_alt(t['month_markers'])})(\d{{1,2}})(?:{_alt(t['day_markers'])})"
        ),
        any_time=tuple(sorted((str(w) for w in t["any_time"]), key=len, reverse=True)),
        asap_words=tuple(sorted((str(w) for w in t["asap"]), key=len, reverse=True)),
        visit_cues=tuple(str(w) for w in t["visit_cues"]),
    )


def _first(text: str, words: tuple[str, ...] | list[str]) -> tuple[str, int] | None:
    best: tuple[str, int] | None = None
    for word in words:
        at = text.find(word)
        if at != -1 and (best is None or (at, -len(word)) < (best[1], -len(best[0]))):
            best = (word, at)
    return best


@dataclass
class _Parts:
    """The pieces of one time phrase, each with the span it came from."""

    spans: list[Span]
    day_offset: int | None = None
    weekday: int | None = None
    week_shift: int | None = None
    whole_week: bool = False
    weekend: bool = False
    workday: bool = False
    month_day: tuple[int, int] | None = None
    period: _Period | None = None
    hour: int | None = None
    minute: int = 0
    until_hour: int | None = None  # "from 2 to 4": the window ends at the second time
    until_minute: int = 0
    relation: str | None = None  # "after" | "before"


def _overlaps(start: int, end: int, spans: list[Span]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _find_parts(text: str, tv: _TimeVocab) -> _Parts:
    parts = _Parts(spans=[])
    day_period = _first(text, list(tv.day_periods))
    if day_period:
        word, at = day_period
        offset, period_name = tv.day_periods[word]
        parts.day_offset, parts.period = offset, tv.periods[period_name]
        parts.spans.append((at, at + len(word)))
    if parts.day_offset is None:
        for words, flag in ((tv.weekend, "weekend"), (tv.workdays, "workday")):
            hit = _first(text, words)
            if hit:
                setattr(parts, flag, True)
                parts.spans.append((hit[1], hit[1] + len(hit[0])))
                break
    if parts.day_offset is None and not (parts.weekend or parts.workday):
        day = _first(text, list(tv.days))
        week = next(
            (m for m in tv.week_re.finditer(text) if m.group(2) or m.group(1)),
            None,
        )
        month_day = tv.month_day_re.search(text)
        candidates = [
            c
            for c in (day and day[1], week and week.start(), month_day and month_day.start())
            if c is not None
        ]
        first = min(candidates) if candidates else None
        if day and day[1] == first:
            parts.day_offset = tv.days[day[0]]
            parts.spans.append((day[1], day[1] + len(day[0])))
        elif week and week.start() == first:
            parts.week_shift = tv.week_shifts[week.group(1)] if week.group(1) else None
            if week.group(2):
                parts.weekday = tv.weekdays[week.group(2)]
            else:
                parts.whole_week = True
            parts.spans.append(week.span())
        elif month_day and month_day.start() == first:
            parts.month_day = (int(month_day.group(1)), int(month_day.group(2)))
            parts.spans.append(month_day.span())
    if parts.period is None:
        hit = _first(text, [p for p in tv.periods])
        while hit and _overlaps(hit[1], hit[1] + len(hit[0]), parts.spans):
            rest = [p for p in tv.periods if p != hit[0]]
            hit = _first(text, rest) if rest else None
        if hit:
            parts.period = tv.periods[hit[0]]
            parts.spans.append((hit[1], hit[1] + len(hit[0])))
    span = tv.range_re.search(text)
    if span and not _overlaps(*span.span(), parts.spans):
        first, last = int(span.group(1)), int(span.group(3))
        if first <= 24 and last <= 24:
            parts.hour, parts.minute = first, 30 if span.group(2) else 0
            parts.until_hour, parts.until_minute = last, 30 if span.group(4) else 0
            parts.spans.append(span.span())
            return parts
    for clock in tv.clock_re.finditer(text):
        if _overlaps(*clock.span(), parts.spans):
            continue
        hour = int(clock.group(1))
        minute = int(clock.group(3) or clock.group(4) or 0)
        if clock.group(2):
            minute = 30 if clock.group(2) in tv.half_hour else 15
        if hour > 24 or minute > 59:
            continue
        parts.hour, parts.minute = hour, minute
        relation = clock.group(5)
        if relation:
            parts.relation = "after" if relation in tv.after else "before"
        parts.spans.append(clock.span())
        break
    return parts


def _hour_of_day(parts: _Parts, tv: _TimeVocab, hour: int | None = None) -> int:
    hour = (parts.hour or 0) if hour is None else hour
    period = parts.period
    if period is not None and period.pm and hour < 12:
        return hour + 12
    if period is not None and period.noon and 1 <= hour <= 3:
        return hour + 12
    if period is None and 1 <= hour <= tv.bare_pm_until:
        return hour + 12  # nobody books a repair for 3 a.m.: a bare "3 o'clock" is 15:00
    return min(hour, 23)


def _at(day: date, moment: time, now: datetime) -> datetime:
    return datetime.combine(day, moment, tzinfo=now.tzinfo)


def _window(day: date, parts: _Parts, now: datetime, tv: _TimeVocab) -> Window:
    period = parts.period
    if parts.hour is not None:
        moment = _at(day, time(_hour_of_day(parts, tv), parts.minute), now)
        if parts.until_hour is not None:
            until_hour = _hour_of_day(parts, tv, parts.until_hour)
            if until_hour < moment.hour:
                until_hour = min(until_hour + 12, 23)  # "11 to 1" = 11:00-13:00
            until = _at(day, time(until_hour, parts.until_minute), now)
            return moment, max(until, moment + tv.slot / 2)
        if parts.relation == "after":
            limit = period.end if period is not None and period.end > moment.time() else tv.latest
            return moment, max(_at(day, limit, now), moment + tv.slot)
        if parts.relation == "before":
            opening = period.start if period is not None else tv.day_start
            return min(_at(day, opening, now), moment - tv.slot), moment
        return moment, moment + tv.slot
    if period is not None:
        return _at(day, period.start, now), _at(day, period.end, now)
    return _at(day, tv.day_start, now), _at(day, tv.day_end, now)


def _resolve(parts: _Parts, now: datetime, tv: _TimeVocab) -> Window | None:
    today = now.date()
    monday = today - timedelta(days=today.weekday())
    if parts.whole_week or parts.weekend:
        if parts.whole_week:
            first = monday + timedelta(days=7 * (parts.week_shift or 0))
            last = first + timedelta(days=6)
        else:
            first = monday + timedelta(days=5)
            last = first + timedelta(days=1)
            if _at(last, tv.day_end, now) <= now:
                first, last = first + timedelta(days=7), last + timedelta(days=7)
        start, _ = _window(first, parts, now, tv)
        _, end = _window(last, parts, now, tv)
        return _clip(start, end, now)
    if parts.day_offset is not None:
        start, end = _window(today + timedelta(days=parts.day_offset), parts, now, tv)
        return _clip(start, end, now)
    if parts.month_day is not None:
        month, day_of_month = parts.month_day
        try:
            day = date(today.year, month, day_of_month)
            if _window(day, parts, now, tv)[1] <= now:
                day = date(today.year + 1, month, day_of_month)
        except ValueError:
            return None
        return _clip(*_window(day, parts, now, tv), now)
    if parts.weekday is not None and parts.week_shift is not None:
        day = monday + timedelta(days=7 * parts.week_shift + parts.weekday)
        return _clip(*_window(day, parts, now, tv), now)
    for ahead in range(0, 15):
        day = today + timedelta(days=ahead)
        if parts.weekday is not None and day.weekday() != parts.weekday:
            continue
        if parts.workday and day.weekday() >= 5:
            continue
        start, end = _window(day, parts, now, tv)
        if end > now:
            return _clip(start, end, now)
    return None


def _clip(start: datetime, end: datetime, now: datetime) -> Window | None:
    if end <= now:
        return None  # "this morning" said in the afternoon: ask again rather than guess
    return max(start, now), end


def _clause(text: str, at: int) -> str:
    start = text.rfind(",", 0, at) + 1
    end = text.find(",", at)
    return text[start : end if end != -1 else len(text)]


def find_visit_time(
    text: str, now: datetime | None, *, require_cue: bool = False
) -> VisitTime | None:
    """The visit-time phrase in already-normalized text (bot.nlu.normalize), with its window
    when `now` is given; None when the text names no time. With `require_cue` (free text, not
    an answer to "when?") the phrase's clause must also speak of a visit (come, at home...),
    so "too noisy to rest at noon" is not read as "come at noon"."""
    found = _find_visit_time(text, now)
    if found is None or not require_cue:
        return found
    clause = _clause(text, found.spans[0][0])
    return found if any(cue in clause for cue in _tv().visit_cues) else None


def _find_visit_time(text: str, now: datetime | None) -> VisitTime | None:
    tv = _tv()
    any_time = _first(text, tv.any_time)
    if any_time:
        word, at = any_time
        return VisitTime(word, None, None, True, ((at, at + len(word)),))
    asap = _first(text, tv.asap_words)
    if asap:
        word, at = asap
        start, end = (now, now + tv.asap) if now is not None else (None, None)
        return VisitTime(word, start, end, False, ((at, at + len(word)),))
    relative = tv.relative_re.search(text)
    if relative:
        amount = relative.group(1)
        span = timedelta(hours=0.5 if amount == tv.half_word else int(amount))
        window: tuple[datetime | None, datetime | None] = (None, None)
        if now is not None:
            within = relative.group(2) in tv.within
            window = (now, now + span) if within else (now + span, now + span + tv.slot)
        return VisitTime(relative.group(0), window[0], window[1], False, (relative.span(),))
    parts = _find_parts(text, tv)
    if not parts.spans:
        return None
    spans = tuple(sorted(parts.spans))
    phrase = "".join(text[s:e] for s, e in spans)
    resolved = _resolve(parts, now, tv) if now is not None else None
    start, end = resolved if resolved else (None, None)
    return VisitTime(phrase, start, end, False, spans)


def parse_visit_time(text: str, now: datetime) -> tuple[datetime, datetime] | None:
    """The preferred visit window in a message, in `now`'s time zone. None when there is no
    usable time: none named, one already past, or "any time" -- tell those apart
    with find_visit_time(...).any_time."""
    from bot.nlu import normalize  # nlu imports this module; import at call time

    found = find_visit_time(normalize(text), now)
    if found is None or found.start is None or found.end is None:
        return None
    return found.start, found.end


# --------------------------------------------------------------------------- deadlines


@dataclass(frozen=True)
class Deadline:
    """A deadline phrase in a manager's instruction ("明天中午前"): its words, its instant."""

    phrase: str
    at: datetime
    spans: tuple[Span, ...]  # positions in the (normalized) text, to cut from the instruction


@dataclass(frozen=True)
class _DeadlineVocab:
    day_end: time
    periods: dict[str, time]
    moments: dict[str, time]
    within_re: re.Pattern[str]
    units: dict[str, int]
    numerals: dict[str, int]
    month_end: tuple[str, ...]
    tail_re: re.Pattern[str]


@cache
def _dv() -> _DeadlineVocab:
    t = lexicon.load("time")
    units = {str(k): int(v) for k, v in t["deadline_units"].items()}
    numerals = {str(k): int(v) for k, v in lexicon.load("numerals")["digits"].items()}
    amount = rf"\d{{1,3}}|{re.escape(str(t['half_word']))}|[{''.join(numerals)}]"
    return _DeadlineVocab(
        day_end=_clock(t["deadline_day_end"]),
        periods={str(k): _clock(v) for k, v in t["deadline_periods"].items()},
        moments={str(k): _clock(v) for k, v in t["deadline_moments"].items()},
        within_re=re.compile(rf"({amount})({_alt(list(units))})({_alt(t['within'])})"),
        units=units,
        numerals=numerals,
        month_end=tuple(str(w) for w in t["month_end"]),
        # "前" / "之前" / "以内" right after the phrase belongs to it ("中午前", "今天之内")
        tail_re=re.compile(rf"(?:{_alt([*t['before'], *t['within']])})"),
    )


def find_deadline(text: str, now: datetime) -> Deadline | None:
    """The deadline in already-normalized text (bot.nlu.normalize), as an instant in `now`'s
    time zone; None when the text names none or names one already past."""
    dv, tv = _dv(), _tv()
    within = dv.within_re.search(text)
    if within:
        raw = within.group(1)
        amount = 0.5 if raw == tv.half_word else float(dv.numerals.get(raw) or int(raw))
        at = now + timedelta(seconds=amount * dv.units[within.group(2)])
        return Deadline(within.group(0), at, (within.span(),))
    end_word = _first(text, dv.month_end)
    if end_word:
        word, start = end_word
        first_next = (now.date().replace(day=1) + timedelta(days=32)).replace(day=1)
        at = _at(first_next - timedelta(days=1), dv.day_end, now)
        return _deadline(text, [(start, start + len(word))], at, now, dv)
    parts = _find_parts(text, tv)
    moment: time | None = None
    moment_hit = _first(text, list(dv.moments))
    if moment_hit and not _overlaps(moment_hit[1], moment_hit[1] + len(moment_hit[0]), parts.spans):
        parts.spans.append((moment_hit[1], moment_hit[1] + len(moment_hit[0])))
        moment = dv.moments[moment_hit[0]]
    if not parts.spans:
        return None
    if parts.hour is not None:
        moment = time(_hour_of_day(parts, tv), parts.minute)
    elif parts.period is not None:
        named = _first(text, [w for w in tv.periods if w in dv.periods])
        day_named = _first(text, list(tv.day_periods))
        if day_named:
            named = (tv.day_periods[day_named[0]][1], day_named[1])
        moment = dv.periods[named[0]] if named else parts.period.end
    day = _deadline_day(parts, now, tv)
    if day is None:
        return None
    at = _at(day, moment or dv.day_end, now)
    explicit_day = (
        parts.day_offset is not None or parts.weekday is not None or parts.month_day is not None
    )
    if at <= now and not explicit_day:
        at += timedelta(days=1)  # "中午前" said after noon: tomorrow's noon
    return _deadline(text, parts.spans, at, now, dv)


def _deadline_day(parts: _Parts, now: datetime, tv: _TimeVocab) -> date | None:
    today = now.date()
    if parts.day_offset is not None:
        return today + timedelta(days=parts.day_offset)
    if parts.month_day is not None:
        try:
            day = date(today.year, *parts.month_day)
        except ValueError:
            return None
        return day if day >= today else day.replace(year=today.year + 1)
    if parts.weekday is not None:
        if parts.week_shift is not None:
            monday = today - timedelta(days=today.weekday())
            return monday + timedelta(days=7 * parts.week_shift + parts.weekday)
        return today + timedelta(days=(parts.weekday - today.weekday()) % 7)
    if parts.weekend or parts.whole_week:
        return today + timedelta(days=(4 - today.weekday()) % 7)  # by Friday
    return today


def _deadline(
    text: str, spans: list[Span], at: datetime, now: datetime, dv: _DeadlineVocab
) -> Deadline | None:
    if at <= now:
        return None
    spans = sorted(spans)
    tail = dv.tail_re.match(text, spans[-1][1])
    if tail:
        spans.append(tail.span())
    phrase = "".join(text[s:e] for s, e in spans)
    return Deadline(phrase, at, tuple(spans))
