"""Consultation polls over HTTP: console (create, close, results) and mini-program (answer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from tortoise.expressions import Q

from server.actions.fanout import audience_query
from server.actions.notices import MAX_ID
from server.actions.polls import (
    ballot_of,
    close_poll,
    create_poll,
    poll_summary,
    record_answers,
    voter_of,
)
from server.api.access import endpoint, principal_of
from server.api.errors import ApiError
from server.api.notices import (
    READERS,
    SENDERS,
    TARGET_PROPERTIES,
    community_audience,
    parse_time,
    refused,
    tz_of,
)
from server.db.comms import Poll, PollBallot, PollReport
from server.db.people import Resident, RoomBinding, Staff
from server.domain.polls import VOTE_PER, PollInvalid

bp = Blueprint("api_polls", url_prefix="/api/v1")

POLL_BODY = {
    "type": "object",
    "required": ["community_id", "title", "questions", "closes_at"],
    "properties": {
        **TARGET_PROPERTIES,
        "title": {"type": "string", "maxLength": 64},
        "questions": {
            "type": "array",
            "description": "[{kind: single|multiple|rating|text, text, options: [..]}]",
        },
        "vote_per": {"type": "string", "enum": list(VOTE_PER)},
        "opens_at": {"type": "string", "maxLength": 40, "description": "ISO 8601; empty = now"},
        "closes_at": {"type": "string", "maxLength": 40},
        "responsible_ids": {"type": "array", "items": {"type": "integer"}},
    },
}
ANSWERS_BODY = {
    "type": "object",
    "required": ["answers"],
    "properties": {
        "answers": {
            "type": "object",
            "description": 'question number -> "A", "AC", 2, [0, 2], 5 or text',
        }
    },
}
POLL_RESPONSE = {"type": "object", "properties": {"poll": {"type": "object"}}}
MY_POLL = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "status": {"type": "string"},
        "opens_at": {"type": "string"},
        "closes_at": {"type": "string"},
        "questions": {"type": "integer", "description": "how many"},
        "answered": {"type": "boolean"},
        "accepting": {"type": "boolean", "description": "answers are still taken"},
    },
}
MY_POLLS_RESPONSE = {"type": "object", "properties": {"items": {"type": "array", "items": MY_POLL}}}
RECENTLY_CLOSED = timedelta(days=30)  # closed polls stay in a resident's list this long
MY_POLLS_MAX = 50


def _now() -> datetime:
    return datetime.now(UTC)


def poll_view(poll: Poll, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": poll.id,
        "community_id": poll.community_id,
        "title": poll.title,
        "questions": poll.questions,
        "vote_per": poll.vote_per,
        "status": poll.status,
        "opens_at": poll.opens_at.astimezone(tz).isoformat(),
        "closes_at": poll.closes_at.astimezone(tz).isoformat(),
        "owner_id": poll.owner_id,
    }


@endpoint(
    bp,
    "POST",
    "/polls",
    allow=SENDERS,
    summary="Create a consultation poll; residents are invited when it opens",
    body=POLL_BODY,
    response=POLL_RESPONSE,
)
async def post_poll(request: Request) -> HTTPResponse:
    data = request.ctx.body
    community, audience = await community_audience(request, data)
    closes_at = parse_time(request, data["closes_at"], "closes_at")
    assert closes_at is not None
    responsible = data.get("responsible_ids") or []
    if not isinstance(responsible, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in responsible
    ):
        raise ApiError(400, "bad_field", "field 'responsible_ids' must be an array of ids")
    try:
        poll = await create_poll(
            community,
            data["title"],
            data["questions"],
            audience,
            owner=await Staff.get(id=principal_of(request).id),
            now=_now(),
            tz=tz_of(request),
            closes_at=closes_at,
            opens_at=parse_time(request, data.get("opens_at"), "opens_at"),
            vote_per=data.get("vote_per") or "household",
            responsible_ids=responsible,
        )
    except PollInvalid as exc:
        raise refused(exc) from None
    view = poll_view(poll, tz_of(request))
    view["audience_size"] = await audience_query(audience).count()
    return json({"poll": view}, status=201)


async def _poll(request: Request, poll_id: int) -> Poll:
    """The poll if the caller may see it: staff of its community, or a resident it invites."""
    poll = await Poll.get_or_none(id=poll_id) if 0 < poll_id <= MAX_ID else None
    p = principal_of(request)
    if poll is not None and p.may_see_community(poll.community_id):
        return poll
    raise ApiError(404, "not_found", "no such poll")


@endpoint(
    bp,
    "GET",
    "/polls/<poll_id:int>",
    allow=READERS | {"resident"},
    summary="A poll: its questions and, for a resident, their own answers; for staff, results",
    response=POLL_RESPONSE,
)
async def get_poll(request: Request, poll_id: int) -> HTTPResponse:
    poll = await _poll(request, poll_id)
    p = principal_of(request)
    view = poll_view(poll, tz_of(request))
    if p.kind == "resident":
        resident = await Resident.get(id=p.id)
        ballot = await ballot_of(poll, resident)
        view["answers"] = ballot.answers if ballot else {}
        view["invited"] = await voter_of(poll, resident) is not None
        return json({"poll": view})
    report = await PollReport.get_or_none(poll=poll)
    view["summary"] = report.summary if report else await poll_summary(poll)
    view["final"] = report is not None
    return json({"poll": view})


@endpoint(
    bp,
    "GET",
    "/me/polls",
    allow={"resident"},
    summary="Polls I am invited to: open and recently closed, newest first, answered or not",
    response=MY_POLLS_RESPONSE,
)
async def my_polls(request: Request) -> HTTPResponse:
    resident = await Resident.get(id=principal_of(request).id)
    now, tz = _now(), tz_of(request)
    communities = await RoomBinding.filter(resident_id=resident.id).values_list(
        "room__community_id", flat=True
    )
    polls = (
        await Poll.filter(community_id__in=list(communities) or [0])
        .filter(Q(status="open") | Q(status="closed", closed_at__gte=now - RECENTLY_CLOSED))
        .order_by("-opens_at", "-id")
        .limit(MY_POLLS_MAX)
    )
    items = []
    for poll in polls:
        voter = await voter_of(poll, resident)
        if voter is None:
            continue
        ballot = await PollBallot.get_or_none(poll=poll, voter_key=voter[0])
        view = poll_view(poll, tz)
        items.append(
            {
                **{k: view[k] for k in ("id", "title", "status", "opens_at", "closes_at")},
                "questions": len(poll.questions),
                "answered": bool(ballot and ballot.answers),
                "accepting": poll.status == "open" and now < poll.closes_at,
            }
        )
    return json({"items": items})


@endpoint(
    bp,
    "PUT",
    "/polls/<poll_id:int>/answers",
    allow={"resident"},
    summary="Answer a poll (replaces earlier answers until it closes)",
    body=ANSWERS_BODY,
    response=POLL_RESPONSE,
)
async def put_answers(request: Request, poll_id: int) -> HTTPResponse:
    poll = await _poll(request, poll_id)
    resident = await Resident.get(id=principal_of(request).id)
    try:
        ballot = await record_answers(
            poll, resident, request.ctx.body["answers"], _now(), replace=True
        )
    except PollInvalid as exc:
        status = 409 if exc.code == "poll_closed" else 403 if exc.code == "not_invited" else 400
        raise ApiError(status, exc.code, refused(exc).args[0]) from None
    view = poll_view(poll, tz_of(request))
    view["answers"] = ballot.answers
    return json({"poll": view})


@endpoint(
    bp,
    "POST",
    "/polls/<poll_id:int>/close",
    allow=SENDERS,
    summary="Close a poll now: its report is stored and pushed to the responsible people",
    response=POLL_RESPONSE,
)
async def post_close(request: Request, poll_id: int) -> HTTPResponse:
    poll = await _poll(request, poll_id)
    p = principal_of(request)
    if poll.owner_id != p.id and p.role != "manager":
        raise ApiError(403, "forbidden", "only the poll's owner or a manager may close it")
    if poll.status != "open":
        raise ApiError(409, "wrong_state", "the poll is not open")
    report = await close_poll(poll, _now(), tz_of(request))
    if report is None:
        raise ApiError(409, "wrong_state", "the poll is not open")
    view = poll_view(poll, tz_of(request))
    view["summary"], view["final"] = report.summary, True
    return json({"poll": view})
