"""Task use cases: create, route, fire transitions, run SLA timers — each in one transaction.

Every change writes the task row, an immutable TaskEvent, the timer rows and the outbox rows
together, so a crash leaves either all of it or none of it (DESIGN.md, "Process engine").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.actions import fees as fee_actions
from server.actions.clocks import department_by_category, enter_state, set_deadline
from server.actions.kpi import refresh_facts
from server.actions.notify import Recipient, enqueue
from server.db import statements
from server.db.estate import Community, Room
from server.db.people import Department, Resident, Staff
from server.db.tasks import REF_OFFSET, Photo, ProcessVersion, RoutingCursor, Task, TaskEvent
from server.domain import sla
from server.domain.geo import InvalidCoordinates, check_geofence
from server.domain.process import (
    OUTCOME_REFUSALS,
    PASS_MIN,
    Facts,
    ProcessDefinition,
    Refusal,
    Transition,
    decide,
    load_definition,
)
from server.domain.routing import StaffInfo, pick_assignee
from server.processes import load_processes
from templates_msg import label, render_text


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
    department_id: int | None = None
    # Staff of a contractor are external users: they act only through their relation to a
    # task (assignee, contractor), never through a role name (fire() sets this).
    external: bool = False

    @classmethod
    def of_staff(cls, staff: Staff) -> Actor:
        return cls("staff", staff.id, staff.name, staff.role, staff.department_id)

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
    department_id: int | None = None  # transfer: the department it goes to
    agree: bool | None = None  # an opinion in a negotiation (同意 / 不同意)


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


async def definition_for(task: Task) -> ProcessDefinition:
    """The definition of the task's process version, its JSON read only when not parsed yet."""
    found = await statements.rows(
        ProcessVersion,
        "SELECT kind, version FROM process_versions WHERE id = $1",
        task.process_id,
    )
    key = (found[0]["kind"], found[0]["version"])
    if key not in _by_version:
        return definition_of(await ProcessVersion.get(id=task.process_id))
    return _by_version[key]


async def current_version(kind: str) -> tuple[ProcessDefinition, ProcessVersion]:
    defn = current_definitions().get(kind)
    if defn is None:
        raise TaskRefused("unknown_kind", kind)
    row = await statements.fetch_one(
        ProcessVersion,
        "SELECT * FROM process_versions WHERE kind = $1 AND version = $2",
        kind,
        defn.version,
    )
    if row is None:  # the first task since this version was deployed
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


async def locked_task(task_id: int) -> tuple[Task, ProcessDefinition] | None:
    """The task row locked for this transaction, and its definition.

    FOR UPDATE OF tasks alone, so transitions never wait on another row. The process
    version is read after the lock, not joined: a version migration may have just changed the
    task's process_id, and PostgreSQL rechecks a locked row's joins against the old join row
    (tests/bench/bench_migration.py caught an accept reading no process).
    """
    task = await statements.fetch_one(
        Task, "SELECT * FROM tasks WHERE id = $1" + statements.for_update(Task), task_id
    )
    if task is None:
        return None
    return task, await definition_for(task)


async def get_task(ref: str) -> Task:
    task_id = parse_ref(ref)
    task = await Task.get_or_none(id=task_id) if task_id else None
    if task is None:
        raise TaskRefused("no_such_task", ref)
    return task


def place_text(task: Task, room: Room | None) -> str:
    if room is not None:
        return _room_text(room.unit.building.name, room.unit.name, room.number)
    return task.place


def _room_text(building: str, unit: str, room: str) -> str:
    return render_text("place_room", building=building, unit=unit, room=room)


