"""Tasks over HTTP (mini-program, console): list, detail, create, and every transition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw
from tortoise.expressions import Q

from server.actions.photos import PhotoRefused, photo_path, store_photo
from server.actions.tasks import (
    Actor,
    Move,
    TaskRefused,
    contractor_may_see,
    create_task,
    current_definitions,
    fire,
    get_task,
    give_opinion,
    is_external,
    place_text,
    rating_transition,
)
from server.api.access import ANY_STAFF, SIGNED_IN, Principal, aware_time, endpoint, principal_of
from server.api.errors import ApiError
from server.db.estate import Community, Room
from server.db.people import Department, Resident, Staff
from server.db.tasks import Photo, Task, TaskEvent
from server.domain.routing import CATEGORIES
from templates_msg import label

bp = Blueprint("api_tasks", url_prefix="/api/v1")

WORKERS = ANY_STAFF
SEE_ALL = frozenset({"lead", "manager", "assessor", "customer_service", "data_admin"})
CREATORS = frozenset({"customer_service", "lead", "manager", "resident"})


def _now() -> datetime:
    return datetime.now(UTC)


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.ctx.services.settings.tz_name)


async def actor_of(p: Principal) -> Actor:
    if p.kind == "staff":
        return Actor.of_staff(await Staff.get(id=p.id))
    if p.kind == "resident":
        return Actor.of_resident(await Resident.get(id=p.id))
    raise ApiError(403, "forbidden", label("refusal", "not_allowed"))


async def uploaded_photo(request: Request) -> Photo:
    """Store the multipart field `file` as the caller's photo (JPEG/PNG, 10 MB at most)."""
    p = principal_of(request)
    upload = request.files.get("file") if request.files else None
    if upload is None:
        raise ApiError(400, "missing_file", "send the photo as multipart field 'file'")
    try:
        return await store_photo(
            upload.body,
            media_dir=request.app.ctx.services.settings.media_dir,
            uploaded_by_kind=p.kind,
            uploaded_by_id=p.id,
            now=_now(),
        )
    except PhotoRefused as exc:
        raise refused(exc) from None


def refused(exc: TaskRefused | PhotoRefused) -> ApiError:
    """A rule said no: 409 for state rules, 404 for unknown tasks, 400 for bad input."""
    group = "photo" if isinstance(exc, PhotoRefused) else "refusal"
    status = {
        "no_such_task": 404,
        "wrong_state": 409,
        "not_allowed": 403,
        "no_opinion_asked": 409,
    }.get(exc.code, 400)
    if (
        isinstance(exc, TaskRefused)
        and exc.code.startswith("needs_")
        and exc.code != "needs_contractor"
    ):
        status = 409
    return ApiError(status, exc.code, label(group, exc.code))


async def scoped_task(request: Request, ref: str) -> Task:
    """The task if the caller may see it; 404 otherwise (existence is not disclosed)."""
    p = principal_of(request)
    try:
        task = await get_task(ref)
    except TaskRefused as exc:
        raise refused(exc) from None
    visible = (p.kind == "staff" and p.may_see_community(task.community_id)) or (
        p.kind == "resident" and task.reporter_id == p.id
    )
    if visible and p.kind == "staff":
        # Contractors are external users: they see their own jobs only (article 6.2).
        staff = await Staff.get(id=p.id)
        visible = not await is_external(staff) or contractor_may_see(
            task, staff.id, staff.department_id
        )
    if not visible:
        raise ApiError(404, "no_such_task", label("refusal", "no_such_task"))
    return task


