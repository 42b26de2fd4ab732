"""What residents want, per community (console): activity, top demands, satisfaction, trend.

Every inbound text or voice message from the community's residents is categorised with the
bot's own NLU categories (the words in bot/lexicon/categories.yaml, the ones repairs are routed
by); tasks and complaints carry their category; a rated task is a rating in its category.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from bot.nlu import parse
from server.actions.notices import MAX_ID
from server.api.access import check_community, endpoint
from server.api.errors import ApiError
from server.api.notices import tz_of
from server.db.estate import Community
from server.db.inbound import InboundMessage
from server.db.people import Resident, RoomBinding
from server.db.tasks import Task
from server.domain.demand import PERIODS, Signal, insights

bp = Blueprint("api_insights", url_prefix="/api/v1")

VIEWERS = frozenset({"manager", "lead", "assessor"})
DEFAULT_DAYS = 90
MAX_DAYS = 731
MESSAGE_KINDS = ("text", "voice")

INSIGHTS_RESPONSE = {
    "type": "object",
    "properties": {
        "community_id": {"type": "integer"},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "period": {"type": "string"},
        "activity": {"type": "object"},
        "totals": {"type": "object"},
        "top_demands": {"type": "array"},
        "satisfaction": {"type": "array"},
        "trend": {"type": "array"},
    },
}


def message_category(text: str) -> str:
    """The NLU category of a message (water, noise, ...), or other."""
    return parse(text).slots.get("category") or "other"


def _day(request: Request, name: str, default: date) -> date:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "bad_field", f"{name} must be a date (YYYY-MM-DD)") from None


async def community_signals(
    community_id: int, start: datetime, end: datetime
) -> tuple[list[Signal], int]:
    """Every categorised signal of one community in [start, end), and its household count."""
    bindings = await RoomBinding.filter(room__community_id=community_id).values_list(
        "resident_id", "room_id"
    )
    households = len({room for _, room in bindings})
    openids = await Resident.filter(id__in=list({r for r, _ in bindings}) or [0]).values_list(
        "openid", flat=True
    )
    signals = [
        Signal("message", message_category(m["content"]), m["received_at"])
        for m in await InboundMessage.filter(
            openid__in=[o for o in openids if o] or [""],
            kind__in=MESSAGE_KINDS,
            received_at__gte=start,
            received_at__lt=end,
        ).values("content", "received_at")
    ]
    for t in await Task.filter(
        community_id=community_id, created_at__gte=start, created_at__lt=end
    ).values("kind", "category", "created_at"):
        source = "complaint" if t["kind"] == "complaint" else "task"
        signals.append(Signal(source, t["category"], t["created_at"]))
    for t in await Task.filter(
        community_id=community_id,
        score__isnull=False,
        closed_at__gte=start,
        closed_at__lt=end,
    ).values("category", "closed_at", "score"):
        signals.append(Signal("rating", t["category"], t["closed_at"], int(t["score"])))
    return signals, households


@endpoint(
    bp,
    "GET",
    "/communities/<community_id:int>/insights",
    allow=VIEWERS,
    summary="What residents want: activity, top demands, satisfaction per category, trend",
    response=INSIGHTS_RESPONSE,
)
async def get_insights(request: Request, community_id: int) -> HTTPResponse:
    """`from`/`to` are local dates, both included (default: the last 90 days); `period` is
    week or month (default month)."""
    check_community(request, community_id)
    if not 0 < community_id <= MAX_ID or not await Community.exists(id=community_id):
        raise ApiError(404, "not_found", "no such community in your scope")
    tz = tz_of(request)
    today = datetime.now(UTC).astimezone(tz).date()
    last = _day(request, "to", today)
    first = _day(request, "from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last or (last - first).days >= MAX_DAYS:
        raise ApiError(400, "bad_field", f"from must be before to, at most {MAX_DAYS} days apart")
    period = request.args.get("period") or "month"
    if period not in PERIODS:
        raise ApiError(400, "bad_field", "period must be week or month")
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    signals, households = await community_signals(community_id, start, end)
    body: dict[str, Any] = {
        "community_id": community_id,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "period": period,
        **insights(signals, households, period=period, tz=tz),
    }
    return json(body)
