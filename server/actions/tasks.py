"""Task use cases: create, route, fire transitions, run SLA timers — each in one transaction.

Every change writes the task row, an immutable TaskEvent, the timer rows and the outbox rows
together, so a crash leaves either all of it or none of it (DESIGN.md, "Process engine").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.actions.notify import Recipient, enqueue
from server.db.estate import Community, Room
from server.db.people import Department, Resident, Staff
from server.db.tasks import REF_OFFSET, Photo, ProcessVersion, RoutingCursor, Task, TaskEvent, Timer
from server.domain import sla
from server.domain.geo import InvalidCoordinates, check_geofence
from server.domain.process import (
    PASS_MIN,
    Facts,
    ProcessDefinition,
    Refusal,
    decide,
    load_definition,
)
from server.domain.routing import DepartmentInfo, StaffInfo, department_for, pick_assignee
from server.processes import load_processes
from templates_msg import label, render_text

RATING_TIMER = "rating.close"


class TaskRefused(Exception):
    """A move the rules do not allow; `code` names a templates_msg text (refused_<code>)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Actor:
    """Who does something: system, a staff member (with role) or a resident."""

    kind: str
    id: int | None = None
    name: str = ""
    role: str = ""

    @classmethod
    def of_staff(cls, staff: Staff) -> Actor:
        return cls("staff", staff.id, staff.name, staff.role)

    @classmethod
    def of_resident(cls, resident: Resident) -> Actor:
        return cls("resident", resident.id, resident.name, "resident")


SYSTEM = Actor("system", None, "", "system")


@dataclass
class Move:
    """What the caller brings to a transition besides who they are."""

    lat: float | None = None
    lng: float | None = None
    accuracy_m: float | None = None
    photo_ids: list[int] = field(default_factory=list)
    score: int | None = None
    comment: str = ""
    reason: str = ""
    note: str = ""
    assignee_id: int | None = None


# ---------------------------------------------------------------------------- definitions


@cache
def current_definitions() -> dict[str, ProcessDefinition]:
    return load_processes()


_by_version: dict[tuple[str, str], ProcessDefinition] = {}


def definition_of(version: ProcessVersion) -> ProcessDefinition:
    """The definition a task started on (running tasks keep their version), parsed once."""
    key = (version.kind, version.version)
    if key not in _by_version:
        _by_version[key] = load_definition(version.definition)
    return _by_version[key]


async def current_version(kind: str) -> tuple[ProcessDefinition, ProcessVersion]:
    defn = current_definitions().get(kind)
    if defn is None:
        raise TaskRefused("unknown_kind", kind)
    row, _ = await ProcessVersion.get_or_create(
        kind=kind, version=defn.version, defaults={"definition": dict(defn.raw)}
    )
    return defn, row


# ---------------------------------------------------------------------------- lookups


def parse_ref(ref: str) -> int | None:
    """Task id from `T1042` or `1042`; None when it cannot be one of ours."""
    digits = ref.strip().upper().removeprefix("T")
    if not digits.isdigit() or int(digits) <= REF_OFFSET:
        return None
    return int(digits) - REF_OFFSET


async def get_task(ref: str) -> Task:
    task_id = parse_ref(ref)
    task = await Task.get_or_none(id=task_id) if task_id else None
    if task is None:
        raise TaskRefused("no_such_task", ref)
    return task


def place_text(task: Task, room: Room | None) -> str:
    if room is not None:
        return render_text("place_room", building=room.unit.building.name, unit=room.unit.name,
                           room=room.number)
    return task.place


async def message_values(task: Task, tz: ZoneInfo) -> dict[str, Any]:
    """The variables every task message may use (templates_msg/catalog.yaml)."""
    await task.fetch_related("room__unit__building", "assignee")
    deadline = task.resolve_by or task.arrive_by
    return {
        "ref": task.ref,
        "place": place_text(task, task.room),
        "category_name": label("category", task.category),
        "description": task.description,
        "deadline": deadline.astimezone(tz).strftime("%m-%d %H:%M") if deadline else "",
        "staff_name": task.assignee.name if task.assignee else "",
        "assignee_name": task.assignee.name if task.assignee else "",
    }


