"""Managers and department leads in chat, typed or spoken (article 1: tasks issued "at any time,
anywhere, by text or photo"; progress seen "at any time"):

- 通知工程部明天中午前把3号楼电梯修好 -> an `instruction` task for that department, with the
  deadline, and the photos sent just before or after it;
- 工程部有哪些超时任务, T1042 到哪了, 今天完成了多少 -> answers read from the records of truth
  (server/actions/supervision.py);
- 同意 T1042 / 不同意 T1042 价格太高 -> an opinion on a contractor job (any staff member whose
  turn it is, contractors included);
- T1042 指示 ..., 返工 T1042 ..., 催办 T1042, 评价 T1042 5分 -> control at every node.

Contractors' people (external users) only ever hear about their own jobs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.context import Turn, mentions, pick
from bot.manager_nlu import (
    DepartmentName,
    Instruction,
    KpiQuestion,
    Opinion,
    TaskOrder,
    asks_done,
    asks_late,
    asks_progress,
    department_aliases,
    find_department,
    parse_instruction,
    parse_kpi_question,
    parse_notice,
    parse_opinion,
    parse_task_order,
    parse_work,
)
from bot.media import fetch_photo
from bot.nlu import Parsed, normalize, parse_score, parse_task_ref, work_details
from server.actions.clocks import late_tasks
from server.actions.fanout import audience_query
from server.actions.kpi import KpiRefused, Subject, scope_filters, totals, viewer_filters
from server.actions.notices import NoticeRefused, create_notice, resolve_audience
from server.actions.photos import PhotoRefused, attach_photo
from server.actions.supervision import completed_between, where_is
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
from server.db.estate import Building, Community
from server.db.people import Department, Staff
from server.db.tasks import Photo, Task
from server.domain.kpi import kpis, local_day, period_range, previous_period
from templates_msg import label, render_text

MANAGER_ROLES = frozenset({"manager", "lead"})  # DESIGN.md: "manager / leader" by chat
LIST_LIMIT = 10
PHOTO_WINDOW_S = 600  # photos this soon after an instruction join it (as for residents' reports)
MAX_PHOTOS = 9
ORDER_TRANSITIONS = {"instruct": "instruct", "rework": "rework", "urge": "urge"}


async def text(turn: Turn, said: str, parsed: Parsed, normalized: str) -> str | None:
    """A manager's command or question, an opinion, or None (the message is something else)."""
    staff = turn.staff
    assert staff is not None
    d = turn.dialogue
    external = await is_external(staff)
    manager = staff.role in MANAGER_ROLES and not external
    if d.flow == "instruct":
        if parsed.intent == "cancel_dialogue":
            return None  # bot/chat.py ends the flow
        return await _continue(turn, normalized)
    opinion = parse_opinion(normalized)
    if opinion is not None:
        return await _opinion(turn, opinion)
    if manager:
        notice = await _notice(turn, normalized)
        if notice is not None:
            return notice
        names = await _department_names()
        aliases = department_aliases(names)
        order = parse_instruction(normalized, aliases, turn.now.astimezone(turn.tz))
        if order is not None:
            return await _instruct(turn, order, names)
        task_order = parse_task_order(normalized)
        if task_order is not None:
            return await _order(turn, task_order)
        if asks_done(normalized):
            return await _done_today(turn)
        if asks_late(normalized):
            found = find_department(normalized, aliases)
            return await _late(turn, found[0] if found else None)
        if parsed.intent == "help":
            return render_text("manager_help")
    ref = parsed.slots.get("task_ref") or parse_task_ref(said)
    question = None
    if not ref:
        aliases = department_aliases(await _department_names())
        question = parse_kpi_question(normalized, aliases)
    if question is not None:
        return await _kpi(turn, question)
    if ref and (asks_progress(normalized) or parsed.intent == "query_progress"):
        return await _where(turn, ref, external)
    return None


def _actor(turn: Turn) -> Actor:
    assert turn.staff is not None
    return Actor.of_staff(turn.staff)


