"""What managers ask about running work (article 1.4): where a task is, with whom and since
when; how much got done (what is late: server/actions/clocks.late_tasks). Read-only: the
answers come from the task's events and clock rows, its records of truth, never from what
someone typed into a status field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from server.db.people import Department, Staff
from server.db.tasks import Task, TaskClock, TaskEvent

# Events that record something about the task without anyone acting on it.
_QUIET_ACTIONS = frozenset({"sla_warning", "sla_breach", "sla_escalation", "unrouted"})


@dataclass(frozen=True)
class Whereabouts:
    """Where a task stands: state, with whom, since when, what happened last, how late."""

    task: Task
    holder: Staff | None
    department: Department | None
    since: datetime  # when it entered its current state
    last_action: str  # the last thing someone did (an event action), "" when only created
    last_actor: str
    last_at: datetime
    due_at: datetime | None  # the nearest deadline of a clock still running
    late: bool


async def where_is(task: Task, now: datetime) -> Whereabouts:
    """The truth about one task, read from its event trail and its running clocks."""
    events = await TaskEvent.filter(task_id=task.id).order_by("-id").limit(200)
    entered = next(
        (e for e in events if e.to_state == task.state and e.from_state != e.to_state), None
    )
    acted = next((e for e in events if e.action not in _QUIET_ACTIONS), None)
    clocks = await TaskClock.filter(task_id=task.id, stopped_at=None).exclude(due_at=None)
    due = min((c.due_at for c in clocks if c.due_at is not None), default=None)
    holder = await Staff.get_or_none(id=task.assignee_id) if task.assignee_id else None
    department = await Department.get_or_none(id=task.department_id) if task.department_id else None
    return Whereabouts(
        task=task,
        holder=holder,
        department=department,
        since=entered.at if entered else task.created_at,
        last_action=acted.action if acted else "",
        last_actor=acted.actor_name if acted else "",
        last_at=acted.at if acted else task.created_at,
        due_at=due,
        late=due is not None and due <= now,
    )


def _scope(community_ids: Collection[int] | None) -> Q:
    """Tasks of these communities; None means every community (staff serving all estates)."""
    return Q() if community_ids is None else Q(community_id__in=list(community_ids))


async def completed_between(
    start: datetime, end: datetime, *, community_ids: Collection[int] | None
) -> Counter[str]:
    """How many tasks were completed in [start, end), per kind (rework counted once, when done)."""
    kinds = await Task.filter(
        _scope(community_ids) & Q(completed_at__gte=start, completed_at__lt=end)
    ).values_list("kind", flat=True)
    return Counter(str(kind) for kind in kinds)
