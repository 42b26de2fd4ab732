"""SLA clocks of tasks: start, stop, pause and resume them with the state machine, and fire their
timers (warning, breach, escalation levels) exactly once each, many per transaction.

One TaskClock row per task and clock keeps what makes a deadline reproducible (start, calendar,
allowed running time, pauses); one Timer row per task and timer name (`resolve.warn`,
`resolve.breach`, `resolve.escalate2`, ...) is what workers claim. docs/processes.md explains
calendars, pauses and escalation; server/actions/tasks.py calls `enter_state` on every state
change, in the transaction of that change.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.functions import Max

from server.actions.kpi import refresh_facts
from server.actions.notify import Recipient, outbox_values
from server.calendars import calendar_book
from server.db import statements
from server.db.bulk import insert_rows
from server.db.estate import Room
from server.db.outbox import OutboxMessage
from server.db.people import Department, Staff
from server.db.tasks import REF_OFFSET, ProcessVersion, Task, TaskClock, TaskEvent, Timer
from server.domain import sla
from server.domain.calendar import DEPARTMENT, Calendar, CalendarBook, Pause
from server.domain.process import ClockSpec, ProcessDefinition
from server.domain.routing import DepartmentInfo, department_for
from server.settings import load_settings
from templates_msg import label, render_message, render_text

log = logging.getLogger("wuye.clocks")

RATING_TIMER = "rating.close"
# The TaskEvent action each clock timer writes; the message kind it sends (catalog.yaml).
EVENT_OF_LEVEL = {0: "sla_warning", 1: "sla_breach"}
ESCALATION_EVENT = "sla_escalation"
CLOCK_EVENTS = frozenset({"sla_warning", "sla_breach", ESCALATION_EVENT})
MESSAGE_OF_LEVEL = {0: "breach_warning", 1: "task_breached"}
ESCALATION_MESSAGE = "task_escalated"
_TASK_DEADLINE_FIELDS = ("respond", "arrive", "resolve")  # clocks mirrored on Task.<clock>_by


@cache
def _default_tz() -> ZoneInfo:
    return ZoneInfo(load_settings().tz_name)


def book_for(tz: ZoneInfo | None = None) -> CalendarBook:
    """The deployment's calendars (config/sla.yaml) in the business time zone."""
    return calendar_book((tz or _default_tz()).key)


def timer_names(spec: ClockSpec) -> list[str]:
    """Every timer name a clock may use: its warning, breach and escalation levels."""
    kinds = [sla.WARN] + [sla.kind_of(level.level) for level in spec.escalation]
    return [f"{spec.name}.{kind}" for kind in kinds]


def _pauses(row: TaskClock) -> list[Pause]:
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in row.pauses]


def _calendar_of(row: TaskClock, book: CalendarBook) -> Calendar:
    try:
        return book.named(row.calendar)
    except KeyError:
        # config/sla.yaml lost a calendar that running clocks still name: keep them running on
        # the default one rather than failing every transition of those tasks.
        log.warning(
            "clock %s of task %s: unknown calendar %r, using %r",
            row.name,
            row.task_id,
            row.calendar,
            book.default,
        )
        return book.named(book.default)


# ---------------------------------------------------------------------------- state changes