async def message_values(task: Task, tz: ZoneInfo) -> dict[str, Any]:
    """The variables every task message may use (templates_msg/catalog.yaml)."""
    place = task.place
    if task.room_id:
        found = await statements.rows(
            Room,
            "SELECT b.name AS building, u.name AS unit, r.number AS room FROM rooms r"
            " JOIN units u ON u.id = r.unit_id JOIN buildings b ON b.id = u.building_id"
            " WHERE r.id = $1",
            task.room_id,
        )
        place = _room_text(**found[0]) if found else place
    assignee = _assignee_in_hand(task)
    if assignee is None and task.assignee_id:
        assignee = await statements.fetch_one(
            Staff, "SELECT * FROM staff WHERE id = $1", task.assignee_id
        )
        task.assignee = assignee  # _assignee reads it back
    deadline = task.resolve_by or task.arrive_by
    return {
        "ref": task.ref,
        "place": place,
        "category_name": label("category", task.category),
        "description": task.description,
        "deadline": deadline.astimezone(tz).strftime("%m-%d %H:%M") if deadline else "",
        "staff_name": assignee.name if assignee else "",
        "assignee_name": assignee.name if assignee else "",
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
    department: Department | None = None,
    contractor: Department | None = None,
    deadline: datetime | None = None,
) -> Task:
    """Record a new task, start its clocks, route it and tell the assignee — one transaction.

    `department` sends it to that department (a manager's instruction: its lead) instead of
    routing by category; `contractor` is the external unit of a contractor job; `deadline`
    replaces the duration of the definition's `deadline_clock`.
    """
    defn, version = await current_version(kind)
    if urgency not in defn.urgencies:
        raise TaskRefused("bad_urgency", urgency)
    if room is None and not place and defn.evidence.check_in:
        raise TaskRefused("needs_place")  # site work: someone must know where to check in
    if defn.negotiation is not None and contractor is None:
        raise TaskRefused("needs_contractor")
    if contractor is not None and contractor.kind != "contractor":
        raise TaskRefused("not_a_contractor", contractor.code)
    if deadline is not None and deadline <= now:
        raise TaskRefused("deadline_past")
    if department is None and defn.negotiation is not None and created_by is not None:
        department = await Department.get(id=created_by.department_id)
    async with in_transaction():
        task = await Task.create(
            kind=kind,
            process=version,
            state=defn.initial,
            category=category,
            urgency=urgency,
            community=community,
            room=room,
            place=place[:64],
            description=description,
            visit_time=visit_time[:64],
            source=source,
            reporter=reporter,
            reporter_openid=reporter_openid,
            created_by=created_by,
            created_at=now,
            updated_at=now,
            department=department,
            contractor=contractor,
            due_at=deadline,
        )
        if photo_ids:
            await _attach_photos(task, photo_ids)
        actor = (
            Actor.of_staff(created_by)
            if created_by
            else (Actor.of_resident(reporter) if reporter else SYSTEM)
        )
        await _event(
            task,
            "submit",
            "",
            defn.initial,
            actor,
            now,
            note=description,
            photo_ids=photo_ids or [],
        )
        await enter_state(task, defn, "", defn.initial, now, tz)
        if deadline is not None and defn.deadline_clock:
            await set_deadline(task, defn, defn.deadline_clock, deadline, tz)
        if not await _held_for_payment(task, defn, now, tz):
            await _dispatch(task, defn, department, now, tz)
        await _hold(task, defn, defn.initial)
        await refresh_facts(task, defn, tz, new=True)
    return task


async def _dispatch(
    task: Task, defn: ProcessDefinition, department: Department | None, now: datetime, tz: ZoneInfo
) -> None:
    """A new (or released) task goes to the named department, else where routing sends it."""
    if department is not None:
        await _send_to_department(task, defn, department, now, tz)
    elif _may(defn, task.state, "assign"):
        await _route(task, defn, now, tz)


async def _held_for_payment(
    task: Task, defn: ProcessDefinition, now: datetime, tz: ZoneInfo
) -> bool:
    """Issue 6: a chargeable in-home service of a household past the arrears thresholds waits
    for payment (state held_for_payment, clocks paused); the resident and billing are told.
    Never shared facilities, safety work or urgent tasks (server.domain.fees.hold_decision)."""
    if not _may(defn, task.state, "hold"):
        return False
    arrears = await fee_actions.hold_for(task, now, tz)
    if arrears is None:
        return False
    overdue = fee_actions.money(arrears.overdue_amount)
    note = f"overdue {overdue} for {arrears.overdue_months} months"
    event_id = await _apply(task, defn, "hold", SYSTEM, Move(note=note), now, tz)
    await fee_actions.tell_hold(task, arrears, await message_values(task, tz), event_id, now)
    return True


def _may(defn: ProcessDefinition, state: str, transition: str) -> bool:
    move = defn.transitions.get(transition)
    return move is not None and state in move.sources


