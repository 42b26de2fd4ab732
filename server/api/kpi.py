"""KPIs and work summaries over HTTP: per person, department or community and period."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions import kpi as kpi_actions
from server.actions.kpi import Filters, KpiRefused, Subject
from server.api.access import ANY_STAFF, endpoint, principal_of
from server.api.errors import ApiError
from server.db.people import Staff
from server.domain.kpi import PERIODS, kpis

bp = Blueprint("api_kpi", url_prefix="/api/v1")

KPI_RESPONSE = {
    "type": "object",
    "properties": {
        "scope": {"type": "string"},
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "period": {"type": "string"},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "kpis": {"type": "object"},
    },
}
SUMMARY_RESPONSE = {
    "type": "object",
    "properties": {
        "scope": {"type": "string"},
        "kpis": {"type": "object"},
        "people": {"type": "array"},
        "items": {"type": "array"},
    },
}


async def question(request: Request) -> tuple[Staff, Subject, Filters, str]:
    """Who asks, about whom, over which days, as the caller may see it; errors as ApiError."""
    viewer = await Staff.get(id=principal_of(request).id)
    tz = ZoneInfo(request.app.ctx.services.settings.tz_name)
    period = request.args.get("period", "month")
    if period not in PERIODS:
        raise ApiError(400, "bad_period", f"period must be one of {', '.join(PERIODS)}")
    try:
        first, last = kpi_actions.period_of(period, request.args.get("at", ""), tz)
        subject = await kpi_actions.subject_of(
            request.args.get("scope", "person"), request.args.get("id", ""), viewer
        )
        filters = await kpi_actions.scope_filters(viewer, subject, first, last)
    except KpiRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return viewer, subject, filters, period


def _head(subject: Subject, filters: Filters, period: str) -> dict[str, object]:
    return {
        "scope": subject.scope,
        "id": subject.id,
        "name": subject.name,
        "period": period,
        "from": filters.first.isoformat(),
        "to": filters.last.isoformat(),
    }


@endpoint(
    bp,
    "GET",
    "/kpi",
    allow=ANY_STAFF,
    summary="KPIs of a person, department or community over a period (docs/kpi.md)",
    response=KPI_RESPONSE,
)
async def get_kpi(request: Request) -> HTTPResponse:
    _, subject, filters, period = await question(request)
    totals = await kpi_actions.totals(filters, datetime.now(UTC))
    return json({**_head(subject, filters, period), "kpis": kpis(totals).as_dict()})


@endpoint(
    bp,
    "GET",
    "/kpi/summary",
    allow=ANY_STAFF,
    summary="Work summary: what was done, how long it took, how it was rated",
    response=SUMMARY_RESPONSE,
)
async def get_summary(request: Request) -> HTTPResponse:
    _, subject, filters, period = await question(request)
    now = datetime.now(UTC)
    totals = await kpi_actions.totals(filters, now)
    people = []
    if subject.scope != "person":
        people = [
            {"id": int(g.key), "name": g.name, "kpis": g.kpis.as_dict()}
            for g in await kpi_actions.grouped("assignee", filters, now)
            if g.key
        ]
    items = await kpi_actions.summary_items(filters)
    return json(
        {
            **_head(subject, filters, period),
            "kpis": kpis(totals).as_dict(),
            "people": people,
            "items": [asdict(i) for i in items],
        }
    )