async def enter_state(
    task: Task,
    defn: ProcessDefinition,
    before: str,
    after: str,
    now: datetime,
    tz: ZoneInfo | None = None,
) -> None:
    """Stop, pause, resume and start the task's clocks as it moves from `before` to `after`.

    `before` is "" for a new task. Entering a stop state (or a final one) stops a clock;
    a start state (re)starts it with fresh timers; a `paused_in` state freezes it; leaving
    the pause for any other state resumes it with deadlines moved by the pause.
    """
    if before == after:
        return
    now = sla.require_aware("now", now)  # stored pauses are UTC instants
    book = book_for(tz)
    stopping = sla.clocks_stopping_in(defn, after)
    starting = [s for s in sla.clocks_starting_in(defn, after) if s not in stopping]
    pausing = [s for s in sla.clocks_pausing_in(defn, after) if s not in stopping]
    may_resume = before and any(before in s.paused_in for s in defn.clocks)
    rows: dict[str, TaskClock] = {}
    if before and (starting or pausing or may_resume):
        rows = {r.name: r for r in await TaskClock.filter(task_id=task.id)}
    deadlines: dict[str, datetime | None] = {}
    if stopping and before:
        await stop_clocks(task, stopping, now)
    if starting:
        deadlines.update(await start_clocks(task, starting, rows, now, book, new_task=not before))
    for spec in pausing:
        row = rows.get(spec.name)
        if row is not None and row.stopped_at is None and row.paused_at is None:
            deadlines[spec.name] = await _pause(task, spec, row, now)
    if may_resume:
        busy = {s.name for s in (*stopping, *starting, *pausing)}
        for spec in defn.clocks:
            row = rows.get(spec.name)
            if (
                spec.name not in busy
                and row is not None
                and row.stopped_at is None
                and row.paused_at is not None
            ):
                deadlines[spec.name] = await _resume(task, spec, row, now, book)
    mirrored = [name for name in deadlines if name in _TASK_DEADLINE_FIELDS]
    for name in mirrored:
        setattr(task, f"{name}_by", deadlines[name])
    if mirrored:
        await task.save(update_fields=[f"{name}_by" for name in mirrored])
    if after == "completed":
        await schedule(task, RATING_TIMER, sla.rating_closes_at(defn, now))
    elif before == "completed":
        # rated, reopened or cancelled: nobody waits for a rating any more
        await _cancel_timers(task, [RATING_TIMER])


async def department_by_category(category: str) -> DepartmentInfo | None:
    """The department that handles `category` (routing's rule, server.domain.routing)."""
    departments = await statements.fetch(Department, "SELECT * FROM departments ORDER BY id")
    infos = [
        DepartmentInfo(d.id, d.code, d.kind, frozenset(filter(None, d.handles.split(";"))))
        for d in departments
    ]
    return department_for(category, infos)


async def _department_code(task: Task) -> str | None:
    """The task's department; before routing, the one routing will pick (same rule)."""
    if task.department_id:
        found = await statements.rows(
            Department, "SELECT code FROM departments WHERE id = $1", task.department_id
        )
        return str(found[0]["code"]) if found else None
    chosen = await department_by_category(task.category)
    return chosen.code if chosen else None


async def start_clocks(
    task: Task,
    specs: Sequence[ClockSpec],
    rows: dict[str, TaskClock],
    now: datetime,
    book: CalendarBook,
    *,
    new_task: bool = False,
) -> dict[str, datetime | None]:
    """(Re)start clocks from `now` with fresh timers; a restart re-arms fired timers too.

    `new_task`: nothing exists yet, so clock and timer rows go in with one INSERT each.
    """
    department: str | None = None
    if any(s.calendar_for(task.urgency) == DEPARTMENT for s in specs):
        department = await _department_code(task)
    deadlines: dict[str, datetime | None] = {}
    new_clocks: list[dict[str, Any]] = []
    new_timers: list[dict[str, Any]] = []
    for spec in specs:
        name = spec.calendar_for(task.urgency)
        if name == DEPARTMENT:
            name = book.of_department(department).name
        calendar = book.named(name)
        duration = spec.duration_s(task.urgency)
        due_at = sla.deadline(now, duration, calendar=calendar)
        deadlines[spec.name] = due_at
        plan = sla.clock_plan(spec, task.urgency, now, calendar=calendar)
        values = {
            "calendar": name,
            "duration_s": duration,
            "started_at": now,
            "due_at": due_at,
            "paused_at": None,
            "pauses": [],
            "stopped_at": None,
            "level": 0,
        }
        if new_task:
            new_clocks.append({"task_id": task.id, "name": spec.name, **values})
            new_timers += [{"task_id": task.id, "name": t.name, "due_at": t.due_at} for t in plan]
            continue
        await TaskClock.update_or_create(task_id=task.id, name=spec.name, defaults=values)
        await _cancel_timers(task, timer_names(spec))
        for timer in plan:
            await schedule(task, timer.name, timer.due_at)
    await insert_rows(TaskClock, new_clocks)
    await insert_rows(Timer, new_timers)
    return deadlines