# ---------------------------------------------------------------------------- create


async def create_task(
    *,
    community: Community,
    category: str,
    source: str,
    now: datetime,
    tz: ZoneInfo,
    kind: str = "repair",
    urgency: str = "normal",
    room: Room | None = None,
    place: str = "",
    description: str = "",
    visit_time: str = "",
    reporter: Resident | None = None,
    reporter_openid: str = "",
    created_by: Staff | None = None,
    photo_ids: list[int] | None = None,
) -> Task:
    """Record a new task, start its clocks, route it and tell the assignee — one transaction."""
    defn, version = await current_version(kind)
    if urgency not in defn.urgencies:
        raise TaskRefused("bad_urgency", urgency)
    if room is None and not place:
        raise TaskRefused("needs_place")
    async with in_transaction():
        task = await Task.create(
            kind=kind, process=version, state=defn.initial, category=category, urgency=urgency,
            community=community, room=room, place=place[:64], description=description,
            visit_time=visit_time[:64], source=source, reporter=reporter,
            reporter_openid=reporter_openid, created_by=created_by, created_at=now, updated_at=now,
        )
        if photo_ids:
            await Photo.filter(id__in=photo_ids, task_id=None).update(task_id=task.id)
        actor = Actor.of_staff(created_by) if created_by else (
            Actor.of_resident(reporter) if reporter else SYSTEM)
        await _event(task, "submit", "", defn.initial, actor, now, note=description,
                     photo_ids=photo_ids or [])
        await _start_clocks(task, defn, defn.initial, now)
        await _route(task, defn, now, tz)
    return task


async def _route(task: Task, defn: ProcessDefinition, now: datetime, tz: ZoneInfo) -> None:
    """Department by category, then the next person round-robin in that community."""
    departments = await Department.all()
    infos = [DepartmentInfo(d.id, d.code, d.kind, frozenset(filter(None, d.handles.split(";"))))
             for d in departments]
    chosen = department_for(task.category, infos)
    if chosen is None:
        await _event(task, "unrouted", task.state, task.state, SYSTEM, now,
                     note=f"no department handles {task.category}")
        return
    task.department_id = chosen.id  # type: ignore[attr-defined]
    staff = await Staff.filter(
        Q(department_id=chosen.id) & Q(role__in=["staff", "lead"])
        & (Q(all_communities=True) | Q(communities__id=task.community_id))  # type: ignore[attr-defined]
    ).distinct()
    cursor, _ = await RoutingCursor.get_or_create(department_id=chosen.id,
                                                  community_id=task.community_id)  # type: ignore[attr-defined]
    cursor = await RoutingCursor.filter(id=cursor.id).select_for_update().get()
    person = pick_assignee([StaffInfo(s.id, s.role, chosen.id) for s in staff],
                           cursor.last_staff_id)
    if person is None:
        await task.save(update_fields=["department_id"])
        await _event(task, "unrouted", task.state, task.state, SYSTEM, now,
                     note=f"nobody in {chosen.code} serves this community")
        return
    cursor.last_staff_id = person.id
    await cursor.save(update_fields=["last_staff_id"])
    await _apply(task, defn, "assign", SYSTEM, Move(assignee_id=person.id), now, tz)


# ---------------------------------------------------------------------------- transitions


def rating_transition(score: int | None) -> str:
    """A satisfied score closes the task, an unsatisfied one reopens it (article 3.2)."""
    return "rate" if score is not None and score >= PASS_MIN else "rate_low"


async def fire(ref: str, transition: str, actor: Actor, move: Move, *, now: datetime,
               tz: ZoneInfo) -> Task:
    """Fire `transition` on task `ref` for `actor`; raises TaskRefused with a reason code."""
    task_id = parse_ref(ref)
    if task_id is None:
        raise TaskRefused("no_such_task", ref)
    async with in_transaction():
        task = await Task.filter(id=task_id).select_for_update().first()
        if task is None:
            raise TaskRefused("no_such_task", ref)
        await task.fetch_related("process", "community")
        await _check_scope(task, actor)
        defn = definition_of(task.process)
        await _apply(task, defn, transition, actor, move, now, tz)
    return task