# Staff s serves the community $2: all of them, or it is one of theirs.
_SERVES_COMMUNITY = (
    "(s.all_communities OR EXISTS (SELECT 1 FROM staff_communities c"
    " WHERE c.staff_id = s.id AND c.community_id = $2))"
)


async def _workers_of(department_id: int, community_id: int, roles: tuple[str, ...]) -> list[Staff]:
    """Staff of a department with one of `roles` who serve the community, by id."""
    return await statements.fetch(
        Staff,
        f"SELECT s.* FROM staff s WHERE s.department_id = $1 AND {_SERVES_COMMUNITY}"
        f" AND s.role IN ({statements.placeholders(3, len(roles))}) ORDER BY s.id",
        department_id,
        community_id,
        *roles,
    )


async def _cursor(department_id: int, community_id: int) -> RoutingCursor:
    """The department's round-robin position in the community, locked (created on first use)."""
    locked = "SELECT * FROM routing_cursors WHERE department_id = $1 AND community_id = $2"
    locked += statements.for_update(RoutingCursor)
    found = await statements.fetch_one(RoutingCursor, locked, department_id, community_id)
    if found is None:
        await RoutingCursor.get_or_create(department_id=department_id, community_id=community_id)
        found = await statements.fetch_one(RoutingCursor, locked, department_id, community_id)
    assert found is not None
    return found


async def _round_robin(task: Task, department_id: int) -> Staff | None:
    """The next staff member (lead only when there is no staff) of the department for the task."""
    staff = await _workers_of(department_id, task.community_id, ("staff", "lead"))
    cursor = await _cursor(department_id, task.community_id)
    person = pick_assignee(
        [StaffInfo(s.id, s.role, department_id) for s in staff], cursor.last_staff_id
    )
    if person is None:
        return None
    cursor.last_staff_id = person.id
    await cursor.save(update_fields=["last_staff_id"])
    return next(s for s in staff if s.id == person.id)


async def _send_to_department(
    task: Task, defn: ProcessDefinition, department: Department, now: datetime, tz: ZoneInfo
) -> None:
    """A task for a named department goes to its lead, else round-robin to its staff."""
    task.department_id = department.id
    if not _may(defn, task.state, "assign"):
        return
    leads = await _workers_of(department.id, task.community_id, ("lead",))
    person = leads[0] if leads else await _round_robin(task, department.id)
    if person is None:
        await _event(
            task,
            "unrouted",
            task.state,
            task.state,
            SYSTEM,
            now,
            note=f"nobody in {department.code} serves this community",
        )
        return
    await _assign_to(task, defn, person, now, tz)


async def _route(task: Task, defn: ProcessDefinition, now: datetime, tz: ZoneInfo) -> None:
    """Department by category, then the next person round-robin in that community."""
    chosen = await department_by_category(task.category)
    if chosen is None:
        await _event(
            task,
            "unrouted",
            task.state,
            task.state,
            SYSTEM,
            now,
            note=f"no department handles {task.category}",
        )
        return
    task.department_id = chosen.id
    person = await _round_robin(task, chosen.id)
    if person is None:
        await task.save(update_fields=["department_id"])
        await _event(
            task,
            "unrouted",
            task.state,
            task.state,
            SYSTEM,
            now,
            note=f"nobody in {chosen.code} serves this community",
        )
        return
    await _assign_to(task, defn, person, now, tz)


async def _assign_to(
    task: Task, defn: ProcessDefinition, person: Staff, now: datetime, tz: ZoneInfo
) -> None:
    task.assignee = person  # in hand for the assignee's message: no second read
    await _apply(task, defn, "assign", SYSTEM, Move(assignee_id=person.id), now, tz)


# ---------------------------------------------------------------------------- transitions


def rating_transition(score: int | None) -> str:
    """A satisfied score closes the task, an unsatisfied one reopens it (article 3.2)."""
    return "rate" if score is not None and score >= PASS_MIN else "rate_low"