async def stop_clocks(task: Task, specs: Sequence[ClockSpec], now: datetime) -> None:
    """Stop these clocks at `now` and cancel their unfired timers."""
    names = [spec.name for spec in specs]
    await statements.execute(
        TaskClock,
        "UPDATE task_clocks SET stopped_at = $1 WHERE task_id = $2 AND stopped_at IS NULL"
        f" AND name IN ({statements.placeholders(3, len(names))})",
        statements.stored(TaskClock, "stopped_at", now),
        task.id,
        *names,
    )
    await _cancel_timers(task, [name for spec in specs for name in timer_names(spec)])


async def _cancel_timers(task: Task, names: Sequence[str]) -> None:
    """Cancel the task's unfired timers of these names (every transition stops some clock)."""
    if not names:
        return
    await statements.execute(
        Timer,
        "UPDATE timers SET cancelled = $1 WHERE task_id = $2 AND fired_at IS NULL"
        f" AND name IN ({statements.placeholders(3, len(names))})",
        statements.stored(Timer, "cancelled", True),
        task.id,
        *names,
    )


async def _pause(task: Task, spec: ClockSpec, row: TaskClock, now: datetime) -> datetime | None:
    """Freeze a clock: timers not yet due wait; the deadline is unknown until it resumes."""
    row.paused_at = now
    if row.due_at is not None and row.due_at > now:
        row.due_at = None
    await row.save(update_fields=["paused_at", "due_at"])
    await Timer.filter(
        task_id=task.id, name__in=timer_names(spec), fired_at=None, due_at__gt=now
    ).update(cancelled=True)
    return row.due_at


async def _resume(
    task: Task, spec: ClockSpec, row: TaskClock, now: datetime, book: CalendarBook
) -> datetime:
    """Close the pause and move every timer not yet fired by it; fired levels stay fired."""
    assert row.paused_at is not None
    row.pauses = [*row.pauses, [row.paused_at.isoformat(), now.isoformat()]]
    row.paused_at = None
    return await replan_clock(task, spec, row, book)


async def replan_clock(task: Task, spec: ClockSpec, row: TaskClock, book: CalendarBook) -> datetime:
    """Recompute a running clock's deadline and unfired timers (after a pause or a new version)."""
    calendar = _calendar_of(row, book)
    pauses = _pauses(row)
    row.due_at = sla.deadline(row.started_at, row.duration_s, pauses, calendar=calendar)
    await row.save(update_fields=["pauses", "paused_at", "due_at", "duration_s", "calendar"])
    plan = sla.clock_plan(
        spec, task.urgency, row.started_at, pauses, calendar=calendar, duration_s=row.duration_s
    )
    fired = {
        str(name)
        for name in await Timer.filter(task_id=task.id, name__in=timer_names(spec))
        .exclude(fired_at=None)
        .values_list("name", flat=True)
    }
    for timer in plan:
        if timer.name not in fired:  # each level fires once per clock run
            await schedule(task, timer.name, timer.due_at)
    dropped = set(timer_names(spec)) - {timer.name for timer in plan}  # a warning too late now
    if dropped:
        await _cancel_timers(task, sorted(dropped))
    return row.due_at


async def set_deadline(
    task: Task, defn: ProcessDefinition, clock: str, due_at: datetime, tz: ZoneInfo | None = None
) -> None:
    """Replace a running clock's deadline with a fixed instant (a manager's "by noon tomorrow").

    The clock then runs 24/7 up to `due_at`: a deadline people name is wall-clock time. Its
    warning and escalation levels follow from the new deadline; levels already fired stay.
    """
    row = await TaskClock.get(task_id=task.id, name=clock)
    spec = defn.clock(clock)
    row.calendar = "always"
    row.duration_s = max(
        1,
        int((sla.require_aware("due_at", due_at) - row.started_at).total_seconds())
        - _paused_s(row),
    )
    new_due = await replan_clock(task, spec, row, book_for(tz))
    if clock in _TASK_DEADLINE_FIELDS:
        setattr(task, f"{clock}_by", new_due)
        await task.save(update_fields=[f"{clock}_by"])


def _paused_s(row: TaskClock) -> int:
    return int(sum((b - a).total_seconds() for a, b in _pauses(row) if b is not None))


