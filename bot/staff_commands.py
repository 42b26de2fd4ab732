"""Field staff working their tasks in chat: 接单, 我的任务, location = check-in, photo, 完工."""

from __future__ import annotations

import re
from typing import Any

from bot import lexicon
from bot.context import Turn, staff_list_words
from bot.media import fetch_photo
from bot.nlu import Parsed
from server.actions.photos import PhotoRefused, attach_photo
from server.actions.tasks import Actor, Move, TaskRefused, fire, get_task, place_text
from server.db.tasks import Photo, Task
from server.domain.geo import haversine_m
from templates_msg import label, render_text

ACTIVE_STATES = ("assigned", "accepted", "on_site", "reopened")
LIST_LIMIT = 10


async def text(turn: Turn, parsed: Parsed, normalized: str) -> str | None:
    """A staff command, or None when the message is not one (the resident path may take it)."""
    if normalized in staff_list_words():
        return await my_tasks(turn)
    if parsed.intent == "accept_task":
        return await accept(turn, parsed.slots.get("task_ref"))
    if parsed.intent == "complete_task":
        return await complete(turn, parsed.slots.get("task_ref"), _report(normalized))
    return None


def _report(normalized: str) -> str:
    """What was done, said after the command: 完工 T1042 已更换门机皮带 -> 已更换门机皮带."""
    words = lexicon.load("intents")["intents"]["complete_task"]
    refs = lexicon.load("references")
    said_words = (
        *words["strong"],
        *words["with_ref"],
        *refs["task_ref_prefixes"],
        *refs["task_ref_suffixes"],
    )
    noise = sorted({str(w) for w in said_words}, key=len, reverse=True)
    said = re.sub(r"(?<![a-z])t?\d{3,9}", ",", normalized)
    changed = True
    while changed:
        changed = False
        said = said.strip(",")
        for word in noise:
            if said.startswith(word):
                said, changed = said[len(word) :], True
    return said


def _actor(turn: Turn) -> Actor:
    assert turn.staff is not None
    return Actor.of_staff(turn.staff)


def _mine(turn: Turn, *states: str) -> Any:
    assert turn.staff is not None
    return Task.filter(assignee_id=turn.staff.id, state__in=list(states))


async def _item(task: Task) -> dict[str, Any]:
    await task.fetch_related("room__unit__building")
    return {
        "ref": task.ref,
        "category_name": label("category", task.category),
        "place": place_text(task, task.room),
        "state_name": label("state", task.state),
    }


def _refused(ref: str, refused: TaskRefused) -> str:
    return render_text("task_refused", ref=ref, reason=label("refusal", refused.code))


async def my_tasks(turn: Turn) -> str:
    tasks = await _mine(turn, *ACTIVE_STATES).order_by("-id").limit(LIST_LIMIT)
    if not tasks:
        return render_text("staff_tasks_none")
    return render_text("staff_tasks", items=[await _item(t) for t in tasks])


async def _only(turn: Turn, action: str, state: str) -> tuple[str | None, str | None]:
    """(ref, None) for the one task in `state`, else (None, the reply asking for a reference)."""
    tasks = await _mine(turn, state).order_by("-id")
    if not tasks:
        return None, render_text("staff_nothing", action=action)
    if len(tasks) > 1:
        return None, render_text(
            "staff_pick_task", action=action, items=[await _item(t) for t in tasks]
        )
    return tasks[0].ref, None


async def accept(turn: Turn, ref: str | None) -> str:
    if ref is None:
        ref, ask = await _only(turn, "accept", "assigned")
        if ref is None:
            return str(ask)
    try:
        task = await fire(ref, "accept", _actor(turn), Move(), now=turn.now, tz=turn.tz)
    except TaskRefused as refused:
        return _refused(ref, refused)
    item = await _item(task)
    return render_text(
        "staff_accepted", ref=task.ref, place=item["place"], category_name=item["category_name"]
    )


async def complete(turn: Turn, ref: str | None, report: str = "") -> str:
    if ref is None:
        ref, ask = await _only(turn, "complete", "on_site")
        if ref is None:
            return str(ask)
    try:
        task = await fire(
            ref, "complete", _actor(turn), Move(note=report), now=turn.now, tz=turn.tz
        )
    except TaskRefused as refused:
        return _refused(ref, refused)
    return render_text("staff_completed", ref=task.ref)


async def check_in(turn: Turn, lat: float, lng: float) -> str | None:
    """A location message checks in on the most recently accepted task; None if there is none."""
    accepted = await _mine(turn, "accepted").order_by("-accepted_at", "-id")
    if not accepted:
        return None
    task = accepted[0]
    move = Move(lat=lat, lng=lng)
    try:
        task = await fire(task.ref, "check_in", _actor(turn), move, now=turn.now, tz=turn.tz)
    except TaskRefused as refused:
        if refused.code != "outside_geofence":
            return _refused(task.ref, refused)
        await task.fetch_related("community")
        community = task.community
        return render_text(
            "staff_checkin_refused",
            ref=task.ref,
            reason=label("refusal", refused.code),
            distance_m=round(haversine_m(community.lat, community.lng, lat, lng)),
            radius_m=community.radius_m,
        )
    return render_text(
        "staff_checked_in", ref=task.ref, late=bool(task.arrived_late), others=len(accepted) - 1
    )


async def photo(turn: Turn, media_id: str) -> str | None:
    """A photo goes onto the most recent on-site task; None if there is none."""
    task = await _mine(turn, "on_site").order_by("-on_site_at", "-id").first()
    if task is None:
        return None
    assert turn.staff is not None
    try:
        stored = await fetch_photo(turn, media_id, "staff", turn.staff.id)
    except PhotoRefused as refused:
        return render_text("photo_failed", reason=label("photo", refused.code))
    if stored is None:
        return render_text("photo_unavailable")
    task = await get_task(task.ref)
    await attach_photo(stored, task.id)
    count = await Photo.filter(task_id=task.id).count()
    return render_text("staff_photo_attached", ref=task.ref, count=count)


def nothing(action: str) -> str:
    return render_text("staff_nothing", action=action)