async def _check_scope(task: Task, actor: Actor) -> None:
    """Staff act only on tasks of their communities; residents only on their own reports."""
    if actor.kind == "staff":
        staff = await Staff.get(id=actor.id).prefetch_related("communities")
        if not staff.all_communities and task.community_id not in {  # type: ignore[attr-defined]
            c.id for c in staff.communities
        }:
            raise TaskRefused("no_such_task", task.ref)
    elif actor.kind == "resident" and task.reporter_id != actor.id:  # type: ignore[attr-defined]
        raise TaskRefused("no_such_task", task.ref)


async def _facts(task: Task, defn: ProcessDefinition, actor: Actor, move: Move,
                 now: datetime) -> Facts:
    roles = {actor.role} if actor.role else set()
    if actor.kind == "staff" and task.assignee_id == actor.id:  # type: ignore[attr-defined]
        roles.add("assignee")
    if actor.kind == "resident" and task.reporter_id == actor.id:  # type: ignore[attr-defined]
        roles.add("reporter")
    inside = None
    if move.lat is not None and move.lng is not None:
        community = task.community
        try:
            inside = check_geofence(community.lat, community.lng, community.radius_m,
                                    move.lat, move.lng, move.accuracy_m).inside
        except InvalidCoordinates as exc:
            raise TaskRefused("bad_location", str(exc)) from None
    photos = await Photo.filter(task_id=task.id).count()
    window_over = (task.completed_at is not None
                   and now >= sla.rating_closes_at(defn, task.completed_at))
    return Facts(
        actor_roles=frozenset(roles), checked_in=task.on_site_at is not None,
        photo_count=photos + len(move.photo_ids), inside_geofence=inside, score=move.score,
        reason=move.reason or None, note=move.note or None, rating_window_over=window_over,
    )


async def _apply(task: Task, defn: ProcessDefinition, name: str, actor: Actor, move: Move,
                 now: datetime, tz: ZoneInfo) -> None:
    decision = decide(defn, task.state, name, await _facts(task, defn, actor, move, now))
    if isinstance(decision, Refusal):
        raise TaskRefused(decision.code, decision.detail)
    before = task.state
    after = decision.next_state(before)
    previous_assignee = task.assignee_id  # type: ignore[attr-defined]
    if name in ("assign", "reassign"):
        task.assignee_id = move.assignee_id  # type: ignore[attr-defined]
    if name == "rate_low" or name == "rework":
        await _hand_to_lead(task)
    if move.photo_ids:
        await Photo.filter(id__in=move.photo_ids, task_id=None).update(task_id=task.id)
    data: dict[str, Any] = {}
    if after == "accepted" and before != after:
        task.accepted_at = now
    if after == "on_site" and before != after:
        task.on_site_at = now
        task.arrived_late = task.arrive_by is not None and not sla.is_on_time(task.arrive_by, now)
        data["late"] = task.arrived_late
    if after == "completed":
        task.completed_at = now
    if name in ("rate", "rate_low"):
        task.score, task.rating_comment = move.score, move.comment[:200]
        data["score"] = move.score
    if after in defn.final_states:
        task.closed_at = now
    task.state = after
    task.updated_at = now
    await task.save()
    await _event(task, name, before, after, actor, now,
                 note=move.reason or move.note or move.comment, lat=move.lat, lng=move.lng,
                 photo_ids=move.photo_ids, data=data)
    if before != after:
        await _stop_clocks(task, defn, after)
        await _start_clocks(task, defn, after, now)
    await _effects(task, defn, decision.effects, name, actor, now, tz, previous_assignee, move)