async def fire(
    ref: str, transition: str, actor: Actor, move: Move, *, now: datetime, tz: ZoneInfo
) -> Task:
    """Fire `transition` on task `ref` for `actor`; raises TaskRefused with a reason code."""
    task_id = parse_ref(ref)
    if task_id is None:
        raise TaskRefused("no_such_task", ref)
    async with in_transaction():
        locked = await locked_task(task_id)
        if locked is None:
            raise TaskRefused("no_such_task", ref)
        task, defn = locked
        actor = await _check_scope(task, actor)
        await _apply(task, defn, transition, actor, move, now, tz)
        await refresh_facts(task, defn, tz)
    return task


async def give_opinion(
    ref: str, actor: Actor, agree: bool, reason: str, *, now: datetime, tz: ZoneInfo
) -> Task:
    """同意 / 不同意 on a negotiation step (article 6.2): the definition picks what follows.

    The transitions leaving the step that take an opinion (guard has_opinion) differ only in
    their outcome guards (everyone agrees, rounds left, rounds spent); the first one `decide`
    allows fires, as a rating picks rate or rate_low.
    """
    task_id = parse_ref(ref)
    if task_id is None:
        raise TaskRefused("no_such_task", ref)
    move = Move(agree=agree, reason=reason.strip()[:500])
    async with in_transaction():
        locked = await locked_task(task_id)
        if locked is None:
            raise TaskRefused("no_such_task", ref)
        task, defn = locked
        actor = await _check_scope(task, actor)
        candidates = [
            t.name
            for t in defn.transitions.values()
            if "has_opinion" in t.guards and task.state in t.sources
        ]
        if not candidates:
            raise TaskRefused("no_opinion_asked", f"{ref} is {task.state}")
        facts = await _facts(task, defn, actor, move, now)
        refusals: list[Refusal] = []
        for name in candidates:
            decision = decide(defn, task.state, name, facts)
            if isinstance(decision, Transition):
                await _apply(task, defn, name, actor, move, now, tz)
                await refresh_facts(task, defn, tz)
                return task
            refusals.append(decision)
        # Tell the person what they can fix (not theirs to answer, no reason given), not which
        # outcome guard happened to fail last.
        shown = next((r for r in refusals if r.code not in OUTCOME_REFUSALS), refusals[0])
        raise TaskRefused(shown.code, shown.detail)


async def is_external(staff: Staff) -> bool:
    """Staff of a contractor (departments.csv kind `contractor`): they see only their own jobs."""
    return await Department.filter(id=staff.department_id, kind="contractor").exists()


def contractor_may_see(task: Task, staff_id: int | None, unit: int) -> bool:
    """An external user's own jobs: their unit's contractor jobs and tasks given to them."""
    return bool(
        task.contractor_id == unit or task.department_id == unit or task.assignee_id == staff_id
    )


async def _check_scope(task: Task, actor: Actor) -> Actor:
    """Staff act only on tasks of their communities (contractors only on their own jobs);
    residents only on their own reports. Returns the actor with what the rules need to know."""
    if actor.kind == "staff":
        found = await statements.rows(
            Staff,
            "SELECT s.department_id, d.kind FROM staff s JOIN departments d"
            f" ON d.id = s.department_id WHERE s.id = $1 AND {_SERVES_COMMUNITY}",
            actor.id,
            task.community_id,
        )
        if not found:
            raise TaskRefused("no_such_task", task.ref)
        unit = found[0]["department_id"]
        external = found[0]["kind"] == "contractor"
        if external and not contractor_may_see(task, actor.id, unit):
            raise TaskRefused("no_such_task", task.ref)
        return replace(actor, department_id=unit, external=external)
    if actor.kind == "resident" and task.reporter_id != actor.id:
        raise TaskRefused("no_such_task", task.ref)
    return actor


def _needs_photos(defn: ProcessDefinition, name: str) -> bool:
    transition = defn.transitions.get(name)
    return transition is not None and "has_photo" in transition.guards


