"""Golden SLA cases: business calendars (config/sla.yaml), 2026 holidays and 调休, lunch breaks,
weekends, overnight, pauses, warning vs breach, urgent 24/7 and escalation order.

Every expected instant is worked out by hand in Asia/Shanghai wall time (the comment says how);
office hours are 08:30-12:00 and 13:30-17:30 on working days, 7.5 h (27000 s) a day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.calendars import SLA_FILE, load_calendar_file
from server.domain.calendar import (
    ClockPaused,
    add_business_seconds,
    business_seconds_between,
)
from server.domain.process import ProcessDefinition, load_definition
from server.domain.sla import clock_deadlines, clock_plan, deadline, lateness_s, timer_plan
from server.processes import PROCESS_DIR, load_process_file

SH = ZoneInfo("Asia/Shanghai")
BOOK = load_calendar_file(SLA_FILE, "Asia/Shanghai")
H = 3600
M = 60
DAY = 27000  # one working day of the office calendar


def at(text: str) -> datetime:
    """'2026-03-02 09:00' in Shanghai wall time, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture(scope="module")
def repair() -> ProcessDefinition:
    return load_process_file(PROCESS_DIR / "repair.yaml")


# (case, calendar, start, running seconds, expected deadline)
ADD_CASES = [
    # ---- ordinary weeks (2026-03-02 is a Monday)
    ("same morning", "office", "2026-03-02 09:00", 2 * H, "2026-03-02 11:00"),
    ("runs out exactly at lunch", "office", "2026-03-02 10:00", 2 * H, "2026-03-02 12:00"),
    ("across lunch", "office", "2026-03-02 11:00", 2 * H, "2026-03-02 14:30"),  # 1 h + 1 h
    ("reported during lunch", "office", "2026-03-02 12:15", 1 * H, "2026-03-02 14:30"),
    ("across the evening", "office", "2026-03-02 17:00", 1 * H, "2026-03-03 09:00"),  # .5 + .5
    ("reported before opening", "office", "2026-03-02 07:00", 1 * H, "2026-03-02 09:30"),
    ("reported overnight", "office", "2026-03-02 20:00", 2 * H, "2026-03-03 10:30"),
    ("reported after midnight", "office", "2026-03-03 02:00", 30 * M, "2026-03-03 09:00"),
    ("friday into monday", "office", "2026-03-06 16:30", 2 * H, "2026-03-09 09:30"),  # 1 + 1
    ("reported on saturday", "office", "2026-03-07 10:00", 1 * H, "2026-03-09 09:30"),
    ("reported on sunday", "office", "2026-03-08 15:00", 30 * M, "2026-03-09 09:00"),
    ("one working day from opening", "office", "2026-03-02 08:30", DAY, "2026-03-02 17:30"),
    ("one working day from 09:00", "office", "2026-03-02 09:00", DAY, "2026-03-03 09:00"),
    # Wed 10:00: 6 h left that day, Thu 7.5, Fri 7.5 = 21 h; 1.5 h more on Monday
    (
        "three working days over a weekend",
        "office",
        "2026-03-04 10:00",
        3 * DAY,
        "2026-03-09 10:00",
    ),
    ("started exactly at closing", "office", "2026-03-02 17:30", 15 * M, "2026-03-03 08:45"),
    ("started exactly at lunch", "office", "2026-03-02 12:00", 15 * M, "2026-03-02 13:45"),
    # ---- public holidays and 调休 (国务院办公厅, 2025-11-04)
    # 元旦: Jan 1-3 off, Sunday Jan 4 is a working day
    ("new year into make-up sunday", "office", "2025-12-31 17:00", 1 * H, "2026-01-04 09:00"),
    # 春节: Sat Feb 14 works, Feb 15-23 off
    (
        "into make-up saturday before spring festival",
        "office",
        "2026-02-13 17:00",
        2 * H,
        "2026-02-14 10:00",
    ),
    ("make-up saturday into the holiday", "office", "2026-02-14 17:00", 1 * H, "2026-02-24 09:00"),
    # Thu 09:00: 7 h, Fri 7.5, make-up Sat 7.5 = 22 h; 0.5 h after the festival
    (
        "three working days over spring festival",
        "office",
        "2026-02-12 09:00",
        3 * DAY,
        "2026-02-24 09:00",
    ),
    ("reported during spring festival", "office", "2026-02-18 10:00", 1 * H, "2026-02-24 09:30"),
    (
        "make-up saturday after spring festival",
        "office",
        "2026-02-27 17:00",
        1 * H,
        "2026-02-28 09:00",
    ),
    ("qingming", "office", "2026-04-03 17:00", 1 * H, "2026-04-07 09:00"),  # Apr 4-6 off
    ("labour day", "office", "2026-04-30 17:00", 1 * H, "2026-05-06 09:00"),  # May 1-5 off
    ("make-up saturday after labour day", "office", "2026-05-08 17:00", 1 * H, "2026-05-09 09:00"),
    ("dragon boat", "office", "2026-06-18 17:00", 1 * H, "2026-06-22 09:00"),  # Jun 19-21 off
    ("mid-autumn", "office", "2026-09-24 17:00", 1 * H, "2026-09-28 09:00"),  # Sep 25-27 off
    (
        "weekend into make-up sunday before national day",
        "office",
        "2026-09-19 10:00",
        1 * H,
        "2026-09-20 09:30",
    ),
    # Sep 30 16:00-17:30 is 1.5 h, Oct 1-7 off, 2.5 h on Oct 8
    ("national day week", "office", "2026-09-30 16:00", 4 * H, "2026-10-08 11:00"),
    ("reported on national day", "office", "2026-10-03 10:00", 2 * H, "2026-10-08 10:30"),
    (
        "make-up saturday after national day",
        "office",
        "2026-10-09 17:00",
        1 * H,
        "2026-10-10 09:00",
    ),
    # ---- the service desk also opens on Saturday mornings
    (
        "service desk saturday morning",
        "service_desk",
        "2026-03-06 17:00",
        1 * H,
        "2026-03-07 09:00",
    ),
    (
        "service desk saturday noon into monday",
        "service_desk",
        "2026-03-07 11:30",
        1 * H,
        "2026-03-09 09:00",
    ),
    (
        "service desk works a make-up saturday all day",
        "service_desk",
        "2026-02-28 13:30",
        1 * H,
        "2026-02-28 14:30",
    ),
    (
        "service desk closed on a holiday saturday",
        "service_desk",
        "2026-02-21 09:00",
        1 * H,
        "2026-02-24 09:30",
    ),
    # ---- the contractor: Monday to Saturday 08:00-18:00, no lunch break
    (
        "contractor saturday into monday",
        "contractor",
        "2026-03-07 17:00",
        2 * H,
        "2026-03-09 09:00",
    ),
    ("contractor has no lunch break", "contractor", "2026-03-02 12:00", 1 * H, "2026-03-02 13:00"),
    # ---- 24/7 for urgent work
    ("always on a holiday night", "always", "2026-10-03 23:30", 15 * M, "2026-10-03 23:45"),
    ("always across midnight", "always", "2026-03-02 23:50", 30 * M, "2026-03-03 00:20"),
]