async def schedule(task: Task, name: str, due_at: datetime) -> None:
    """Create or re-arm the task's timer called `name` (one row per task and name)."""
    await statements.execute(
        Timer,
        "INSERT INTO timers (task_id, name, due_at, fired_at, cancelled, lock_owner,"
        " lock_expires_at, attempts, last_error) VALUES ($1, $2, $3, NULL, $4, NULL, NULL, 0, '')"
        " ON CONFLICT (task_id, name) DO UPDATE SET due_at = excluded.due_at, fired_at = NULL,"
        " cancelled = excluded.cancelled, lock_owner = NULL, lock_expires_at = NULL,"
        " attempts = 0, last_error = ''",
        task.id,
        name,
        statements.stored(Timer, "due_at", due_at),
        statements.stored(Timer, "cancelled", False),
    )


# ---------------------------------------------------------------------------- firing


async def fire_timers(timers: Sequence[Timer], *, now: datetime, tz: ZoneInfo) -> None:
    """Fire timers the caller holds (locked, unfired, not cancelled) in its transaction.

    Clock timers are handled as a set: one query per kind of data for the whole batch (tasks,
    clocks, recipients), then bulk inserts of events and outbox rows, then one UPDATE marking
    them fired. That is what lets two workers keep up with thousands of timers per second.
    """
    clock_timers = [t for t in timers if t.name != RATING_TIMER]
    for timer in timers:
        if timer.name == RATING_TIMER:
            await _close_unrated(timer, now, tz)
    if clock_timers:
        await _fire_clock_timers(clock_timers, now, tz)
    await Timer.filter(id__in=[t.id for t in timers]).update(
        fired_at=now, lock_owner=None, lock_expires_at=None
    )


async def _close_unrated(timer: Timer, now: datetime, tz: ZoneInfo) -> None:
    from server.actions import tasks as task_actions  # tasks.py imports this module

    locked = await task_actions.locked_task(timer.task_id)
    assert locked is not None  # the timer's foreign key keeps it
    task, defn = locked
    await task_actions._apply(
        task, defn, "close_unrated", task_actions.SYSTEM, task_actions.Move(), now, tz
    )
    await refresh_facts(task, defn, tz)


async def _definitions_of(process_ids: Iterable[int]) -> dict[int, ProcessDefinition]:
    """Definitions by ProcessVersion id, each parsed once per (kind, version) by definition_of.

    Not cached by id: ids belong to one database, a version's content hash to any.
    """
    from server.actions.tasks import definition_of  # tasks.py imports this module

    return {
        row.id: definition_of(row) for row in await ProcessVersion.filter(id__in=list(process_ids))
    }


# Task columns a clock message or escalation needs (read as plain values: no model objects).
_TASK_COLUMNS = (
    "id", "state", "process_id", "category", "description", "place", "room_id",
    "community_id", "department_id", "assignee_id", "created_by_id",
    "respond_by", "arrive_by", "resolve_by",
)  # fmt: skip


@dataclass
class _Batch:
    """Everything a batch of clock timers needs, fetched with one query per kind of data."""

    tasks: dict[int, dict[str, Any]]
    staff: dict[int, Staff]  # assignees, assigners, leads and assessors by id
    leads: dict[int, list[Staff]]  # department id -> its leads
    assessors: list[Staff]
    places: dict[int, str]  # room id -> "5号楼2单元302"

    @staticmethod
    def serves(staff: Staff, community_id: int) -> bool:
        return staff.all_communities or community_id in {c.id for c in staff.communities}

    def recipients(self, who: Iterable[str], task: dict[str, Any]) -> list[Recipient]:
        """Staff to tell, once each, in the order of `who` (assignee, lead, assessment,
        assigner); leads and assessors only when they serve the task's community."""
        found: dict[int, Staff] = {}
        community_id = task["community_id"]
        for role in who:
            if role in ("assignee", "assigner"):
                person = self.staff.get(
                    task["assignee_id" if role == "assignee" else "created_by_id"] or 0
                )
                if person is not None:
                    found.setdefault(person.id, person)
            elif role in ("lead", "assessment"):
                group = (
                    self.leads.get(task["department_id"] or 0, [])
                    if role == "lead"
                    else self.assessors
                )
                for person in group:
                    if self.serves(person, community_id):
                        found.setdefault(person.id, person)
        return [Recipient.of_staff(person) for person in found.values()]

    def values(
        self, task: dict[str, Any], clock: str, deadline_at: datetime | None, tz: ZoneInfo
    ) -> dict[str, Any]:
        """The variables of a clock message: the names of tasks.message_values + clock_name."""
        assignee = self.staff.get(task["assignee_id"] or 0)
        name = assignee.name if assignee else ""
        return {
            "ref": f"T{task['id'] + REF_OFFSET}",
            "place": self.places.get(task["room_id"] or 0) or task["place"],
            "category_name": label("category", task["category"]),
            "description": task["description"],
            "deadline": deadline_at.astimezone(tz).strftime("%m-%d %H:%M") if deadline_at else "",
            "staff_name": name,
            "assignee_name": name,
            "clock_name": label("clock", clock),
        }