async def _facts(
    task: Task,
    defn: ProcessDefinition,
    actor: Actor,
    move: Move,
    now: datetime,
    *,
    needs_photos: bool = True,
) -> Facts:
    roles = {actor.role} if actor.role and not actor.external else set()
    if actor.kind == "staff":
        roles |= _relations(task, actor)
    if actor.kind == "resident" and task.reporter_id == actor.id:
        roles.add("reporter")
    others_agree, negotiation_round = True, 0
    if defn.negotiation is not None and defn.negotiation.party(task.state):
        others_agree, negotiation_round = await _opinions_so_far(task, defn)
    inside = None
    if move.lat is not None and move.lng is not None:
        # read here, not with the task: only a move with a location needs the geofence
        community = await statements.fetch_one(
            Community, "SELECT * FROM communities WHERE id = $1", task.community_id
        )
        assert community is not None  # the task's foreign key keeps it
        try:
            inside = check_geofence(
                community.lat,
                community.lng,
                community.radius_m,
                move.lat,
                move.lng,
                move.accuracy_m,
            ).inside
        except InvalidCoordinates as exc:
            raise TaskRefused("bad_location", str(exc)) from None
    # Site evidence is what staff photographed: a resident's report photo does not count (art. 3.1).
    photos = await _staff_photos(task) if needs_photos else 0
    window_over = task.completed_at is not None and now >= sla.rating_closes_at(
        defn, task.completed_at
    )
    return Facts(
        actor_roles=frozenset(roles),
        checked_in=task.on_site_at is not None,
        photo_count=photos + len(move.photo_ids),
        inside_geofence=inside,
        score=move.score,
        reason=move.reason or None,
        note=move.note or None,
        rating_window_over=window_over,
        agree=move.agree,
        others_agree=others_agree,
        negotiation_round=negotiation_round,
    )


def _relations(task: Task, actor: Actor) -> set[str]:
    """The staff member's relations to the task (docs/processes.md, "Actors")."""
    relations = set()
    unit = actor.department_id
    if task.assignee_id == actor.id:
        relations.add("assignee")
    if task.created_by_id == actor.id:
        relations.add("creator")
    if unit is not None and unit == task.contractor_id:
        relations.add("contractor")
        if actor.role in ("lead", "manager"):
            relations.add("contractor_manager")
    elif not actor.external:
        if unit is not None and unit == task.department_id:
            relations.add("department")
        if actor.role == "manager":
            # the company's management above the department: escalation must reach someone
            # other than the department's own people, or it settles nothing (article 6.2)
            relations.add("department_manager")
    return relations


async def _staff_photos(task: Task) -> int:
    found = await statements.rows(
        Photo,
        "SELECT count(*) AS n FROM photos WHERE task_id = $1 AND uploaded_by_kind = 'staff'",
        task.id,
    )
    return int(found[0]["n"])


async def _attach_photos(task: Task, photo_ids: list[int]) -> None:
    """Photos uploaded for no task yet become the task's (someone else's stay theirs)."""
    await statements.execute(
        Photo,
        "UPDATE photos SET task_id = $1 WHERE task_id IS NULL"
        f" AND id IN ({statements.placeholders(2, len(photo_ids))})",
        task.id,
        *photo_ids,
    )


async def _opinions_so_far(task: Task, defn: ProcessDefinition) -> tuple[bool, int]:
    """(every earlier opinion of the current sequence agreed, rounds started so far).

    Read from the events, the task's one record of truth: a sequence (a round, or the managers'
    escalation) begins when the task enters its first step; its opinions are the events since.
    """
    negotiation = defn.negotiation
    assert negotiation is not None
    start = negotiation.sequence_start(task.state)
    events = (
        await TaskEvent.filter(task_id=task.id)
        .order_by("id")
        .values("id", "from_state", "to_state", "data")
    )
    rounds, since = 0, 0
    for event in events:
        if event["to_state"] != event["from_state"]:
            if event["to_state"] == negotiation.round_start:
                rounds += 1
            if event["to_state"] == start:
                since = event["id"]
    others_agree = all(
        e["data"]["opinion"]["agree"]
        for e in events
        if e["id"] > since and isinstance(e["data"], dict) and "opinion" in e["data"]
    )
    return others_agree, rounds