@pytest.mark.parametrize(
    ("calendar", "start", "seconds", "expected"),
    [c[1:] for c in ADD_CASES],
    ids=[c[0] for c in ADD_CASES],
)
def test_business_deadline(calendar: str, start: str, seconds: int, expected: str):
    result = add_business_seconds(BOOK.named(calendar), at(start), seconds)
    assert result == at(expected)
    assert result.tzinfo == UTC


# (case, start, running seconds, pauses, expected) on the office calendar
PAUSE_CASES = [
    (
        "pause inside working hours",
        "2026-03-02 09:00",
        2 * H,
        [("2026-03-02 10:00", "2026-03-02 10:30")],
        "2026-03-02 11:30",
    ),
    # 11:00-11:30 runs, then 14:00 + 1.5 h
    (
        "pause across lunch",
        "2026-03-02 11:00",
        2 * H,
        [("2026-03-02 11:30", "2026-03-02 14:00")],
        "2026-03-02 15:30",
    ),
    # Mon 16:00-17:00 runs (1 h), Wed 09:00-12:00 (3 h)
    (
        "pause across days",
        "2026-03-02 16:00",
        4 * H,
        [("2026-03-02 17:00", "2026-03-04 09:00")],
        "2026-03-04 12:00",
    ),
    (
        "pause in closed hours changes nothing",
        "2026-03-02 17:00",
        1 * H,
        [("2026-03-02 18:00", "2026-03-03 08:00")],
        "2026-03-03 09:00",
    ),
    # 09:00-09:30, 10:00-12:00, then 14:00 + 1.5 h
    (
        "two pauses",
        "2026-03-02 09:00",
        4 * H,
        [("2026-03-02 09:30", "2026-03-02 10:00"), ("2026-03-02 13:30", "2026-03-02 14:00")],
        "2026-03-02 15:30",
    ),
    (
        "pause given in any order",
        "2026-03-02 09:00",
        4 * H,
        [("2026-03-02 13:30", "2026-03-02 14:00"), ("2026-03-02 09:30", "2026-03-02 10:00")],
        "2026-03-02 15:30",
    ),
    (
        "overlapping pauses count once",
        "2026-03-02 09:00",
        2 * H,
        [("2026-03-02 09:30", "2026-03-02 10:30"), ("2026-03-02 10:00", "2026-03-02 11:00")],
        "2026-03-02 14:00",
    ),  # 09:00-09:30, 11:00-12:00, 13:30-14:00
    (
        "pause before the clock started counts from the start",
        "2026-03-02 09:00",
        1 * H,
        [("2026-03-02 08:00", "2026-03-02 09:30")],
        "2026-03-02 10:30",
    ),
    (
        "pause after the deadline changes nothing",
        "2026-03-02 09:00",
        1 * H,
        [("2026-03-02 11:00", "2026-03-02 15:00")],
        "2026-03-02 10:00",
    ),
    # Sep 30 09:00-10:00 runs (1 h); held until Oct 9 10:00: 2 h + 4 h, make-up Oct 10 7.5 h
    # = 14.5 h, Sunday off, 0.5 h on Monday Oct 12
    (
        "held over national day",
        "2026-09-30 09:00",
        2 * DAY,
        [("2026-09-30 10:00", "2026-10-09 10:00")],
        "2026-10-12 09:00",
    ),
]


