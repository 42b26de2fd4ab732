"""KPI facts kept per task, and the queries over them: KPIs, work summaries, reports.

`refresh_facts` runs in the transaction of every transition (server/actions/tasks.py), so the
`task_facts` row is never behind its task. Queries add rows up in SQL into
`server.domain.kpi.Totals` and the domain turns them into figures; callers name dimensions and
measures from whitelists here, never SQL. Who may see what: `scope_filters` (docs/kpi.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from server.db import statements
from server.db.estate import Building, Community, Room
from server.db.people import Department, Staff
from server.db.reporting import TaskFact
from server.db.tasks import REF_OFFSET, Task, TaskEvent
from server.domain import kpi
from server.domain.process import ProcessDefinition
from templates_msg import label

MAX_COST = Decimal("9999999999.99")
OVERSEERS = frozenset({"manager", "assessor"})


class KpiRefused(Exception):
    """A question the caller may not ask or we cannot read: HTTP status, code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ---------------------------------------------------------------------------- facts


_milestones: dict[str, kpi.Milestones] = {}


def milestones_of(defn: ProcessDefinition) -> kpi.Milestones:
    """Where this definition's phases end (respond/arrive clock stops, done and dropped states)."""
    if defn.version not in _milestones:
        stops = {c.name: c.stops_in for c in defn.clocks}
        done = {"completed"} | {
            t.target
            for t in defn.transitions.values()
            if "completed" in t.sources and t.target in defn.final_states
        }
        _milestones[defn.version] = kpi.Milestones(
            respond=frozenset(stops.get("respond", ())),
            arrive=frozenset(stops.get("arrive", ())),
            done=frozenset(s for s in done if s),
            dropped=frozenset(defn.final_states - done),
            paused=frozenset(s for c in defn.clocks for s in c.paused_in),
        )
    return _milestones[defn.version]


async def _building_of(room_id: int | None) -> int | None:
    if room_id is None:
        return None
    found = await statements.rows(
        Room,
        "SELECT u.building_id FROM rooms r JOIN units u ON u.id = r.unit_id WHERE r.id = $1",
        room_id,
    )
    return int(found[0]["building_id"]) if found else None


async def refresh_facts(
    task: Task, defn: ProcessDefinition, tz: ZoneInfo, *, new: bool = False
) -> None:
    """Rewrite the task's fact row from its events; call inside the transition's transaction.

    `new`: the task was created in this transaction, so there is no row to update yet.
    """
    rows = await statements.rows(
        TaskEvent,
        "SELECT action, from_state, to_state, at, actor_id, actor_kind, data FROM task_events"
        " WHERE task_id = $1 ORDER BY id",
        task.id,
    )
    events = []
    for r in rows:
        data = statements.loaded(TaskEvent, "data", r["data"])
        events.append(
            kpi.Event(
                r["action"],
                r["from_state"],
                r["to_state"],
                statements.loaded(TaskEvent, "at", r["at"]),
                r["actor_id"] if r["actor_kind"] == "staff" else None,
                data if isinstance(data, dict) else None,
            )
        )
    facts = kpi.task_facts(
        created_at=task.created_at,
        state=task.state,
        events=events,
        milestones=milestones_of(defn),
        resolve_by=task.resolve_by,
        score=task.score,
        assignee_id=task.assignee_id,
    )
    day = kpi.local_day(task.created_at, tz)
    values: dict[str, Any] = {
        "community_id": task.community_id,
        "department_id": task.department_id,
        "assignee_id": facts.handler_id,
        "kind": task.kind,
        "category": task.category,
        "place": task.place,
        "state": task.state,
        "day": day,
        "week": kpi.week_start(day),
        "month": kpi.month_start(day),
        "counted": facts.counted,
        "completed": facts.completed,
        "ever_completed": facts.ever_completed,
        "on_time": facts.resolved_on_time,
        "due_ts": int(facts.due_at.timestamp()) if facts.due_at else None,
        "checkin_on_time": facts.checked_in_on_time,
        "response_s": facts.response_s,
        "arrival_s": facts.arrival_s,
        "resolution_s": facts.resolution_s,
        "held_s": facts.held_s,
        "score": facts.score,
        "excellent": facts.excellent,
        "reworked": facts.reworked,
        "reopened": facts.reopened,
        "updated_at": task.updated_at,
    }
    row = TaskFact(task_id=task.id, **values)
    if not new:
        # cost is not derived from events (set_cost records it): an update leaves it alone, and
        # the building too: a task never changes room. Saving the named fields of an instance
        # runs tortoise's cached UPDATE; a QuerySet.update would build 25 SET clauses each time.
        try:
            await row.save(update_fields=list(values), force_update=True)
            return
        except IntegrityError:  # no row yet: a task from before KPI facts were kept
            pass
    row.building_id = await _building_of(task.room_id)
    await row.save(force_create=True)