async def _hand_to_lead(task: Task) -> None:
    """A reopened task goes to the department lead (article 3.2: unsatisfied residents)."""
    lead = await Staff.filter(department_id=task.department_id, role="lead").order_by("id").first()  # type: ignore[attr-defined]
    if lead is not None:
        task.assignee_id = lead.id  # type: ignore[attr-defined]


async def _event(task: Task, action: str, before: str, after: str, actor: Actor, now: datetime,
                 *, note: str = "", lat: float | None = None, lng: float | None = None,
                 photo_ids: list[int] | None = None, data: dict[str, Any] | None = None) -> None:
    await TaskEvent.create(
        task=task, action=action, from_state=before, to_state=after, actor_kind=actor.kind,
        actor_id=actor.id, actor_name=actor.name, note=note, lat=lat, lng=lng,
        photo_ids=photo_ids or [], data=data or {}, at=now,
    )


# ---------------------------------------------------------------------------- clocks


async def _start_clocks(task: Task, defn: ProcessDefinition, state: str, now: datetime) -> None:
    deadlines = sla.clock_deadlines(defn, task.urgency, now, starting_in=state)
    for clock, due_at in deadlines.items():
        setattr(task, f"{clock}_by", due_at)
    if deadlines:
        await task.save(update_fields=[f"{c}_by" for c in deadlines])
    for clock, kind, due_at in sla.timer_plan(defn, task.urgency, now, starting_in=state):
        await _schedule(task, f"{clock}.{kind}", due_at)
    if state == "completed":
        await _schedule(task, RATING_TIMER, sla.rating_closes_at(defn, now))


async def _schedule(task: Task, name: str, due_at: datetime) -> None:
    await Timer.update_or_create(
        task=task, name=name,
        defaults={"due_at": due_at, "fired_at": None, "cancelled": False, "attempts": 0,
                  "lock_owner": None, "lock_expires_at": None, "last_error": ""},
    )


async def _stop_clocks(task: Task, defn: ProcessDefinition, state: str) -> None:
    names = [f"{spec.name}.{kind}" for spec in sla.clocks_stopping_in(defn, state)
             for kind in ("warn", "breach")]
    if state != "completed":
        names.append(RATING_TIMER)  # rated, reopened or cancelled: nobody waits for a rating
    if names:
        await Timer.filter(task_id=task.id, name__in=names, fired_at=None).update(cancelled=True)


async def fire_timer(timer_id: int, *, now: datetime, tz: ZoneInfo) -> bool:
    """Run one due timer exactly once in effect; False when it was already done or cancelled."""
    async with in_transaction():
        timer = await Timer.filter(id=timer_id).select_for_update().first()
        if timer is None or timer.fired_at is not None or timer.cancelled:
            return False
        task = await Task.filter(id=timer.task_id).select_for_update().get()  # type: ignore[attr-defined]
        await task.fetch_related("process", "community")
        defn = definition_of(task.process)
        timer.fired_at = now
        timer.lock_owner = timer.lock_expires_at = None
        await timer.save(update_fields=["fired_at", "lock_owner", "lock_expires_at"])
        if timer.name == RATING_TIMER:
            await _apply(task, defn, "close_unrated", SYSTEM, Move(), now, tz)
            return True
        clock, kind = timer.name.split(".", 1)
        values = await message_values(task, tz)
        deadline_at = getattr(task, f"{clock}_by", None)
        values.update(clock_name=label("clock", clock),
                      deadline=deadline_at.astimezone(tz).strftime("%m-%d %H:%M")
                      if deadline_at else "")
        action = "sla_warning" if kind == "warn" else "sla_breach"
        await _event(task, action, task.state, task.state, SYSTEM, now,
                     data={"clock": clock, "due_at": timer.due_at.isoformat()})
        recipients = await _assignee(task)
        if kind == "breach":
            recipients += await _department_leads(task)
        message = "breach_warning" if kind == "warn" else "task_breached"
        for to in recipients:
            await enqueue(message, to, values, key=f"timer:{timer.id}:{to.kind}:{to.id}", now=now)
    return True


# ---------------------------------------------------------------------------- effects