@pytest.mark.parametrize(
    ("start", "seconds", "pauses", "expected"),
    [c[1:] for c in PAUSE_CASES],
    ids=[c[0] for c in PAUSE_CASES],
)
def test_paused_business_deadline(
    start: str, seconds: int, pauses: list[tuple[str, str]], expected: str
):
    spans = [(at(a), at(b)) for a, b in pauses]
    assert add_business_seconds(BOOK.named("office"), at(start), seconds, spans) == at(expected)


def test_open_pause_leaves_the_business_deadline_unknown():
    with pytest.raises(ClockPaused) as caught:
        add_business_seconds(
            BOOK.named("office"), at("2026-03-02 09:00"), 2 * H, [(at("2026-03-02 10:00"), None)]
        )
    assert (caught.value.paused_at, caught.value.remaining_s) == (at("2026-03-02 10:00"), 3600)


def test_open_pause_after_the_business_deadline_is_harmless():
    result = add_business_seconds(
        BOOK.named("office"), at("2026-03-02 17:00"), 1 * H, [(at("2026-03-03 10:00"), None)]
    )
    assert result == at("2026-03-03 09:00")


# (case, calendar, start, end, expected running seconds)
BETWEEN_CASES = [
    ("across lunch", "office", "2026-03-02 11:00", "2026-03-02 14:30", 2 * H),
    ("over a weekend", "office", "2026-03-06 17:00", "2026-03-09 09:00", 1 * H),
    ("over national day", "office", "2026-09-30 17:00", "2026-10-08 09:00", 1 * H),
    ("end before start is negative", "office", "2026-03-02 14:30", "2026-03-02 11:00", -2 * H),
    ("all closed time", "office", "2026-03-07 09:00", "2026-03-08 18:00", 0),
    ("always counts everything", "always", "2026-10-01 00:00", "2026-10-02 00:00", 24 * H),
]


@pytest.mark.parametrize(
    ("calendar", "start", "end", "expected"),
    [c[1:] for c in BETWEEN_CASES],
    ids=[c[0] for c in BETWEEN_CASES],
)
def test_business_seconds_between(calendar: str, start: str, end: str, expected: int):
    assert business_seconds_between(BOOK.named(calendar), at(start), at(end)) == expected


def test_how_late_counts_only_working_time():
    # deadline Fri 17:00, now Mon 09:00: 0.5 h on Friday and 0.5 h on Monday
    office = BOOK.named("office")
    assert lateness_s(at("2026-03-06 17:00"), at("2026-03-09 09:00"), calendar=office) == H


# ---- departments and clocks


@pytest.mark.parametrize(("department", "calendar"), [
    ("engineering", "office"), ("service", "service_desk"), ("security", "always"),
    ("elevator_co", "contractor"), ("nobody_lists_this", "office"), (None, "office"),
])  # fmt: skip
def test_department_calendar(department: str | None, calendar: str):
    assert BOOK.of_department(department).name == calendar