async def _apply(
    task: Task,
    defn: ProcessDefinition,
    name: str,
    actor: Actor,
    move: Move,
    now: datetime,
    tz: ZoneInfo,
    *,
    effects: bool = True,
) -> int:
    """Fire one allowed transition: task row, event, clocks, messages; returns the event's id.

    The caller refreshes the KPI fact row once before its transaction ends (refresh_facts).
    """
    facts = await _facts(task, defn, actor, move, now, needs_photos=_needs_photos(defn, name))
    decision = decide(defn, task.state, name, facts)
    if isinstance(decision, Refusal):
        raise TaskRefused(decision.code, decision.detail)
    before = task.state
    after = decision.next_state(before)
    previous_assignee = task.assignee_id
    data: dict[str, Any] = {}
    if name == "reassign":
        await _check_assignee(task, move.assignee_id)
    if name in ("assign", "reassign"):
        task.assignee_id = move.assignee_id
    if name == "transfer":
        data["from_department_id"] = task.department_id
        await _transfer(task, move.department_id)
        data["to_department_id"] = task.department_id
    if name in ("rate_low", "return"):
        await _hand_to_lead(task)
    if name == "rework":
        # Back to the handler who completed it; the event is marked so KPIs count the rework
        # against that handler (article 2: 及时率, 优秀率).
        data.update(kpi="rework", handler_id=previous_assignee)
    if move.agree is not None and defn.negotiation is not None:
        data["opinion"] = {
            "party": defn.negotiation.party(before),
            "agree": move.agree,
            "round": facts.negotiation_round,
        }
    if move.photo_ids:
        await _attach_photos(task, move.photo_ids)
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
    event_id = await _event(
        task,
        name,
        before,
        after,
        actor,
        now,
        note=move.reason or move.note or move.comment,
        lat=move.lat,
        lng=move.lng,
        photo_ids=move.photo_ids,
        data=data,
    )
    if before != after:
        await enter_state(task, defn, before, after, now, tz)
        await _hold(task, defn, after)
    if effects:
        await _effects(task, defn, decision.effects, name, actor, now, tz, event_id, move)
        if "request_callback" in decision.effects:  # present when the definition says so
            await _open_callback(task, now, tz)
    if before == fee_actions.HELD_STATE and after == defn.initial:
        # paid, or a manager's override: on to a department as if it had just been reported
        department = await Department.get_or_none(id=task.department_id or 0)
        await _dispatch(task, defn, department, now, tz)
    if name == "rework" and previous_assignee and _may(defn, after, "assign"):
        await _apply(
            task,
            defn,
            "assign",
            SYSTEM,
            Move(assignee_id=previous_assignee),
            now,
            tz,
            effects=False,
        )
    return event_id


async def _open_callback(task: Task, now: datetime, tz: ZoneInfo) -> None:
    """Nobody rated the work: customer service calls the resident back (article 3.2).

    An instruction task in the same transaction, for the first customer-service person serving
    the community (so one desk keeps a household's callbacks); its report is the call's outcome.
    Without customer service there, the callback_needed message is all that happens.
    """
    desk = (
        await Staff.filter(
            Q(role="customer_service")
            & (Q(all_communities=True) | Q(communities__id=task.community_id))
        )
        .order_by("id")
        .first()
    )
    if desk is None:
        return
    values = await message_values(task, tz)
    callback = await create_task(
        community=await Community.get(id=task.community_id),
        category=task.category,
        source="callback",
        now=now,
        tz=tz,
        kind="instruction",
        room=await Room.get_or_none(id=task.room_id) if task.room_id else None,
        place=task.place,
        description=render_text("callback_task", ref=task.ref, place=values["place"]),
        department=await Department.get(id=desk.department_id),
    )
    if callback.assignee_id is None:  # customer service has no lead: the desk takes it
        defn, _ = await current_version("instruction")
        await _apply(callback, defn, "assign", SYSTEM, Move(assignee_id=desk.id), now, tz)
        await refresh_facts(callback, defn, tz)


async def _check_assignee(task: Task, staff_id: int | None) -> None:
    """A reassignment goes to a worker of the task's department who serves its community."""
    workers = await _workers_of(task.department_id or 0, task.community_id, ("staff", "lead"))
    if staff_id is None or staff_id not in {s.id for s in workers}:
        raise TaskRefused("bad_assignee", str(staff_id))


async def _transfer(task: Task, department_id: int | None) -> None:
    """Another department takes the task: its next staff member, round-robin."""
    department = await Department.get_or_none(id=department_id) if department_id else None
    if department is None:
        raise TaskRefused("no_such_department", str(department_id))
    if department.id == task.department_id:
        raise TaskRefused("same_department", department.code)
    person = await _round_robin(task, department.id)
    if person is None:
        raise TaskRefused("nobody_in_department", department.code)
    task.department_id, task.assignee = department.id, person