def _refused(ref: str, refused: TaskRefused) -> str:
    return render_text("task_refused", ref=ref, reason=label("refusal", refused.code))


def _when(moment: datetime | None, turn: Turn) -> str:
    return moment.astimezone(turn.tz).strftime("%m-%d %H:%M") if moment else ""


def duration_text(seconds: float) -> str:
    """2天3小时 / 45分钟: how long, in the words of templates_msg/text/duration.j2."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return render_text("duration", days=days, hours=hours, minutes=minutes)


async def _department_names() -> list[DepartmentName]:
    return [DepartmentName(d.id, d.code, d.name) for d in await Department.all().order_by("id")]


async def _scope(staff: Staff) -> list[Community]:
    """The estates a staff member serves, by id."""
    if staff.all_communities:
        return list(await Community.all().order_by("id"))
    return list(await staff.communities.all().order_by("id"))


# ---------------------------------------------------------------------------- instructions


async def _instruct(turn: Turn, order: Instruction, names: list[DepartmentName]) -> str:
    department = await Department.get(id=order.department_id)
    d = turn.dialogue
    draft: dict[str, Any] = {
        "department_id": department.id,
        "work": order.work,
        "deadline": order.deadline.at.isoformat() if order.deadline else "",
        "photo_ids": d.draft.get("photo_ids", []) if d.flow == "instruct" else [],
    }
    d.end_flow()
    d.flow, d.draft = "instruct", draft
    if not order.work:
        d.ask("instruct_work")
        return render_text("instruction_need_work", department_name=department.name)
    return await _place_and_create(turn)


async def _continue(turn: Turn, normalized: str) -> str:
    """The answer to the pending question of an instruction: the work, or the estate."""
    d = turn.dialogue
    if d.asking == "instruct_community":
        index = pick(normalized, len(d.choices))
        communities = {c.id: c for c in await Community.filter(id__in=d.choices)}
        chosen = communities.get(d.choices[index]) if index is not None else None
        if chosen is None:
            chosen = next((c for c in communities.values() if mentions(normalized, c.name)), None)
        if chosen is None:
            return await _ask_community(turn, list(communities.values()))
        return await _create(turn, chosen)
    names = await _department_names()
    order = parse_instruction(normalized, department_aliases(names), turn.now.astimezone(turn.tz))
    if order is not None:
        return await _instruct(turn, order, names)
    if d.draft.get("department_id") and normalized:
        # the department first ("通知工程部"), then the work on its own: 明天中午前把电梯修好
        order = parse_work(normalized, d.draft["department_id"], turn.now.astimezone(turn.tz))
        if order.work:
            return await _instruct(turn, order, names)
    return render_text("instruction_need_work", department_name="")


async def _place_and_create(turn: Turn) -> str:
    """Create at once when the estate is clear; else ask which one (numbered)."""
    assert turn.staff is not None
    d = turn.dialogue
    scope = await _scope(turn.staff)
    work = normalize(d.draft["work"])
    named = [c for c in scope if normalize(c.name) in work or c.code in work]
    if len(named) == 1:
        return await _create(turn, named[0])
    candidates = scope
    if len(scope) > 1:
        served = await _served_by(d.draft["department_id"], scope)
        candidates = served or scope
    if len(candidates) == 1:
        return await _create(turn, candidates[0])
    if not candidates:
        d.end_flow()
        return render_text("task_refused", ref="", reason=label("refusal", "not_allowed"))
    return await _ask_community(turn, candidates)


async def _served_by(department_id: int, scope: list[Community]) -> list[Community]:
    """The estates of `scope` where the department has someone (lead or staff) on the roster."""
    people = await Staff.filter(
        department_id=department_id, role__in=["lead", "staff"]
    ).prefetch_related("communities")
    if any(p.all_communities for p in people):
        return scope
    served = {c.id for p in people for c in p.communities}
    return [c for c in scope if c.id in served]


async def _ask_community(turn: Turn, candidates: list[Community]) -> str:
    turn.dialogue.ask("instruct_community", [c.id for c in candidates])
    return render_text("instruction_ask_community", items=[c.name for c in candidates])


async def _create(turn: Turn, community: Community) -> str:
    staff = turn.staff
    assert staff is not None
    d = turn.dialogue
    draft = d.draft
    department = await Department.get(id=draft["department_id"])
    details = work_details(draft["work"])
    defn = current_definitions()["instruction"]
    urgency = details.get("urgency", "normal")
    deadline = datetime.fromisoformat(draft["deadline"]) if draft.get("deadline") else None
    try:
        task = await create_task(
            kind="instruction",
            community=community,
            category=details.get("category", "other"),
            source="wechat",
            now=turn.now,
            tz=turn.tz,
            urgency=urgency if urgency in defn.urgencies else "normal",
            place=details.get("place", ""),
            description=draft["work"],
            created_by=staff,
            photo_ids=list(draft.get("photo_ids", [])),
            department=department,
            deadline=deadline,
        )
    except TaskRefused as refused:
        d.end_flow()
        return _refused("", refused)
    d.end_flow()
    d.task_ref = task.ref
    await task.fetch_related("assignee")
    return render_text(
        "instruction_created",
        ref=task.ref,
        department_name=department.name,
        holder_name=task.assignee.name if task.assignee else "",
        work=task.description,
        deadline=_when(task.due_at or task.resolve_by, turn),
        community_name=community.name,
        photos=await Photo.filter(task_id=task.id).count(),
    )


async def photo(turn: Turn, media_id: str) -> str | None:
    """A manager's photo: it joins the instruction being given, or the one just given."""
    staff = turn.staff
    assert staff is not None
    if staff.role not in MANAGER_ROLES or await is_external(staff):
        return None
    d = turn.dialogue
    recent = None
    if d.flow != "instruct" and d.task_ref:
        recent = await Task.get_or_none(
            id=int(d.task_ref[1:]) - 1000,
            kind="instruction",
            created_by_id=staff.id,
            created_at__gte=turn.now - timedelta(seconds=PHOTO_WINDOW_S),
        )
    try:
        stored = await fetch_photo(turn, media_id, "staff", staff.id)
    except PhotoRefused as refused:
        return render_text("photo_failed", reason=label("photo", refused.code))
    if stored is None:
        return render_text("photo_unavailable")
    if recent is not None:
        await attach_photo(stored, recent.id)
        count = await Photo.filter(task_id=recent.id).count()
        return render_text("instruction_photo_attached", ref=recent.ref, count=count)
    if d.flow != "instruct":
        d.end_flow()
        d.flow, d.draft = "instruct", {"photo_ids": []}
        d.ask("instruct_work")
    d.draft["photo_ids"] = [*d.draft.get("photo_ids", []), stored.id][:MAX_PHOTOS]
    return render_text("instruction_photo_kept", count=len(d.draft["photo_ids"]))