async def set_cost(ref: str, cost: Any, now: datetime) -> TaskFact:
    """Record what a completed task cost (yuan, 2 decimals): materials and outside work."""
    digits = ref.strip().upper().removeprefix("T")
    task_id = int(digits) - REF_OFFSET if digits.isdigit() else 0
    row = await TaskFact.get_or_none(task_id=task_id)
    if row is None:
        raise KpiRefused(404, "not_found", f"no task {ref}")
    if not row.ever_completed:
        raise KpiRefused(409, "not_completed", "a cost is recorded once the task is completed")
    try:
        amount = Decimal(str(cost)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise KpiRefused(400, "bad_cost", "cost must be a number of yuan") from None
    if not Decimal(0) <= amount <= MAX_COST:
        raise KpiRefused(400, "bad_cost", "cost must be between 0 and 9999999999.99 yuan")
    row.cost, row.updated_at = amount, now
    await row.save(update_fields=["cost", "updated_at"])
    return row


# ---------------------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class Filters:
    """Which fact rows a question covers. None = no restriction on that column."""

    first: date
    last: date
    community_ids: frozenset[int] | None = None
    department_id: int | None = None
    assignee_id: int | None = None
    building_id: int | None = None
    category: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class Subject:
    """What a KPI question is about, as shown to people."""

    scope: str
    id: int
    name: str


async def _communities_of(staff: Staff) -> frozenset[int] | None:
    if staff.all_communities:
        return None
    return frozenset(c.id for c in await staff.communities.all())


async def subject_of(scope: str, ident: str, viewer: Staff) -> Subject:
    """The person, department or community `ident` names (id, employee no, code); 404 if none."""
    ident = ident.strip()
    if scope == "person":
        staff = viewer if not ident else None
        if ident:
            query = Q(employee_no=ident) | (Q(id=int(ident)) if ident.isdigit() else Q())
            staff = await Staff.filter(query).first()
        if staff is None:
            raise KpiRefused(404, "not_found", "no such person")
        return Subject("person", staff.id, staff.name)
    if scope == "department":
        query = Q(code=ident) | (Q(id=int(ident)) if ident.isdigit() else Q())
        dept = await Department.filter(query).first() if ident else None
        if dept is None and not ident:
            dept = await Department.get(id=viewer.department_id)
        if dept is None:
            raise KpiRefused(404, "not_found", "no such department")
        return Subject("department", dept.id, dept.name)
    if scope == "community":
        query = Q(code=ident) | (Q(id=int(ident)) if ident.isdigit() else Q())
        community = await Community.filter(query).first() if ident else None
        if community is None:
            raise KpiRefused(404, "not_found", "no such community")
        return Subject("community", community.id, community.name)
    raise KpiRefused(400, "bad_scope", "scope must be person, department or community")


async def scope_filters(viewer: Staff, subject: Subject, first: date, last: date) -> Filters:
    """The rows `viewer` may see about `subject`: staff their own, leads their department's
    people, managers and assessors everything in their communities; contractors their own."""
    from server.actions.tasks import is_external  # tasks imports this module

    communities = await _communities_of(viewer)
    base = Filters(first, last, community_ids=communities)
    own = subject.scope == "person" and subject.id == viewer.id
    if own:
        return replace(base, assignee_id=viewer.id)
    external = await is_external(viewer)
    if viewer.role == "lead" and not external:
        if subject.scope == "department" and subject.id == viewer.department_id:
            return replace(base, department_id=subject.id)
        if subject.scope == "person":
            person = await Staff.get(id=subject.id)
            if person.department_id == viewer.department_id:
                return replace(base, assignee_id=subject.id)
    if viewer.role in OVERSEERS and not external:
        if subject.scope == "person":
            return replace(base, assignee_id=subject.id)
        if subject.scope == "department":
            return replace(base, department_id=subject.id)
        if communities is not None and subject.id not in communities:
            raise KpiRefused(404, "not_found", "no such community in your scope")
        return replace(base, community_ids=frozenset({subject.id}))
    raise KpiRefused(403, "forbidden", "your role may not see these figures")


async def viewer_filters(viewer: Staff, first: date, last: date) -> Filters:
    """Everything `viewer` may see in reports: leads their department, overseers their estates."""
    communities = await _communities_of(viewer)
    base = Filters(first, last, community_ids=communities)
    from server.actions.tasks import is_external

    if await is_external(viewer) or viewer.role not in (OVERSEERS | {"lead"}):
        raise KpiRefused(403, "forbidden", "your role may not see reports")
    if viewer.role == "lead":
        return replace(base, department_id=viewer.department_id)
    return base


# ---------------------------------------------------------------------------- SQL


def _dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


class _Sql:
    """Placeholders in the connection's dialect ($1 on PostgreSQL, ? on SQLite)."""

    def __init__(self) -> None:
        self.pg = _dialect() == "postgres"
        self.params: list[Any] = []

    def add(self, value: Any) -> str:
        if isinstance(value, date) and not self.pg:
            value = value.isoformat()
        self.params.append(value)
        return f"${len(self.params)}" if self.pg else "?"


def _flag(column: str) -> str:
    return f"SUM(CASE WHEN {column} THEN 1 ELSE 0 END)"


def _totals_sql(sql: _Sql, now: datetime) -> str:
    """SELECT list computing server.domain.kpi.Totals, one column per field."""
    due = sql.add(int(now.timestamp()))
    parts = {
        "tasks": "COUNT(*)",
        "completed": _flag("completed"),
        "ever_completed": _flag("ever_completed"),
        "on_time": _flag("on_time"),
        "timed": "COUNT(on_time)",
        "overdue_open": f"SUM(CASE WHEN due_ts < {due} THEN 1 ELSE 0 END)",
        "checkins": "COUNT(checkin_on_time)",
        "checkins_on_time": _flag("checkin_on_time"),
        "rated": "COUNT(excellent)",
        "excellent": _flag("excellent"),
        "reworked": _flag("reworked"),
        "reopened": _flag("reopened"),
        "response_n": "COUNT(response_s)",
        "response_sum": "SUM(response_s)",
        "arrival_n": "COUNT(arrival_s)",
        "arrival_sum": "SUM(arrival_s)",
        "resolution_n": "COUNT(resolution_s)",
        "resolution_sum": "SUM(resolution_s)",
        "score_n": "COUNT(score)",
        "score_sum": "SUM(score)",
        "cost_n": "COUNT(cost)",
        "cost_sum": "SUM(cost)",
    }
    return ", ".join(f"{expr} AS {name}" for name, expr in parts.items())


def _where(sql: _Sql, f: Filters) -> str:
    """WHERE for `f`; the day range goes next to the scope column so one index serves both."""
    conds = ["counted = " + ("TRUE" if sql.pg else "1")]
    if f.assignee_id is not None:
        conds.append(f"assignee_id = {sql.add(f.assignee_id)}")
    if f.department_id is not None:
        conds.append(f"department_id = {sql.add(f.department_id)}")
    if f.community_ids is not None:
        ids = sorted(f.community_ids) or [0]
        conds.append(f"community_id IN ({', '.join(sql.add(i) for i in ids)})")
    conds.append(f"day BETWEEN {sql.add(f.first)} AND {sql.add(f.last)}")
    if f.building_id is not None:
        conds.append(f"building_id = {sql.add(f.building_id)}")
    if f.category is not None:
        conds.append(f"category = {sql.add(f.category)}")
    if f.kind is not None:
        conds.append(f"kind = {sql.add(f.kind)}")
    return " AND ".join(conds)


def _totals(row: dict[str, Any]) -> kpi.Totals:
    clean = {k: (float(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
    return kpi.Totals.of(clean)


async def totals(f: Filters, now: datetime) -> kpi.Totals:
    """The Totals of every fact row `f` covers."""
    sql = _Sql()
    select = _totals_sql(sql, now)
    query = f"SELECT {select} FROM task_facts WHERE {_where(sql, f)}"
    rows = await connections.get("default").execute_query_dict(query, sql.params)
    return _totals(rows[0])


# dimension -> fact column; the caller picks a name, never a column
DIMENSIONS = {
    "community": "community_id",
    "building": "building_id",
    "department": "department_id",
    "assignee": "assignee_id",
    "category": "category",
    "place": "place",
    "day": "day",
    "week": "week",
    "month": "month",
}
# measure -> the Kpis field it reads
MEASURES = {
    "count": "tasks",
    "completed": "completed",
    "timely_ratio": "timely_ratio",
    "completion_ratio": "completion_ratio",
    "excellence_rate": "excellence_rate",
    "mean_resolution_s": "mean_resolution_s",
    "mean_score": "mean_score",
    "cost": "cost",
}


@dataclass(frozen=True)
class Group:
    key: str
    name: str
    kpis: kpi.Kpis


async def grouped(dimension: str, f: Filters, now: datetime, limit: int = 500) -> list[Group]:
    """KPIs per value of `dimension` (a DIMENSIONS name), largest groups first."""
    column = DIMENSIONS.get(dimension)
    if column is None:
        raise KpiRefused(400, "bad_dimension", f"dimension must be one of {', '.join(DIMENSIONS)}")
    sql = _Sql()
    select = _totals_sql(sql, now)
    where = _where(sql, f)
    order = "k" if dimension in ("day", "week", "month") else "tasks DESC, k"
    query = (
        f"SELECT {column} AS k, {select} FROM task_facts WHERE {where} "
        f"GROUP BY {column} ORDER BY {order} LIMIT {int(limit)}"
    )
    rows = await connections.get("default").execute_query_dict(query, sql.params)
    keys = [r.pop("k") for r in rows]
    names = await _names(dimension, keys)
    return [
        Group(_key(k), names.get(k, _key(k)), kpi.kpis(_totals(r)))
        for k, r in zip(keys, rows, strict=True)
    ]


def _key(value: Any) -> str:
    return "" if value is None else str(value)[:10] if isinstance(value, date) else str(value)


async def _names(dimension: str, keys: Sequence[Any]) -> dict[Any, str]:
    """What people call each group: a community's name, a building's number, a person's name."""
    ids = [k for k in keys if k is not None]
    if dimension == "community":
        return {c.id: c.name for c in await Community.filter(id__in=ids)}
    if dimension == "building":
        return {
            b.id: f"{b.community.name} {b.name}"
            for b in await Building.filter(id__in=ids).prefetch_related("community")
        }
    if dimension == "department":
        return {d.id: d.name for d in await Department.filter(id__in=ids)}
    if dimension == "assignee":
        return {s.id: s.name for s in await Staff.filter(id__in=ids)}
    if dimension == "category":
        return {k: label("category", k) for k in ids}
    return {}


@dataclass(frozen=True)
class SummaryItem:
    ref: str
    category: str
    place: str
    state: str
    day: str
    resolution_s: int | None
    score: int | None
    on_time: bool | None
    reworked: bool
    cost: float | None


async def summary_items(f: Filters, limit: int = 100) -> list[SummaryItem]:
    """The tasks behind a summary, newest first: what was done, how long, how rated."""
    query = TaskFact.filter(counted=True, day__gte=f.first, day__lte=f.last)
    if f.assignee_id is not None:
        query = query.filter(assignee_id=f.assignee_id)
    if f.department_id is not None:
        query = query.filter(department_id=f.department_id)
    if f.community_ids is not None:
        query = query.filter(community_id__in=sorted(f.community_ids))
    rows = await query.order_by("-day", "-task_id").limit(limit)
    return [
        SummaryItem(
            ref=f"T{r.task_id + REF_OFFSET}",
            category=label("category", r.category),
            place=r.place,
            state=label("state", r.state),
            day=str(r.day),
            resolution_s=r.resolution_s,
            score=r.score,
            on_time=r.on_time,
            reworked=r.reworked,
            cost=float(r.cost) if r.cost is not None else None,
        )
        for r in rows
    ]


def today(tz: ZoneInfo) -> date:
    return kpi.local_day(datetime.now(UTC), tz)


def period_of(period: str, at: str, tz: ZoneInfo) -> tuple[date, date]:
    """period_range with its errors as a 400."""
    try:
        return kpi.period_range(period, at, today(tz))
    except kpi.PeriodError as exc:
        raise KpiRefused(400, "bad_period", str(exc)) from None