async def _hold(task: Task, defn: ProcessDefinition, state: str) -> None:
    """Whose turn it is: the task is with that party's head (held_by, negotiation steps)."""
    party = defn.holder(state)
    if party is None:
        return
    person = await party_head(task, party)
    if person is not None and person.id != task.assignee_id:
        task.assignee_id = person.id
        await task.save(update_fields=["assignee_id"])


async def party_head(task: Task, party: str) -> Staff | None:
    """The person who answers for `party` on this task (a lead, else anyone of the unit)."""
    if party == "creator":
        return await Staff.get_or_none(id=task.created_by_id) if task.created_by_id else None
    if party == "department_manager":
        # The estate's own manager before a company-wide one; never a contractor's.
        manager = (
            await Staff.filter(
                Q(role="manager")
                & Q(department__kind="internal")
                & (Q(all_communities=True) | Q(communities__id=task.community_id))
            )
            .distinct()
            .order_by("all_communities", "id")
            .first()
        )
        if manager is not None:
            return manager
        party = "department"
    unit = task.contractor_id if party.startswith("contractor") else task.department_id
    if unit is None:
        return None
    people = await _workers_of(unit, task.community_id, ("lead", "manager", "staff"))
    order = {"lead": 0, "manager": 1, "staff": 2}
    return min(people, key=lambda s: (order[s.role], s.id)) if people else None


async def _hand_to_lead(task: Task) -> None:
    """A reopened task goes to the department lead (article 3.2: unsatisfied residents)."""
    lead = await Staff.filter(department_id=task.department_id, role="lead").order_by("id").first()
    if lead is not None:
        task.assignee_id = lead.id