async def _batch(tasks: dict[int, dict[str, Any]], roles: set[str], book: CalendarBook) -> _Batch:
    people = {t[c] for t in tasks.values() for c in ("assignee_id", "created_by_id") if t[c]}
    staff = {s.id: s for s in await Staff.filter(id__in=sorted(people))} if people else {}
    leads: dict[int, list[Staff]] = defaultdict(list)
    departments = sorted({t["department_id"] for t in tasks.values() if t["department_id"]})
    if "lead" in roles and departments:
        for person in (
            await Staff.filter(department_id__in=departments, role="lead")
            .prefetch_related("communities")
            .order_by("id")
        ):
            leads[person.department_id].append(person)
    assessors: list[Staff] = []
    if "assessment" in roles and book.assessment_department:
        assessors = list(
            await Staff.filter(department__code=book.assessment_department)
            .prefetch_related("communities")
            .order_by("id")
        )
    rooms = sorted({t["room_id"] for t in tasks.values() if t["room_id"]})
    places = {
        room.id: render_text("place_room", building=room.unit.building.name,
                             unit=room.unit.name, room=room.number)
        for room in await Room.filter(id__in=rooms).select_related("unit__building")
    } if rooms else {}  # fmt: skip
    return _Batch(tasks, staff, leads, assessors, places)


async def _fire_clock_timers(timers: Sequence[Timer], now: datetime, tz: ZoneInfo) -> None:
    book = book_for(tz)
    task_ids = sorted({t.task_id for t in timers})
    tasks = {t["id"]: t for t in await Task.filter(id__in=task_ids).values(*_TASK_COLUMNS)}
    definitions = await _definitions_of({t["process_id"] for t in tasks.values()})
    planned: list[tuple[Timer, str, int, tuple[str, ...]]] = []
    for timer in timers:
        clock, _, kind = timer.name.partition(".")
        try:
            task = tasks[timer.task_id]
            spec = definitions[task["process_id"]].clock(clock)
            level = sla.level_of(kind)
            who = ("assignee",) if level == 0 else sla.escalation_of(spec, level).notify
        except (KeyError, ValueError, IndexError):
            # The definition the task runs on has no such clock or level (a hand-made row):
            # marking it fired without effect beats retrying it forever.
            log.warning("timer %s %r matches no clock of its task", timer.id, timer.name)
            continue
        planned.append((timer, clock, level, who))
    batch = await _batch(tasks, {r for *_, who in planned for r in who}, book)
    deadlines = {
        (c["task_id"], c["name"]): c["due_at"]
        for c in await TaskClock.filter(task_id__in=task_ids).values("task_id", "name", "due_at")
    }
    events: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    checked: set[str] = set()
    levels: dict[tuple[str, int], list[int]] = defaultdict(list)
    for timer, clock, level, who in planned:
        task = batch.tasks[timer.task_id]
        message = MESSAGE_OF_LEVEL.get(level, ESCALATION_MESSAGE)
        if level > 0:
            levels[(clock, level)].append(task["id"])
        recipients = batch.recipients(who, task)
        events.append({
            "task_id": task["id"], "action": EVENT_OF_LEVEL.get(level, ESCALATION_EVENT),
            "from_state": task["state"], "to_state": task["state"], "actor_kind": "system",
            "at": now,
            "data": {"clock": clock, "level": level, "timer_id": timer.id,
                     "due_at": timer.due_at.isoformat(), "notified": [r.id for r in recipients]},
        })  # fmt: skip
        if not recipients:
            continue
        key = (task["id"], clock)
        deadline_at = deadlines[key] if key in deadlines else task.get(f"{clock}_by")
        values = batch.values(task, clock, deadline_at, tz)
        if message not in checked:
            render_message(message, values)  # an undefined variable fails the batch, not the relay
            checked.add(message)
        stamp = int(timer.due_at.timestamp())  # a re-armed timer (clock restarted) sends again
        messages += [
            outbox_values(
                message, to, values, now=now, key=f"timer:{timer.id}:{stamp}:{to.kind}:{to.id}"
            )
            for to in recipients
        ]
    await insert_rows(TaskEvent, events)
    await insert_rows(OutboxMessage, messages, ignore_conflicts=True)
    for (clock, level), ids in levels.items():
        await TaskClock.filter(task_id__in=ids, name=clock, level__lt=level).update(level=level)