async def task_json(task: Task, tz: ZoneInfo, *, events: bool = False) -> dict[str, Any]:
    await task.fetch_related(
        "room__unit__building", "community", "assignee", "department", "contractor"
    )

    def at(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat() if value else None

    body: dict[str, Any] = {
        "ref": task.ref,
        "kind": task.kind,
        "state": task.state,
        "state_name": label("state", task.state),
        "category": task.category,
        "category_name": label("category", task.category),
        "urgency": task.urgency,
        "community": task.community.code,
        "place": place_text(task, task.room),
        "description": task.description,
        "visit_time": task.visit_time,
        "source": task.source,
        "department": task.department.code if task.department else None,
        "assignee": {"id": task.assignee.id, "name": task.assignee.name} if task.assignee else None,
        "respond_by": at(task.respond_by),
        "arrive_by": at(task.arrive_by),
        "resolve_by": at(task.resolve_by),
        "accepted_at": at(task.accepted_at),
        "on_site_at": at(task.on_site_at),
        "arrived_late": task.arrived_late,
        "completed_at": at(task.completed_at),
        "closed_at": at(task.closed_at),
        "score": task.score,
        "rating_comment": task.rating_comment,
        "created_at": at(task.created_at),
        "updated_at": at(task.updated_at),
        "contractor": task.contractor.code if task.contractor else None,
        "due_at": at(task.due_at),
    }
    if events:
        rows = await TaskEvent.filter(task_id=task.id).order_by("id")
        body["events"] = [
            {
                "action": e.action,
                "from": e.from_state,
                "to": e.to_state,
                "actor": e.actor_kind,
                "actor_name": e.actor_name,
                "note": e.note,
                "lat": e.lat,
                "lng": e.lng,
                "photo_ids": e.photo_ids,
                "data": e.data,
                "at": at(e.at),
            }
            for e in rows
        ]
        body["photo_ids"] = (
            await Photo.filter(task_id=task.id).order_by("id").values_list("id", flat=True)
        )
        body["opinions"] = [
            {
                "party": e.data["opinion"]["party"],
                "agree": e.data["opinion"]["agree"],
                "round": e.data["opinion"]["round"],
                "reason": e.note,
                "name": e.actor_name,
                "at": at(e.at),
            }
            for e in rows
            if isinstance(e.data, dict) and "opinion" in e.data
        ]
    return body


TASK_LIST_RESPONSE = {"type": "object", "properties": {"items": {"type": "array"}}}


@endpoint(
    bp,
    "GET",
    "/tasks",
    allow=SIGNED_IN,
    summary="Tasks: mine, my team's, or all I may see",
    response=TASK_LIST_RESPONSE,
)
async def list_tasks(request: Request) -> HTTPResponse:
    p = principal_of(request)
    scope = request.args.get("scope", "mine")
    status = [s for s in request.args.get("status", "").split(",") if s]
    if scope not in ("mine", "team", "all"):
        raise ApiError(400, "bad_scope", "scope must be mine, team or all")
    if p.kind == "resident":
        if scope != "mine":
            raise ApiError(403, "forbidden", label("refusal", "not_allowed"))
        query = Task.filter(reporter_id=p.id)
    elif p.kind == "staff":
        in_scope = Q() if p.all_communities else Q(community_id__in=list(p.community_ids))
        me = await Staff.get(id=p.id)
        if await is_external(me):
            # a contractor's people: their unit's jobs and tasks given to them, whatever scope
            unit = me.department_id
            in_scope &= Q(contractor_id=unit) | Q(department_id=unit) | Q(assignee_id=me.id)
        if scope == "mine":
            query = Task.filter(in_scope & Q(assignee_id=p.id))
        elif scope == "team":
            query = Task.filter(in_scope & Q(department_id=me.department_id))
        elif p.role in SEE_ALL:
            query = Task.filter(in_scope)
        else:
            raise ApiError(403, "forbidden", label("refusal", "not_allowed"))
    else:
        return json({"items": []})
    if status:
        query = query.filter(state__in=status)
    limit_arg = request.args.get("limit", "50")
    limit = min(int(limit_arg), 200) if limit_arg.isdigit() and int(limit_arg) > 0 else 50
    tasks = await query.order_by("-id").limit(limit)
    tz = _tz(request)
    return json({"items": [await task_json(t, tz) for t in tasks]})


@endpoint(
    bp, "GET", "/tasks/<ref:str>", allow=SIGNED_IN, summary="One task with its full event trail"
)
async def get_task_detail(request: Request, ref: str) -> HTTPResponse:
    task = await scoped_task(request, ref)
    return json(await task_json(task, _tz(request), events=True))


CREATE_BODY = {
    "type": "object",
    "required": ["community", "category"],
    "properties": {
        "community": {"type": "string", "maxLength": 32},
        "building": {"type": "string", "maxLength": 16},
        "unit": {"type": "string", "maxLength": 16},
        "room": {"type": "string", "maxLength": 16},
        "place": {"type": "string", "maxLength": 64},
        "category": {"type": "string", "enum": sorted(CATEGORIES)},
        "urgency": {"type": "string", "enum": ["normal", "urgent"]},
        "description": {"type": "string", "maxLength": 1000},
        "visit_time": {"type": "string", "maxLength": 64},
        "reporter_phone": {"type": "string", "maxLength": 20},
        "kind": {"type": "string", "enum": sorted(current_definitions())},
        "department": {"type": "string", "maxLength": 32},
        "contractor": {"type": "string", "maxLength": 32},
        "deadline": {"type": "string", "maxLength": 40},
    },
}
# Kinds residents may file themselves; the others are staff work (instructions, contractor jobs).
RESIDENT_KINDS = frozenset({"repair", "complaint"})


async def _department(code: str | None, field_name: str) -> Department | None:
    if not code:
        return None
    department = await Department.get_or_none(code=code)
    if department is None:
        raise ApiError(400, "bad_field", f"field '{field_name}': no department {code!r}")
    return department


@endpoint(
    bp,
    "POST",
    "/tasks",
    allow=CREATORS,
    summary="Create a task for a household or place",
    body=CREATE_BODY,
)
async def post_task(request: Request) -> HTTPResponse:
    p = principal_of(request)
    body = request.ctx.body
    community = await Community.get_or_none(code=body["community"])
    if community is None or not p.may_see_community(community.id):
        raise ApiError(404, "not_found", "no such community in your scope")
    room = None
    if body.get("room"):
        room = await Room.get_or_none(
            community=community,
            number=body["room"],
            unit__name=body.get("unit", ""),
            unit__building__name=body.get("building", ""),
        )
        if room is None:
            raise ApiError(400, "bad_room", label("refusal", "bad_room"))
    actor = await actor_of(p)
    kind = body.get("kind", "repair")
    if p.kind == "resident" and kind not in RESIDENT_KINDS:
        raise ApiError(403, "forbidden", label("refusal", "not_allowed"))
    department = await _department(body.get("department"), "department")
    contractor = await _department(body.get("contractor"), "contractor")
    reporter = None
    if p.kind == "resident":
        reporter = await Resident.get(id=p.id)
        if room is not None and not await reporter.bindings.filter(room=room).exists():
            raise ApiError(400, "bad_room", label("refusal", "bad_room"))
    elif body.get("reporter_phone"):
        # Staff filing for a caller: the caller, if on the roster, is asked to rate the result.
        reporter = await Resident.get_or_none(phone=body["reporter_phone"].strip())
    try:
        task = await create_task(
            community=community,
            category=body["category"],
            source="miniapp" if reporter else "console",
            now=_now(),
            tz=_tz(request),
            urgency=body.get("urgency", "normal"),
            room=room,
            place=body.get("place", ""),
            description=body.get("description", ""),
            visit_time=body.get("visit_time", ""),
            reporter=reporter,
            created_by=await Staff.get(id=actor.id) if actor.kind == "staff" else None,
            kind=kind,
            department=department,
            contractor=contractor,
            deadline=aware_time(body.get("deadline"), "deadline"),
        )
    except TaskRefused as exc:
        raise refused(exc) from None
    return json(await task_json(task, _tz(request), events=True), status=201)


async def _fire(request: Request, ref: str, transition: str, move: Move) -> HTTPResponse:
    await scoped_task(request, ref)
    actor = await actor_of(principal_of(request))
    try:
        task = await fire(ref, transition, actor, move, now=_now(), tz=_tz(request))
    except TaskRefused as exc:
        raise refused(exc) from None
    return json(await task_json(task, _tz(request), events=True))


def _transition_route(
    path: str, transition: str, summary: str, body: dict[str, Any] | None, allow: Any, to_move: Any
) -> None:
    async def handler(request: Request, ref: str) -> HTTPResponse:
        move = to_move(request.ctx.body if body else {})
        return await _fire(
            request,
            ref,
            rating_transition(move.score) if transition == "rate" else transition,
            move,
        )

    handler.__name__ = f"task_{path}"
    endpoint(bp, "POST", f"/tasks/<ref:str>/{path}", allow=allow, summary=summary, body=body)(
        handler
    )


_transition_route("accept", "accept", "Accept an assigned task", None, WORKERS, lambda b: Move())
_transition_route(
    "checkin",
    "check_in",
    "Check in on site (GCJ-02 location inside the geofence)",
    {
        "type": "object",
        "required": ["lat", "lng"],
        "properties": {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lng": {"type": "number", "minimum": -180, "maximum": 180},
            "accuracy": {"type": "number", "minimum": 0},
        },
    },
    WORKERS,
    lambda b: Move(lat=b["lat"], lng=b["lng"], accuracy_m=b.get("accuracy")),
)
_transition_route(
    "complete",
    "complete",
    "Complete (needs check-in and at least one photo)",
    {"type": "object", "properties": {"note": {"type": "string", "maxLength": 1000}}},
    WORKERS,
    lambda b: Move(note=b.get("note", "")),
)
_transition_route(
    "rate",
    "rate",
    "Rate the result 1-5 (2 or less reopens it to the department lead); "
    "residents their reports, managers their instructions",
    {
        "type": "object",
        "required": ["score"],
        "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "comment": {"type": "string", "maxLength": 200},
        },
    },
    ANY_STAFF | {"resident"},
    lambda b: Move(score=b["score"], comment=b.get("comment", "")),
)
_transition_route(
    "instruct",
    "instruct",
    "A manager's instruction at any step",
    {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "maxLength": 1000}},
    },
    frozenset({"manager", "lead"}),
    lambda b: Move(note=b["text"]),
)
_transition_route(
    "rework",
    "rework",
    "Order rework of a completed task, with a reason (back to its handler)",
    {
        "type": "object",
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "maxLength": 1000}},
    },
    frozenset({"manager", "lead", "staff"}),
    lambda b: Move(reason=b["reason"]),
)
_transition_route(
    "cancel",
    "cancel",
    "Cancel a task that has not been worked yet",
    {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 1000}}},
    frozenset({"resident", "customer_service", "manager", "lead"}),
    lambda b: Move(reason=b.get("reason", "")),
)
_transition_route(
    "urge",
    "urge",
    "Chase a task (the resident, or a manager, urges it)",
    None,
    frozenset({"resident", "customer_service", "manager", "lead"}),
    lambda b: Move(),
)
REASON = {"type": "string", "maxLength": 1000}
_transition_route(
    "reassign",
    "reassign",
    "Hand the task to another worker of its department, with a reason",
    {
        "type": "object",
        "required": ["assignee", "reason"],
        "properties": {"assignee": {"type": "integer", "minimum": 1}, "reason": REASON},
    },
    frozenset({"manager", "lead"}),
    lambda b: Move(assignee_id=b["assignee"], reason=b["reason"]),
)
_transition_route(
    "return",
    "return",
    "Send the task back to the dispatcher (the department lead), with a reason",
    {"type": "object", "required": ["reason"], "properties": {"reason": REASON}},
    WORKERS,
    lambda b: Move(reason=b["reason"]),
)
_transition_route(
    "override-hold",
    "override",
    "Let a task held for payment go ahead without payment, with a reason (docs/fees.md)",
    {"type": "object", "required": ["reason"], "properties": {"reason": REASON}},
    frozenset({"manager", "lead"}),
    lambda b: Move(reason=b["reason"]),
)