async def _event(
    task: Task,
    action: str,
    before: str,
    after: str,
    actor: Actor,
    now: datetime,
    *,
    note: str = "",
    lat: float | None = None,
    lng: float | None = None,
    photo_ids: list[int] | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append one row to the task's audit trail; returns its id."""
    inserted = await statements.rows(
        TaskEvent,
        "INSERT INTO task_events (task_id, action, from_state, to_state, actor_kind, actor_id,"
        " actor_name, note, lat, lng, photo_ids, data, at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        task.id,
        action,
        before,
        after,
        actor.kind,
        actor.id,
        actor.name,
        note,
        lat,
        lng,
        statements.stored(TaskEvent, "photo_ids", photo_ids or []),
        statements.stored(TaskEvent, "data", data or {}),
        statements.stored(TaskEvent, "at", now),
    )
    return int(inserted[0]["id"])


# ---------------------------------------------------------------------------- effects


async def _assignee(task: Task) -> list[Recipient]:
    if not task.assignee_id:
        return []
    staff = _assignee_in_hand(task) or await Staff.get_or_none(id=task.assignee_id)
    return [Recipient.of_staff(staff)] if staff else []


def _assignee_in_hand(task: Task) -> Staff | None:
    """The assignee routing picked or message_values read in this transaction, else None.

    tortoise keeps a relation set on the instance in `_assignee`; reading `task.assignee`
    instead would build a query whenever it is not there.
    """
    known = task.__dict__.get("_assignee")
    return known if isinstance(known, Staff) and known.id == task.assignee_id else None


async def _department_leads(task: Task) -> list[Recipient]:
    if not task.department_id:
        return []
    leads = await Staff.filter(
        Q(department_id=task.department_id)
        & Q(role="lead")
        & (Q(all_communities=True) | Q(communities__id=task.community_id))
    ).distinct()
    return [Recipient.of_staff(s) for s in leads]


async def _reporter(task: Task) -> list[Recipient]:
    resident = (
        await statements.fetch_one(
            Resident, "SELECT * FROM residents WHERE id = $1", task.reporter_id
        )
        if task.reporter_id
        else None
    )
    if resident:
        return [Recipient.of_resident(resident)]
    if task.reporter_openid:
        return [Recipient("resident", None, task.reporter_openid, "")]
    return []


async def _customer_service(task: Task) -> list[Recipient]:
    people = await Staff.filter(
        Q(role="customer_service")
        & (Q(all_communities=True) | Q(communities__id=task.community_id))
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


async def _creator(task: Task) -> list[Recipient]:
    staff = await Staff.get_or_none(id=task.created_by_id) if task.created_by_id else None
    return [Recipient.of_staff(staff)] if staff else []


async def _contractor_leads(task: Task) -> list[Recipient]:
    head = await party_head(task, "contractor") if task.contractor_id else None
    return [Recipient.of_staff(head)] if head else []


# Issue 5: instructions, control at every node, negotiation (docs/processes.md, "Effects").
EFFECT_MESSAGES.update(
    {
        ("instruct", "notify_assignee"): ("instruction", _assignee),
        ("rework", "notify_assignee"): ("rework", _assignee),
        ("rework", "notify_contractor"): ("rework", _contractor_leads),
        ("transfer", "notify_assignee"): ("task_assigned", _assignee),
        ("return", "notify_lead"): ("task_returned", _assignee),  # the lead holds it now
        ("return", "notify_creator"): ("task_returned", _creator),
        ("accept", "notify_creator"): ("task_update", _creator),
        ("complete", "notify_creator"): ("task_update", _creator),
        ("complete", "notify_department"): ("task_update", _department_leads),
        ("cancel", "notify_contractor"): ("task_cancelled", _contractor_leads),
        ("resume", "notify_reporter"): ("task_resumed", _reporter),  # issue 6: paid
        ("override", "notify_reporter"): ("task_resumed", _reporter),
        ("department_opinion", "notify_party"): ("opinion_requested", _assignee),
        ("renegotiate", "notify_party"): ("opinion_requested", _assignee),
        ("escalate", "notify_party"): ("opinion_requested", _assignee),
        ("manager_opinion", "notify_party"): ("opinion_requested", _assignee),
        ("agree", "notify_department"): ("negotiation_result", _department_leads),
        ("managers_agree", "notify_department"): ("negotiation_result", _department_leads),
        ("managers_agree", "notify_contractor"): ("negotiation_result", _contractor_leads),
        ("managers_refuse", "notify_department"): ("negotiation_result", _department_leads),
        ("managers_refuse", "notify_contractor"): ("negotiation_result", _contractor_leads),
    }
)


async def _effects(
    task: Task,
    defn: ProcessDefinition,
    effects: tuple[str, ...],
    name: str,
    actor: Actor,
    now: datetime,
    tz: ZoneInfo,
    event_id: int,
    move: Move,
) -> None:
    values: dict[str, Any] | None = None
    for effect in effects:
        spec = EFFECT_MESSAGES.get((name, effect))
        if spec is None:
            continue
        kind, who = spec
        if kind == "task_urged" and actor.kind == "staff":
            kind = "task_chased"  # a manager chasing it, not the resident
        if values is None:
            values = await message_values(task, tz)
            values.update(
                score=move.score or "",
                comment=move.comment,
                note=move.note,
                reason=move.reason,
                author_name=actor.name,
                agree=bool(move.agree),
                state_name=label("state", task.state),
                agreed=task.state not in defn.final_states,
            )
        for to in await who(task):
            await enqueue(
                kind, to, values, key=f"event:{event_id}:{kind}:{to.kind}:{to.id}", now=now
            )


# ---------------------------------------------------------------------------- visit time


async def set_visit_time(
    ref: str,
    resident: Resident,
    text: str,
    now: datetime,
    *,
    window: tuple[datetime, datetime] | None = None,
) -> Task:
    """The reporter's preferred visit time, given after the report: stored and audited."""
    task_id = parse_ref(ref)
    if task_id is None:
        raise TaskRefused("no_such_task", ref)
    async with in_transaction():
        task = await Task.filter(id=task_id).select_for_update().first()
        if task is None or task.reporter_id != resident.id:
            raise TaskRefused("no_such_task", ref)
        if task.state in (await definition_for(task)).final_states:
            raise TaskRefused("wrong_state", f"{ref} is {task.state}")
        task.visit_time = text[:64]
        task.updated_at = now
        await task.save(update_fields=["visit_time", "updated_at"])
        data = {"from": window[0].isoformat(), "to": window[1].isoformat()} if window else {}
        await _event(
            task,
            "visit_time",
            task.state,
            task.state,
            Actor.of_resident(resident),
            now,
            note=text[:64],
            data=data,
        )
    return task
