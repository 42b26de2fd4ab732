"""Routing: the department for a category, and round-robin assignment within it."""

from __future__ import annotations

import pytest

from server.domain.routing import DepartmentInfo, StaffInfo, department_for, pick_assignee

ENGINEERING = DepartmentInfo(1, "ENG", "internal", frozenset({"water", "drains", "electricity"}))
LIFTCO = DepartmentInfo(2, "LIFTCO", "contractor", frozenset({"elevator", "electricity"}))
GASCO = DepartmentInfo(3, "GASCO", "contractor", frozenset({"gas"}))
SERVICE = DepartmentInfo(4, "SVC", "internal", frozenset({"cleaning", "other"}))
OTHERS_CONTRACTOR = DepartmentInfo(5, "ODD", "contractor", frozenset({"other"}))
DEPARTMENTS = [LIFTCO, GASCO, OTHERS_CONTRACTOR, ENGINEERING, SERVICE]


def test_category_goes_to_the_department_that_handles_it():
    assert department_for("water", DEPARTMENTS) == ENGINEERING


def test_internal_department_wins_over_a_contractor():
    assert department_for("electricity", DEPARTMENTS) == ENGINEERING


def test_contractor_takes_what_no_internal_department_handles():
    assert department_for("gas", DEPARTMENTS) == GASCO
    assert department_for("elevator", DEPARTMENTS) == LIFTCO


def test_unhandled_category_falls_back_to_the_department_for_other():
    assert department_for("noise", DEPARTMENTS) == SERVICE


def test_other_fallback_prefers_an_internal_department():
    assert department_for("parking", [OTHERS_CONTRACTOR, SERVICE]) == SERVICE


def test_no_department_at_all_gives_none():
    assert department_for("noise", [ENGINEERING, GASCO]) is None


def test_answer_does_not_depend_on_list_order():
    assert department_for("electricity", list(reversed(DEPARTMENTS))) == ENGINEERING


def test_two_internal_departments_pick_the_lower_id():
    second = DepartmentInfo(9, "ENG2", "internal", frozenset({"water"}))
    assert department_for("water", [second, ENGINEERING]) == ENGINEERING


TEAM = [
    StaffInfo(7, "staff", 1),
    StaffInfo(3, "staff", 1),
    StaffInfo(1, "lead", 1),
    StaffInfo(5, "staff", 1),
    StaffInfo(2, "manager", 1),
]


def picks(candidates: list[StaffInfo], count: int, last: int | None = None, **kw) -> list[int]:
    chosen = []
    for _ in range(count):
        person = pick_assignee(candidates, last, **kw)
        assert person is not None
        chosen.append(person.id)
        last = person.id
    return chosen


def test_first_assignment_goes_to_the_lowest_id_staff_member():
    person = pick_assignee(TEAM, None)
    assert person is not None and person.id == 3


def test_round_robin_continues_after_the_last_assignee_and_wraps_around():
    assert picks(TEAM, 4, last=5) == [7, 3, 5, 7]


def test_round_robin_skips_nobody():
    assert sorted(picks(TEAM, 3)) == [3, 5, 7]


def test_last_assignee_who_left_the_team_does_not_break_the_order():
    person = pick_assignee(TEAM, 4)
    assert person is not None and person.id == 5


def test_lead_gets_tasks_only_when_there_is_no_staff_member():
    assert all(i != 1 for i in picks(TEAM, 6))
    person = pick_assignee([StaffInfo(1, "lead", 1), StaffInfo(2, "manager", 1)], None)
    assert person is not None and person.id == 1


def test_managers_are_never_picked():
    assert pick_assignee([StaffInfo(2, "manager", 1), StaffInfo(4, "assessor", 1)], None) is None


def test_off_duty_staff_are_skipped():
    on_duty = {3, 7}.__contains__
    assert picks(TEAM, 4, on_duty=lambda s: on_duty(s.id)) == [3, 7, 3, 7]


def test_lead_covers_when_every_staff_member_is_off_duty():
    person = pick_assignee(TEAM, None, on_duty=lambda s: s.role == "lead")
    assert person is not None and person.id == 1


@pytest.mark.parametrize("candidates", [[], [StaffInfo(3, "staff", 1)]])
def test_nobody_on_duty_gives_none(candidates: list[StaffInfo]):
    assert pick_assignee(candidates, None, on_duty=lambda s: False) is None