TRANSFER_BODY = {
    "type": "object",
    "required": ["department", "reason"],
    "properties": {"department": {"type": "string", "maxLength": 32}, "reason": REASON},
}


@endpoint(
    bp,
    "POST",
    "/tasks/<ref:str>/transfer",
    allow=frozenset({"manager", "lead", "customer_service"}),
    summary="Send the task to another department, with a reason",
    body=TRANSFER_BODY,
)
async def task_transfer(request: Request, ref: str) -> HTTPResponse:
    department = await _department(request.ctx.body["department"], "department")
    assert department is not None
    move = Move(department_id=department.id, reason=request.ctx.body["reason"])
    return await _fire(request, ref, "transfer", move)


OPINION_BODY = {
    "type": "object",
    "required": ["agree"],
    "properties": {"agree": {"type": "boolean"}, "reason": REASON},
}


@endpoint(
    bp,
    "POST",
    "/tasks/<ref:str>/opinion",
    allow=ANY_STAFF,
    summary="Agree, or disagree with a reason, on a negotiation step of a contractor job",
    body=OPINION_BODY,
)
async def task_opinion(request: Request, ref: str) -> HTTPResponse:
    await scoped_task(request, ref)
    actor = await actor_of(principal_of(request))
    body = request.ctx.body
    try:
        task = await give_opinion(
            ref, actor, body["agree"], body.get("reason") or "", now=_now(), tz=_tz(request)
        )
    except TaskRefused as exc:
        raise refused(exc) from None
    return json(await task_json(task, _tz(request), events=True))


@endpoint(
    bp,
    "POST",
    "/tasks/<ref:str>/photos",
    allow=WORKERS | {"resident"},
    summary="Upload a photo: staff's site photo or the reporter's own (multipart field "
    "`file`, JPEG/PNG ≤ 10 MB)",
)
async def upload_photo(request: Request, ref: str) -> HTTPResponse:
    task = await scoped_task(request, ref)
    photo = await uploaded_photo(request)
    photo.task_id = task.id
    await photo.save(update_fields=["task_id"])
    return json({"id": photo.id, "sha256": photo.sha256, "size": photo.size}, status=201)


@endpoint(bp, "GET", "/photos/<photo_id:int>", allow=SIGNED_IN, summary="A stored photo")
async def get_photo(request: Request, photo_id: int) -> HTTPResponse:
    photo = await Photo.get_or_none(id=photo_id)
    if photo is None or photo.task_id is None:
        raise ApiError(404, "not_found", "no such photo")
    task = await Task.get(id=photo.task_id)
    await scoped_task(request, task.ref)
    extension = "png" if photo.content_type == "image/png" else "jpg"
    path = photo_path(request.app.ctx.services.settings.media_dir, photo.sha256, extension)
    return raw(path.read_bytes(), content_type=photo.content_type)