def test_assessment_department_is_configured():
    assert BOOK.assessment_department == "assessment"


def test_normal_repair_respond_runs_in_office_hours(repair: ProcessDefinition):
    # reported Fri 16:00: 1.5 h on Friday, 0.5 h on Monday
    deadlines = clock_deadlines(
        repair, "normal", at("2026-03-06 16:00"), calendars=BOOK, department="engineering"
    )
    assert deadlines["respond"] == at("2026-03-09 09:00")


def test_normal_repair_arrive_is_the_next_working_day(repair: ProcessDefinition):
    deadlines = clock_deadlines(
        repair, "normal", at("2026-09-30 14:00"), calendars=BOOK, department="engineering"
    )
    assert deadlines["arrive"] == at("2026-10-08 14:00")  # national day in between


def test_urgent_repair_runs_24_7_on_a_holiday(repair: ProcessDefinition):
    deadlines = clock_deadlines(
        repair, "urgent", at("2026-10-03 23:00"), calendars=BOOK, department="engineering"
    )
    assert deadlines["respond"] == at("2026-10-03 23:15")
    assert deadlines["resolve"] == at("2026-10-04 03:00")


def test_security_department_repairs_run_24_7(repair: ProcessDefinition):
    deadlines = clock_deadlines(
        repair, "normal", at("2026-03-07 22:00"), calendars=BOOK, department="security"
    )
    assert deadlines["respond"] == at("2026-03-08 00:00")


def test_warning_lands_before_the_weekend_breach(repair: ProcessDefinition):
    # respond from Fri 16:00: breach Mon 09:00; the warning 5 working minutes earlier
    plan = dict(
        ((c, k), d)
        for c, k, d in timer_plan(
            repair, "normal", at("2026-03-06 16:00"), calendars=BOOK, department="engineering"
        )
    )
    assert plan[("respond", "warn")] == at("2026-03-09 08:55")
    assert plan[("respond", "breach")] == at("2026-03-09 09:00")


def test_warning_at_lunch_breach_after_it(repair: ProcessDefinition):
    # respond from 10:05: 1 h 55 min of running time ends at 12:00, 5 more at 13:35
    plan = dict(
        ((c, k), d)
        for c, k, d in timer_plan(
            repair, "normal", at("2026-03-02 10:05"), calendars=BOOK, department="engineering"
        )
    )
    assert plan[("respond", "warn")] == at("2026-03-02 12:00")
    assert plan[("respond", "breach")] == at("2026-03-02 13:35")


def test_resolve_warning_one_working_hour_before(repair: ProcessDefinition):
    plan = dict(
        ((c, k), d)
        for c, k, d in timer_plan(
            repair, "normal", at("2026-03-04 10:00"), calendars=BOOK, department="engineering"
        )
    )
    assert plan[("resolve", "breach")] == at("2026-03-09 10:00")
    assert plan[("resolve", "warn")] == at("2026-03-09 09:00")


def test_escalation_levels_of_a_normal_respond_clock(repair: ProcessDefinition):
    # breach 11:00; lead 1 working hour later (12:00); assessment 4 h later (16:30)
    plan = clock_plan(
        repair.clock("respond"), "normal", at("2026-03-02 09:00"), calendar=BOOK.named("office")
    )
    assert [(t.kind, t.due_at) for t in plan] == [
        ("warn", at("2026-03-02 10:55")),
        ("breach", at("2026-03-02 11:00")),
        ("escalate2", at("2026-03-02 12:00")),
        ("escalate3", at("2026-03-02 16:30")),
    ]


def test_escalation_waits_over_lunch(repair: ProcessDefinition):
    # breach 11:30, +1 working hour: 11:30-12:00 and 13:30-14:00
    plan = clock_plan(
        repair.clock("respond"), "normal", at("2026-03-02 09:30"), calendar=BOOK.named("office")
    )
    assert plan[2].due_at == at("2026-03-02 14:00")


def test_urgent_escalation_runs_24_7(repair: ProcessDefinition):
    plan = clock_plan(
        repair.clock("respond"), "urgent", at("2026-10-01 22:00"), calendar=BOOK.named("always")
    )
    assert [t.due_at for t in plan] == [
        at("2026-10-01 22:10"),
        at("2026-10-01 22:15"),
        at("2026-10-01 22:30"),
        at("2026-10-01 23:00"),
    ]


