"""What a bound resident can ask in one message: 我的报修, T1042 进度, 取消报修, 催单, rating,
我家欠费多少."""

from __future__ import annotations

from typing import Any

from bot.context import Turn, room_address, rooms_of
from bot.nlu import parse_score
from server.actions import fees as fee_actions
from server.actions.tasks import (
    Actor,
    Move,
    TaskRefused,
    fire,
    get_task,
    place_text,
    rating_transition,
)
from server.db.tasks import Task, TaskEvent
from templates_msg import label, render_text

OPEN_STATES = ("submitted", "assigned", "accepted", "on_site", "reopened")
# config/processes/repair.yaml
CANCELLABLE_STATES = ("submitted", "assigned", "accepted", "held_for_payment")
LIST_LIMIT = 5
# One urge per task per half hour reaches the handler; more would only be noise on their phone.
URGE_EVERY_S = 1800


async def run(turn: Turn, intent: str, slots: dict[str, str], text: str) -> str:
    """Answer a query_progress / cancel_task / urge_task / rate / check_fees message."""
    if turn.resident is None:
        return render_text("bind_needed")
    if intent == "check_fees":
        return await fees(turn)
    ref = slots.get("task_ref")
    if intent == "query_progress":
        return await progress(turn, ref) if ref else await my_reports(turn)
    if intent == "cancel_task":
        return await cancel(turn, ref)
    if intent == "urge_task":
        return await urge(turn, ref)
    return await rate(turn, slots, text)


async def _item(task: Task, turn: Turn) -> dict[str, Any]:
    await task.fetch_related("room__unit__building")
    return {
        "ref": task.ref,
        "category_name": label("category", task.category),
        "place": place_text(task, task.room),
        "state_name": label("state", task.state),
        "date": task.created_at.astimezone(turn.tz).strftime("%m-%d"),
    }


def _mine(turn: Turn) -> Any:
    assert turn.resident is not None
    return Task.filter(reporter_id=turn.resident.id)


async def my_reports(turn: Turn) -> str:
    tasks = await _mine(turn).order_by("-id").limit(LIST_LIMIT)
    if not tasks:
        return render_text("my_reports_none")
    return render_text("my_reports", items=[await _item(t, turn) for t in tasks])


async def _own(turn: Turn, ref: str) -> Task:
    """The resident's own task, or TaskRefused("no_such_task"): others' tasks do not exist."""
    task = await get_task(ref)
    if turn.resident is None or task.reporter_id != turn.resident.id:
        raise TaskRefused("no_such_task", ref)
    return task


def _refused(ref: str, refused: TaskRefused) -> str:
    return render_text("task_refused", ref=ref, reason=label("refusal", refused.code))


async def progress(turn: Turn, ref: str) -> str:
    try:
        task = await _own(turn, ref)
    except TaskRefused as refused:
        return _refused(ref, refused)
    await task.fetch_related("room__unit__building", "assignee")
    changed = (
        await TaskEvent.filter(task_id=task.id, to_state=task.state)
        .exclude(from_state=task.state)
        .order_by("-id")
        .first()
    )
    since = changed.at if changed else task.created_at
    return render_text(
        "task_progress",
        ref=task.ref,
        category_name=label("category", task.category),
        place=place_text(task, task.room),
        state_name=label("state", task.state),
        since=since.astimezone(turn.tz).strftime("%m-%d %H:%M"),
        staff_name=task.assignee.name if task.assignee else "",
        score=task.score or "",
    )


async def _fire(turn: Turn, ref: str, transition: str, move: Move) -> Task:
    assert turn.resident is not None
    return await fire(
        ref, transition, Actor.of_resident(turn.resident), move, now=turn.now, tz=turn.tz
    )


async def cancel(turn: Turn, ref: str | None) -> str:
    if ref is None:
        open_tasks = await _mine(turn).filter(state__in=CANCELLABLE_STATES).order_by("-id")
        if not open_tasks:
            return render_text("no_open_task")
        if len(open_tasks) > 1:
            return render_text("cancel_which", items=[await _item(t, turn) for t in open_tasks])
        ref = open_tasks[0].ref
    try:
        await _own(turn, ref)
        task = await _fire(turn, ref, "cancel", Move())
    except TaskRefused as refused:
        return _refused(ref, refused)
    if turn.dialogue.task_ref == task.ref:
        turn.dialogue.task_ref, turn.dialogue.asking = "", ""
    return render_text("cancel_done", ref=task.ref)


async def urge(turn: Turn, ref: str | None) -> str:
    if ref is None:
        latest = await _mine(turn).filter(state__in=OPEN_STATES).order_by("-id").first()
        if latest is None:
            return render_text("no_open_task")
        ref = latest.ref
    try:
        task = await _own(turn, ref)
    except TaskRefused as refused:
        return _refused(ref, refused)
    throttle = f"{turn.prefix}urged:{task.ref}"
    if not await turn.redis.set(throttle, "1", nx=True, ex=URGE_EVERY_S):
        return render_text("urge_recent", ref=task.ref)
    try:
        task = await _fire(turn, task.ref, "urge", Move())
    except TaskRefused as refused:
        await turn.redis.delete(throttle)
        return _refused(task.ref, refused)
    await task.fetch_related("assignee")
    return render_text(
        "urge_done", ref=task.ref, staff_name=task.assignee.name if task.assignee else ""
    )


async def rate(turn: Turn, slots: dict[str, str], text: str) -> str:
    """A rating for the named task, else the resident's most recent completed one."""
    found = parse_score(text)
    score = int(slots["score"]) if slots.get("score") else (found[0] if found else None)
    if score is None:
        return render_text("rate_none")
    comment = slots.get("comment") or (found[1] if found else "")
    ref = slots.get("task_ref")
    if ref is None:
        latest = (
            await _mine(turn).filter(state="completed").order_by("-completed_at", "-id").first()
        )
        if latest is None:
            return render_text("rate_none")
        ref = latest.ref
    try:
        await _own(turn, ref)
        task = await _fire(turn, ref, rating_transition(score), Move(score=score, comment=comment))
    except TaskRefused as refused:
        return _refused(ref, refused)
    return render_text("rate_done", ref=task.ref, score=score, closed=task.state == "closed")


async def fees(turn: Turn) -> str:
    """What each bound room still owes per item, what is overdue, and how to pay."""
    rooms = await rooms_of(turn.resident)
    today = fee_actions.local_date(turn.now, turn.tz)
    summaries, owing, any_rows = [], False, False
    for room in rooms:
        statement = await fee_actions.statement(room, today)
        any_rows = any_rows or bool(statement["rows"])
        items = [b for b in statement["balances"] if b["outstanding"] != "0.00"]
        owing = owing or bool(items)
        summaries.append({"place": room_address(room, community=len(rooms) > 1), "lines": items})
    if not any_rows:
        return render_text("fee_summary_none")
    return render_text(
        "fee_summary", rooms=summaries, owing=owing, how_to_pay=render_text("how_to_pay")
    )