# ---------------------------------------------------------------------------- questions


async def _visible(turn: Turn, ref: str, external: bool) -> Task:
    """The task if this staff member may see it (their estates; contractors their own jobs)."""
    staff = turn.staff
    assert staff is not None
    task = await get_task(ref)
    community_id = task.community_id
    in_scope = staff.all_communities or await staff.communities.filter(id=community_id).exists()
    if not in_scope or (external and not contractor_may_see(task, staff.id, staff.department_id)):
        raise TaskRefused("no_such_task", ref)
    return task


async def _where(turn: Turn, ref: str, external: bool) -> str | None:
    """T1042 到哪了: state, with whom, for how long, the last thing done, the deadline."""
    try:
        task = await _visible(turn, ref, external)
    except TaskRefused as refused:
        if turn.resident is not None:
            return None  # a staff member asking about their own home's report: the resident path
        return _refused(ref, refused)
    found = await where_is(task, turn.now)
    await task.fetch_related("room__unit__building")
    return render_text(
        "task_whereabouts",
        ref=task.ref,
        kind_name=label("kind", task.kind),
        what=task.description or place_text(task, task.room),
        state_name=label("state", task.state),
        duration=duration_text((turn.now - found.since).total_seconds()),
        since=_when(found.since, turn),
        holder_name=found.holder.name if found.holder else "",
        department_name=found.department.name if found.department else "",
        last_action=label("action", found.last_action) if found.last_action else "",
        last_actor=found.last_actor,
        last_at=_when(found.last_at, turn),
        due=_when(found.due_at, turn),
        late=found.late,
    )