def test_escalation_order_is_handler_lead_then_assessment_and_assigner(
    repair: ProcessDefinition,
):
    for spec in repair.clocks:
        assert [level.notify for level in spec.escalation] == [
            ("assignee",),
            ("lead",),
            ("assessment", "assigner"),
        ]


def test_every_level_has_its_own_timer_in_order(repair: ProcessDefinition):
    plan = timer_plan(
        repair, "normal", at("2026-03-02 09:00"), calendars=BOOK, department="engineering"
    )
    for clock in ("respond", "arrive", "resolve"):
        kinds = [k for c, k, _ in plan if c == clock]
        assert kinds == ["warn", "breach", "escalate2", "escalate3"]  # once each, in order
        due = [d for c, _, d in plan if c == clock]
        assert due == sorted(due) and len(set(due)) == len(due)


def test_pause_moves_warning_breach_and_escalation(repair: ProcessDefinition):
    # held Mon 10:00-Tue 10:00: every timer of the clock moves one working day later
    paused = [(at("2026-03-02 10:00"), at("2026-03-03 10:00"))]
    plain = clock_plan(
        repair.clock("respond"), "normal", at("2026-03-02 09:00"), calendar=BOOK.named("office")
    )
    held = clock_plan(
        repair.clock("respond"),
        "normal",
        at("2026-03-02 09:00"),
        paused,
        calendar=BOOK.named("office"),
    )
    assert [t.due_at - timedelta(days=1) for t in held] == [t.due_at for t in plain]


def test_open_pause_keeps_only_timers_before_it(repair: ProcessDefinition):
    # held from 11:30: warning (10:55) and breach (11:00) already known, escalations are not
    plan = clock_plan(
        repair.clock("respond"),
        "normal",
        at("2026-03-02 09:00"),
        [(at("2026-03-02 11:30"), None)],
        calendar=BOOK.named("office"),
    )
    assert [t.kind for t in plan] == ["warn", "breach"]


def test_deadline_given_at_creation_overrides_the_duration(repair: ProcessDefinition):
    plan = clock_plan(
        repair.clock("resolve"),
        "normal",
        at("2026-03-02 09:00"),
        calendar=BOOK.named("always"),
        duration_s=2 * H,
    )
    assert [t.kind for t in plan] == ["warn", "breach", "escalate2", "escalate3"]
    assert plan[1].due_at == at("2026-03-02 11:00")


def test_short_deadline_gets_no_warning(repair: ProcessDefinition):
    plan = clock_plan(
        repair.clock("resolve"),
        "normal",
        at("2026-03-02 09:00"),
        calendar=BOOK.named("always"),
        duration_s=30 * M,
    )
    assert plan[0].kind == "breach"


def test_without_a_book_every_clock_runs_24_7(repair: ProcessDefinition):
    assert deadline(at("2026-03-07 10:00"), 2 * H) == at("2026-03-07 12:00")


# ---- definitions refuse bad calendar, pause and escalation settings


def _repair_with(clock_changes: dict) -> dict:  # type: ignore[type-arg]
    raw = dict(load_process_file(PROCESS_DIR / "repair.yaml").raw)
    clocks = [dict(c) for c in raw["clocks"]]
    clocks[0].update(clock_changes)
    raw["clocks"] = clocks
    return raw


@pytest.mark.parametrize(("change", "problem"), [
    ({"calendar": {"urgent": "always"}}, "no calendar for urgency 'normal'"),
    ({"calendar": {"sometimes": "always", "urgent": "always", "normal": "office"}},
     "calendar for unknown urgency 'sometimes'"),
    ({"paused_in": ["nowhere"]}, "unknown state 'nowhere'"),
    ({"paused_in": ["accepted"]}, "cannot both pause and start or stop it"),
    ({"escalation": [{"after_s": 60, "notify": ["assignee"]}]}, "the first level is the breach"),
    ({"escalation": [{"notify": ["assignee"]}, {"after_s": 0, "notify": ["lead"]}]},
     "must come after level 1"),
    ({"escalation": [{"notify": ["mayor"]}]}, "unknown recipient 'mayor'"),
    ({"escalation": []}, "escalation must list 1 to"),
])  # fmt: skip
def test_bad_clock_settings_are_refused(change: dict, problem: str):  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=problem):
        load_definition(_repair_with(change))


def test_every_calendar_named_by_a_process_exists():
    from server.processes import load_processes

    for defn in load_processes().values():
        for spec in defn.clocks:
            for urgency in spec.durations_s:
                name = spec.calendar_for(urgency)
                assert name == "department" or name in BOOK.calendars, (defn.kind, spec.name)
