"""Task routing: which department takes a category, and who in it gets the task (article 1.1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Task categories (CONTRACT.md, departments.csv `handles`).
CATEGORIES: tuple[str, ...] = (
    "water",
    "drains",
    "electricity",
    "lights",
    "elevator",
    "doors",
    "gas",
    "structure",
    "public_area",
    "cleaning",
    "security",
    "parking",
    "noise",
    "other",
)
FALLBACK_CATEGORY = "other"

# Roles that work tasks, in the order they are picked: field staff first; a lead takes tasks
# only when the department has no staff member available.
ASSIGNABLE_ROLES: tuple[str, ...] = ("staff", "lead")


@dataclass(frozen=True)
class DepartmentInfo:
    """What routing needs to know about a department or contractor."""

    id: int
    code: str
    kind: str  # "internal" or "contractor"
    handles: frozenset[str]


@dataclass(frozen=True)
class StaffInfo:
    """What routing needs to know about a person who might get the task."""

    id: int
    role: str
    department_id: int


def department_for(category: str, departments: Sequence[DepartmentInfo]) -> DepartmentInfo | None:
    """The department that takes `category`; else the one taking "other"; else None.

    Internal departments win over contractors (own staff first, the contractor when nobody in
    the company handles it), then the lowest id, so the answer never depends on list order.
    """
    for wanted in (category, FALLBACK_CATEGORY):
        matches = [d for d in departments if wanted in d.handles]
        if matches:
            return min(matches, key=lambda d: (d.kind != "internal", d.id))
    return None


def pick_assignee(
    candidates: Sequence[StaffInfo],
    last_assigned_id: int | None,
    on_duty: Callable[[StaffInfo], bool] | None = None,
) -> StaffInfo | None:
    """Next person round-robin among `candidates` (already that department and community).

    Takes staff first and leads only when no staff member is on duty; orders by id and starts
    after `last_assigned_id`, wrapping around, so over N assignments each of N people gets one.
    Returns None when nobody is on duty: the caller decides (lead, grab pool, ignore the rota).
    """
    available = [c for c in candidates if on_duty is None or on_duty(c)]
    for role in ASSIGNABLE_ROLES:
        pool = sorted((c for c in available if c.role == role), key=lambda c: c.id)
        if not pool:
            continue
        if last_assigned_id is not None:
            for person in pool:
                if person.id > last_assigned_id:
                    return person
        return pool[0]
    return None