# ---------------------------------------------------------------------------- breach overview


@dataclass(frozen=True)
class LateClock:
    """A running clock past its deadline: how late in wall and in working time, how escalated."""

    clock: str
    due_at: datetime
    late_s: float
    late_business_s: float
    level: int
    paused: bool


@dataclass(frozen=True)
class LateTask:
    """A task with at least one late clock, and where it is stuck (state, people, since when)."""

    task: Task
    since: datetime | None
    clocks: tuple[LateClock, ...]

    @property
    def late_s(self) -> float:
        return max(c.late_s for c in self.clocks)

    @property
    def level(self) -> int:
        return max(c.level for c in self.clocks)


MAX_LATE_CLOCKS = 20000  # an overview, not an export: beyond this the newest breaches are cut


async def late_tasks(
    now: datetime,
    *,
    community_ids: Iterable[int] | None = None,
    department_id: int | None = None,
    limit: int = 200,
    tz: ZoneInfo | None = None,
) -> list[LateTask]:
    """Open tasks with a running clock past its deadline, most late first (the breach view).

    `since` is the last event that was not the SLA system's own (a breach notice is not
    progress): how long the task has been stuck where it is.
    """
    now = sla.require_aware("now", now)
    book = book_for(tz)
    query = TaskClock.filter(stopped_at__isnull=True, due_at__lte=now)
    if community_ids is not None:
        query = query.filter(task__community_id__in=list(community_ids))
    if department_id is not None:
        query = query.filter(task__department_id=department_id)
    rows = (
        await query.order_by("due_at")
        .limit(MAX_LATE_CLOCKS)
        .select_related(
            "task__assignee", "task__department", "task__community", "task__room__unit__building"
        )
    )
    grouped: dict[int, list[TaskClock]] = defaultdict(list)
    for row in rows:
        grouped[row.task_id].append(row)
    last = {
        r["task_id"]: r["last"]
        for r in await TaskEvent.filter(task_id__in=list(grouped))
        .exclude(action__in=list(CLOCK_EVENTS)).annotate(last=Max("at"))
        .group_by("task_id").values("task_id", "last")
    }  # fmt: skip
    result = []
    for task_id, clocks in grouped.items():
        late = []
        for row in clocks:
            assert row.due_at is not None
            pauses = _pauses(row) + ([(row.paused_at, None)] if row.paused_at else [])
            late.append(
                LateClock(
                    clock=row.name,
                    due_at=row.due_at,
                    late_s=(now - row.due_at).total_seconds(),
                    late_business_s=sla.lateness_s(
                        row.due_at, now, pauses, calendar=_calendar_of(row, book)
                    ),
                    level=row.level,
                    paused=row.paused_at is not None,
                )
            )
        late.sort(key=lambda c: -c.late_s)
        since = last.get(task_id)
        result.append(LateTask(clocks[0].task, _aware(since), tuple(late)))
    result.sort(key=lambda t: (-t.late_s, t.task.id))
    return result[:limit]


def _aware(value: Any) -> datetime | None:
    """Aggregates come back as text on SQLite and naive on some drivers: make them UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