async def _assignee(task: Task) -> list[Recipient]:
    staff = await Staff.get_or_none(id=task.assignee_id) if task.assignee_id else None  # type: ignore[attr-defined]
    return [Recipient.of_staff(staff)] if staff else []


async def _department_leads(task: Task) -> list[Recipient]:
    if not task.department_id:  # type: ignore[attr-defined]
        return []
    leads = await Staff.filter(
        Q(department_id=task.department_id) & Q(role="lead")  # type: ignore[attr-defined]
        & (Q(all_communities=True) | Q(communities__id=task.community_id))  # type: ignore[attr-defined]
    ).distinct()
    return [Recipient.of_staff(s) for s in leads]


async def _reporter(task: Task) -> list[Recipient]:
    resident = await Resident.get_or_none(id=task.reporter_id) if task.reporter_id else None  # type: ignore[attr-defined]
    if resident:
        return [Recipient.of_resident(resident)]
    if task.reporter_openid:
        return [Recipient("resident", None, task.reporter_openid, "")]
    return []


async def _customer_service(task: Task) -> list[Recipient]:
    people = await Staff.filter(
        Q(role="customer_service")
        & (Q(all_communities=True) | Q(communities__id=task.community_id))  # type: ignore[attr-defined]
    ).distinct()
    return [Recipient.of_staff(s) for s in people]


# (transition, effect) -> (message kind, who gets it). Effects absent here need no message:
# e.g. the resident already read the reference in the bot's reply when a task was assigned.
EFFECT_MESSAGES = {
    ("assign", "notify_assignee"): ("task_assigned", _assignee),
    ("reassign", "notify_assignee"): ("task_assigned", _assignee),
    ("accept", "notify_reporter"): ("task_accepted", _reporter),
    ("complete", "request_rating"): ("rate_request", _reporter),
    ("rate_low", "notify_lead"): ("task_reopened", _assignee),
    ("rework", "notify_lead"): ("task_reopened", _assignee),
    ("close_unrated", "request_callback"): ("callback_needed", _customer_service),
    ("cancel", "notify_assignee"): ("task_cancelled", _assignee),
    ("urge", "notify_assignee"): ("task_urged", _assignee),
}


async def _effects(task: Task, defn: ProcessDefinition, effects: tuple[str, ...], name: str,
                   actor: Actor, now: datetime, tz: ZoneInfo, previous_assignee: int | None,
                   move: Move) -> None:
    values: dict[str, Any] | None = None
    event_id = await TaskEvent.filter(task_id=task.id).order_by("-id").values_list("id", flat=True)
    for effect in effects:
        spec = EFFECT_MESSAGES.get((name, effect))
        if spec is None:
            continue
        kind, who = spec
        if values is None:
            values = await message_values(task, tz)
            values.update(score=move.score or "", comment=move.comment)
        for to in await who(task):
            await enqueue(kind, to, values, key=f"event:{event_id[0]}:{kind}:{to.kind}:{to.id}",
                          now=now)


# ---------------------------------------------------------------------------- visit time


async def set_visit_time(ref: str, resident: Resident, text: str, now: datetime, *,
                         window: tuple[datetime, datetime] | None = None) -> Task:
    """The reporter's preferred visit time, given after the report: stored and audited."""
    task_id = parse_ref(ref)
    if task_id is None:
        raise TaskRefused("no_such_task", ref)
    async with in_transaction():
        task = await Task.filter(id=task_id).select_for_update().first()
        if task is None or task.reporter_id != resident.id:  # type: ignore[attr-defined]
            raise TaskRefused("no_such_task", ref)
        await task.fetch_related("process")
        if task.state in definition_of(task.process).final_states:
            raise TaskRefused("wrong_state", f"{ref} is {task.state}")
        task.visit_time = text[:64]
        task.updated_at = now
        await task.save(update_fields=["visit_time", "updated_at"])
        data = {"from": window[0].isoformat(), "to": window[1].isoformat()} if window else {}
        await _event(task, "visit_time", task.state, task.state, Actor.of_resident(resident), now,
                     note=text[:64], data=data)
    return task
