"""Consultation polls: create, open (invitation broadcast), answer, close (report + summary push).

One ballot row per voter key (`room:<id>` for one vote per household, `resident:<id>` for one
per person), unique per poll: answering again replaces the earlier answer until the poll
closes. docs/polls.md explains the choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.actions.fanout import audience_query, create_broadcast
from server.actions.notify import Recipient, enqueue
from server.db.comms import Poll, PollBallot, PollReport
from server.db.estate import Community
from server.db.people import Resident, RoomBinding, Staff
from server.domain.polls import (
    VOTE_PER,
    Ballot,
    PollInvalid,
    check_answer,
    check_questions,
    questions_of,
    summarize,
    themes,
)
from templates_msg import render_text

STOPWORDS_FILE = Path(__file__).with_name("poll_stopwords.txt")
MAX_DUE = 50


def _stored(questions: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"kind": q.kind, "text": q.text, "options": list(q.options)} for q in questions]


def closes_text(poll: Poll, tz: ZoneInfo) -> str:
    return poll.closes_at.astimezone(tz).strftime("%m-%d %H:%M")


async def create_poll(
    community: Community,
    title: str,
    questions: Sequence[Mapping[str, Any]],
    audience: dict[str, Any],
    *,
    owner: Staff,
    now: datetime,
    tz: ZoneInfo,
    closes_at: datetime,
    opens_at: datetime | None = None,
    vote_per: str = "household",
    responsible_ids: Sequence[int] = (),
) -> Poll:
    """Record a poll; when it opens now, its invitation goes out in the same transaction."""
    checked = check_questions(questions)
    opens_at = opens_at if opens_at is not None and opens_at > now else now
    if not title.strip():
        raise PollInvalid("empty_title")
    if vote_per not in VOTE_PER:
        raise PollInvalid("bad_vote_per")
    if closes_at <= opens_at:
        raise PollInvalid("bad_times")
    responsible = sorted(set(responsible_ids) - {owner.id})
    if len(responsible) != await Staff.filter(id__in=responsible).count():
        raise PollInvalid("unknown_staff")
    async with in_transaction():
        poll = await Poll.create(
            community=community,
            title=title.strip()[:64],
            questions=_stored(checked),
            audience=audience,
            vote_per=vote_per,
            opens_at=opens_at,
            closes_at=closes_at,
            owner=owner,
            responsible_ids=responsible,
            created_at=now,
        )
        if opens_at <= now:
            await _open(poll, now, tz)
    return poll


async def _open(poll: Poll, now: datetime, tz: ZoneInfo) -> None:
    values = {"poll_id": poll.id, "title": poll.title, "closes": closes_text(poll, tz)}
    broadcast = await create_broadcast(
        "poll_invitation", values, key=f"poll:{poll.id}:invitation", now=now, audience=poll.audience
    )
    poll.status, poll.broadcast_id = "open", broadcast.id
    await Poll.filter(id=poll.id).update(status="open", broadcast_id=broadcast.id)


async def open_due_polls(now: datetime, tz: ZoneInfo) -> int:
    """Open scheduled polls whose time has come (worker loop), each once (compare-and-set)."""
    opened = 0
    for poll in await Poll.filter(status="scheduled", opens_at__lte=now).limit(MAX_DUE):
        async with in_transaction():
            if await Poll.filter(id=poll.id, status="scheduled").update(status="opening"):
                await _open(poll, now, tz)
                opened += 1
    return opened


async def close_due_polls(now: datetime, tz: ZoneInfo) -> int:
    closed = 0
    for poll in await Poll.filter(status="open", closes_at__lte=now).limit(MAX_DUE):
        if await close_poll(poll, now, tz) is not None:
            closed += 1
    return closed


# ------------------------------------------------------------------------------ voters


async def _audience_bindings(poll: Poll, resident_id: int | None = None) -> list[dict[str, Any]]:
    """(resident, room, building) for every room through which the audience is in the poll."""
    people = audience_query(poll.audience)
    if resident_id is not None:
        people = people.filter(id=resident_id)
    ids = await people.values_list("id", flat=True)
    bindings = RoomBinding.filter(
        resident_id__in=list(ids) or [0], room__community_id=poll.community_id
    )
    a = poll.audience
    if a.get("relations"):
        bindings = bindings.filter(relation__in=a["relations"])
    places = [
        Q(**{lookup: a[key]})
        for key, lookup in (
            ("building_ids", "room__unit__building_id__in"),
            ("unit_ids", "room__unit_id__in"),
            ("room_ids", "room_id__in"),
            ("phones", "resident__phone__in"),
        )
        if a.get(key)
    ]
    if places:
        bindings = bindings.filter(Q(*places, join_type="OR"))
    return await bindings.order_by("room_id").values(
        "resident_id", "room_id", building="room__unit__building__name"
    )


async def voter_of(poll: Poll, resident: Resident) -> tuple[str, int] | None:
    """The voter key and room a resident votes with, or None when the poll is not for them."""
    rows = await _audience_bindings(poll, resident.id)
    if not rows:
        return None
    room_id = int(rows[0]["room_id"])
    key = f"room:{room_id}" if poll.vote_per == "household" else f"resident:{resident.id}"
    return key, room_id


async def open_polls_for(resident: Resident, now: datetime) -> list[Poll]:
    """Open polls the resident may answer, newest first."""
    communities = await RoomBinding.filter(resident_id=resident.id).values_list(
        "room__community_id", flat=True
    )
    polls = await Poll.filter(
        status="open", closes_at__gt=now, community_id__in=list(communities) or [0]
    ).order_by("-opens_at", "-id")
    return [p for p in polls if await voter_of(p, resident) is not None]


async def ballot_of(poll: Poll, resident: Resident) -> PollBallot | None:
    voter = await voter_of(poll, resident)
    return None if voter is None else await PollBallot.get_or_none(poll=poll, voter_key=voter[0])


def _accepting(poll: Poll, now: datetime) -> None:
    if poll.status != "open" or now >= poll.closes_at:
        raise PollInvalid("poll_closed")


async def record_answers(
    poll: Poll, resident: Resident, answers: Mapping[str, Any], now: datetime, *, replace: bool
) -> PollBallot:
    """Store answers (question number -> value as typed or as JSON) for the resident's voter key.

    `replace` swaps the whole ballot (mini-program); otherwise the given questions are updated
    and the others kept (chat, one question at a time). The unique (poll, voter key) keeps one
    ballot when two people of a household answer at the same moment: the later write wins.
    """
    _accepting(poll, now)
    voter = await voter_of(poll, resident)
    if voter is None:
        raise PollInvalid("not_invited")
    questions = questions_of(poll.questions)
    checked: dict[str, Any] = {}
    for number, value in answers.items():
        if not str(number).isdigit() or not 1 <= int(number) <= len(questions):
            raise PollInvalid("bad_question")
        checked[str(int(number))] = check_answer(questions[int(number) - 1], value)
    key, room_id = voter
    for _ in range(2):
        try:
            async with in_transaction():
                ballot = await PollBallot.select_for_update().get_or_none(poll=poll, voter_key=key)
                if ballot is None:
                    return await PollBallot.create(
                        poll=poll,
                        voter_key=key,
                        resident=resident,
                        room_id=room_id,
                        answers=checked,
                        updated_at=now,
                    )
                ballot.answers = checked if replace else {**ballot.answers, **checked}
                ballot.resident_id, ballot.updated_at = resident.id, now
                await ballot.save(update_fields=["answers", "resident_id", "updated_at"])
                return ballot
        except IntegrityError:
            continue  # another member of the household created it first: update theirs
    raise PollInvalid("busy")


# ------------------------------------------------------------------------------ close


@cache
def stopwords() -> frozenset[str]:
    """Words too common to be a theme (one per line, # comments), from poll_stopwords.txt."""
    lines = STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def _words(text: str) -> list[str]:
    import jieba  # imported on first use: loading its dictionary takes about a second

    return list(jieba.cut(text))


async def poll_summary(poll: Poll) -> dict[str, Any]:
    """Counts, percentages, free-text themes and turnout per building, as of now."""
    rows = await _audience_bindings(poll)
    building_of_room = {int(r["room_id"]): str(r["building"]) for r in rows}
    eligible: dict[str, set[Any]] = {}
    seen: set[int] = set()
    for r in rows:  # ordered by room: a person counts once, in their first room's building
        if poll.vote_per == "household":
            eligible.setdefault(str(r["building"]), set()).add(r["room_id"])
        elif r["resident_id"] not in seen:
            seen.add(r["resident_id"])
            eligible.setdefault(str(r["building"]), set()).add(r["resident_id"])
    stored = await PollBallot.filter(poll=poll).order_by("id")
    ballots = [
        Ballot(b.answers, building_of_room.get(b.room_id or 0, "")) for b in stored if b.answers
    ]
    questions = questions_of(poll.questions)
    text_themes = {
        n: themes(
            (_words(str(b.answers[str(n)])) for b in ballots if str(n) in b.answers), stopwords()
        )
        for n, q in enumerate(questions, start=1)
        if q.kind == "text"
    }
    return summarize(questions, ballots, {k: len(v) for k, v in eligible.items()}, text_themes)


async def close_poll(poll: Poll, now: datetime, tz: ZoneInfo) -> PollReport | None:
    """Close the poll once: store its report and push the summary to the owner and the
    responsible people, in one transaction. None when it was already closed."""
    async with in_transaction():
        if not await Poll.filter(id=poll.id, status="open").update(status="closed", closed_at=now):
            return None
        summary = await poll_summary(poll)
        report = await PollReport.create(poll=poll, summary=summary, created_at=now)
        values = {
            "poll_id": poll.id,
            "title": poll.title,
            "turnout": f"{summary['turnout']:g}%",
            "results": render_text("poll_results", summary=summary),
        }
        for staff in await Staff.filter(id__in=[poll.owner_id, *poll.responsible_ids]):
            await enqueue(
                "poll_summary",
                Recipient.of_staff(staff),
                values,
                key=f"poll:{poll.id}:summary:staff:{staff.id}",
                now=now,
                subject=f"poll:{poll.id}",
            )
    poll.status, poll.closed_at = "closed", now
    return report