async def _late(turn: Turn, department_id: int | None) -> str:
    """工程部有哪些超时任务: open tasks past a running deadline, most overdue first."""
    staff = turn.staff
    assert staff is not None
    scope = None if staff.all_communities else [c.id for c in await _scope(staff)]
    rows = await late_tasks(
        turn.now, community_ids=scope, department_id=department_id, limit=LIST_LIMIT, tz=turn.tz
    )
    department = await Department.get(id=department_id) if department_id else None
    name = department.name if department else ""
    if not rows:
        return render_text("late_tasks_none", department_name=name)
    items = []
    for late in rows:
        task = late.task
        items.append(
            {
                "ref": task.ref,
                "what": (task.description or task.place)[:20],
                "state_name": label("state", task.state),
                "holder_name": task.assignee.name if task.assignee else "",
                "overdue": duration_text(late.late_s),
            }
        )
    return render_text("late_tasks", department_name=name, items=items)


async def _done_today(turn: Turn) -> str:
    """今天完成了多少: tasks completed since local midnight in the manager's estates."""
    staff = turn.staff
    assert staff is not None
    local = turn.now.astimezone(turn.tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    scope = None if staff.all_communities else [c.id for c in await _scope(staff)]
    counts = await completed_between(start, start + timedelta(days=1), community_ids=scope)
    items = [{"name": label("kind", kind), "count": n} for kind, n in counts.most_common()]
    return render_text(
        "done_today", date=local.strftime("%m-%d"), total=sum(counts.values()), items=items
    )


async def _kpi(turn: Turn, q: KpiQuestion) -> str:
    """本月工程部及时率 / 我的完成率 / 上周客服部满意度: the figure and a link to its chart."""
    staff = turn.staff
    assert staff is not None
    today = local_day(turn.now, turn.tz)
    at = previous_period(q.period, today) if q.previous else ""
    first, last = period_range(q.period, at, today)
    shown = {"day": 10, "week": 10, "month": 7, "year": 4}[q.period]  # 2026-11-26, 2026-11, 2026
    query = f"period={q.period}&at={first.isoformat()[:shown]}"
    try:
        if q.department_id is not None:
            department = await Department.get(id=q.department_id)
            subject = Subject("department", department.id, department.name)
            filters = await scope_filters(staff, subject, first, last)
            query += f"&scope=department&id={department.code}"
        elif q.mine or staff.role not in MANAGER_ROLES:
            subject = Subject("person", staff.id, staff.name)
            filters = await scope_filters(staff, subject, first, last)
            query += "&scope=person"
        else:  # a lead: their department; a manager: every estate they serve
            filters = await viewer_filters(staff, first, last)
            subject = Subject("all", 0, "")
    except KpiRefused:
        return render_text("task_refused", ref="", reason=label("refusal", "not_allowed"))
    figures = kpis(await totals(filters, turn.now)).as_dict()
    value = figures[q.measure]
    kind = "ratio" if q.measure.endswith(("_ratio", "_rate")) else "score"
    if q.measure.endswith("_s"):
        kind, value = "text", duration_text(value) if value is not None else None
    period_key = f"prev_{q.period}" if q.previous else q.period
    base = turn.services.settings.own_base_url
    return render_text(
        "kpi_answer",
        subject=subject.name,
        period_name=label("kpi_period", period_key),
        measure_name=label("kpi_measure", q.measure),
        value=value,
        kind=kind,
        first=first.isoformat(),
        last=last.isoformat(),
        tasks=figures["tasks"],
        completed=figures["completed"],
        link=f"{base}/console/kpi?{query}",
    )


# ---------------------------------------------------------------------------- control


async def _opinion(turn: Turn, opinion: Opinion) -> str:
    """同意 / 不同意 on the named task, else on the only one waiting for this person."""
    staff = turn.staff
    assert staff is not None
    ref = opinion.ref
    if ref is None:
        steps = sorted(
            {
                state
                for defn in current_definitions().values()
                if defn.negotiation
                for state, _ in (*defn.negotiation.rounds, *defn.negotiation.escalation)
            }
        )
        waiting = await Task.filter(assignee_id=staff.id, state__in=steps).order_by("-id")
        if len(waiting) != 1:
            return render_text("opinion_which", refs=[t.ref for t in waiting[:LIST_LIMIT]])
        ref = waiting[0].ref
    try:
        task = await give_opinion(
            ref, _actor(turn), opinion.agree, opinion.reason, now=turn.now, tz=turn.tz
        )
    except TaskRefused as refused:
        return _refused(ref, refused)
    await task.fetch_related("assignee")
    return render_text(
        "opinion_done",
        ref=task.ref,
        agree=opinion.agree,
        state_name=label("state", task.state),
        holder_name=task.assignee.name if task.assignee else "",
    )


async def _order(turn: Turn, order: TaskOrder) -> str:
    """指示 / 返工 / 催办 / 评价 on a running task; the definition decides if it may happen."""
    if order.command == "rate":
        found = parse_score(order.rest)
        if found is None:
            return render_text("rate_none")
        transition = rating_transition(found[0])
        move = Move(score=found[0], comment=found[1])
    else:
        transition = ORDER_TRANSITIONS[order.command]
        move = Move(note=order.rest) if transition == "instruct" else Move(reason=order.rest)
    try:
        task = await fire(order.ref, transition, _actor(turn), move, now=turn.now, tz=turn.tz)
    except TaskRefused as refused:
        return _refused(order.ref, refused)
    await task.fetch_related("assignee")
    return render_text(
        "manager_order_done",
        ref=task.ref,
        action_name=label("action", transition),
        state_name=label("state", task.state),
        holder_name=task.assignee.name if task.assignee else "",
    )


async def _notice(turn: Turn, normalized: str) -> str | None:
    """通知3号楼全体住户明天9点到12点停水 -> a notice to those residents (issue 7), or None."""
    assert turn.staff is not None
    scope = await _scope(turn.staff)
    named = [c for c in scope if normalize(c.name) in normalized]
    for community in named:
        normalized = normalized.replace(normalize(community.name), "", 1)
    order = parse_notice(normalized)
    if order is None:
        return None
    if not order.body:
        return render_text("notice_refused", reason=label("poll", "empty_body"), detail="")
    candidates = named or scope
    if len(candidates) > 1 and order.building:
        rows = await Building.filter(
            community_id__in=[c.id for c in candidates], name=order.building
        ).values("community_id")
        candidates = [c for c in candidates if c.id in {r["community_id"] for r in rows}]
    if len(candidates) != 1:
        items = [c.name for c in (candidates or scope)]
        return render_text("notice_ask_community", items=items, example=items[0] if items else "")
    community = candidates[0]
    try:
        audience = await resolve_audience(
            community.id,
            buildings=[order.building] if order.building and not order.unit else [],
            units=[f"{order.building}-{order.unit}"] if order.unit else [],
            relations=[order.relation] if order.relation else [],
        )
        notice = await create_notice(
            community,
            order.kind,
            order.body,
            audience,
            now=turn.now,
            created_by=turn.staff,
            source="chat",
        )
    except NoticeRefused as refused:
        return render_text(
            "notice_refused", reason=label("poll", refused.code), detail=refused.detail
        )
    return render_text(
        "notice_created",
        title=notice.title,
        community_name=community.name,
        target=order.target,
        recipients=await audience_query(audience).count(),
        notice_id=notice.id,
    )
