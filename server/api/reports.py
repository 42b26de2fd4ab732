"""Live reports: satisfaction, demands, facilities, repair costs, and a custom report.

Every report is one grouped query over the KPI fact table (server/actions/kpi.py); the caller
picks a dimension and a measure by name from whitelists, never SQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions import kpi as kpi_actions
from server.actions.kpi import DIMENSIONS, MEASURES, Filters, KpiRefused
from server.actions.tasks import parse_ref
from server.api.access import endpoint, principal_of
from server.api.errors import ApiError
from server.db.estate import Building, Community
from server.db.people import Department, Staff
from server.db.reporting import TaskFact
from server.domain.kpi import PERIODS

bp = Blueprint("api_reports", url_prefix="/api/v1")

REPORTERS = frozenset({"lead", "manager", "assessor"})
COST_KEEPERS = frozenset({"lead", "manager", "billing"})
# report name -> (dimension, measures, only tasks at a public spot)
CANNED = {
    "satisfaction": ("building", ("count", "mean_score", "excellence_rate"), False),
    "demands": ("category", ("count", "completed", "completion_ratio"), False),
    "facilities": ("place", ("count", "completed", "mean_resolution_s"), True),
    "costs": ("building", ("count", "cost"), False),
}
REPORT_RESPONSE = {
    "type": "object",
    "properties": {
        "report": {"type": "string"},
        "dimension": {"type": "string"},
        "measures": {"type": "array"},
        "rows": {"type": "array"},
    },
}


def _refused(exc: KpiRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


async def report_filters(request: Request, viewer: Staff) -> Filters:
    """The viewer's rows narrowed by the query's period, community, department, building,
    category and kind; a filter outside the viewer's scope is a 404."""
    tz = ZoneInfo(request.app.ctx.services.settings.tz_name)
    period = request.args.get("period", "month")
    if period not in PERIODS:
        raise ApiError(400, "bad_period", f"period must be one of {', '.join(PERIODS)}")
    try:
        first, last = kpi_actions.period_of(period, request.args.get("at", ""), tz)
        f = await kpi_actions.viewer_filters(viewer, first, last)
    except KpiRefused as exc:
        raise _refused(exc) from None
    args = request.args
    if args.get("community"):
        community = await Community.get_or_none(code=args.get("community"))
        if community is None or (
            f.community_ids is not None and community.id not in f.community_ids
        ):
            raise ApiError(404, "not_found", "no such community in your scope")
        f = replace(f, community_ids=frozenset({community.id}))
    if args.get("department"):
        department = await Department.get_or_none(code=args.get("department"))
        if department is None or f.department_id not in (None, department.id):
            raise ApiError(404, "not_found", "no such department in your scope")
        f = replace(f, department_id=department.id)
    if args.get("building"):
        if not str(args.get("building")).isdigit():
            raise ApiError(400, "bad_building", "building is a building id")
        building = await Building.get_or_none(id=int(str(args.get("building"))))
        if building is None:
            raise ApiError(404, "not_found", "no such building")
        f = replace(f, building_id=building.id)
    if args.get("category"):
        f = replace(f, category=str(args.get("category"))[:24])
    if args.get("kind"):
        f = replace(f, kind=str(args.get("kind"))[:32])
    return f


async def run_report(
    f: Filters, dimension: str, measures: tuple[str, ...], public_only: bool = False
) -> list[dict[str, object]]:
    """Rows of {key, name, <measure>: value} for the dimension's groups."""
    try:
        groups = await kpi_actions.grouped(dimension, f, datetime.now(UTC))
    except KpiRefused as exc:
        raise _refused(exc) from None
    rows = []
    for g in groups:
        if public_only and not g.key:
            continue
        values = g.kpis.as_dict()
        rows.append({"key": g.key, "name": g.name, **{m: values[MEASURES[m]] for m in measures}})
    return rows


@endpoint(
    bp,
    "GET",
    "/reports/custom",
    allow=REPORTERS,
    summary="Custom report: dimension, measure, filters (community, department, building, "
    "category, kind) and period",
    response=REPORT_RESPONSE,
)
async def custom_report(request: Request) -> HTTPResponse:
    viewer = await Staff.get(id=principal_of(request).id)
    dimension = request.args.get("dimension", "community")
    if dimension not in DIMENSIONS:
        raise ApiError(400, "bad_dimension", f"dimension must be one of {', '.join(DIMENSIONS)}")
    measures = tuple(m for m in request.args.get("measure", "count").split(",") if m)
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise ApiError(400, "bad_measure", f"measure must be among {', '.join(MEASURES)}")
    f = await report_filters(request, viewer)
    rows = await run_report(f, dimension, measures)
    return json({"report": "custom", "dimension": dimension, "measures": measures, "rows": rows})


@endpoint(
    bp,
    "GET",
    "/reports/<name:str>",
    allow=REPORTERS,
    summary="Live report: satisfaction, demands, facilities or costs, per community and building",
    response=REPORT_RESPONSE,
)
async def canned_report(request: Request, name: str) -> HTTPResponse:
    if name not in CANNED:
        raise ApiError(404, "not_found", f"reports are {', '.join(CANNED)} and custom")
    viewer = await Staff.get(id=principal_of(request).id)
    dimension, measures, public_only = CANNED[name]
    f = await report_filters(request, viewer)
    rows = await run_report(f, dimension, measures, public_only)
    return json({"report": name, "dimension": dimension, "measures": measures, "rows": rows})


@endpoint(
    bp,
    "POST",
    "/tasks/<ref:str>/cost",
    allow=COST_KEEPERS,
    summary="Record what a completed task cost (yuan) for the repair-cost report",
    body={
        "type": "object",
        "required": ["cost"],
        "properties": {"cost": {"type": "number", "minimum": 0, "maximum": 9999999999}},
    },
    response={
        "type": "object",
        "properties": {"ref": {"type": "string"}, "cost": {"type": "number"}},
    },
)
async def record_cost(request: Request, ref: str) -> HTTPResponse:
    viewer = await Staff.get(id=principal_of(request).id)
    task_id = parse_ref(ref)
    fact = await TaskFact.get_or_none(task_id=task_id) if task_id else None
    if (
        fact is None
        or not principal_of(request).may_see_community(fact.community_id)
        or (viewer.role == "lead" and fact.department_id != viewer.department_id)
    ):
        raise ApiError(404, "not_found", f"no task {ref}")
    try:
        row = await kpi_actions.set_cost(ref, request.ctx.body["cost"], datetime.now(UTC))
    except KpiRefused as exc:
        raise _refused(exc) from None
    return json({"ref": ref, "cost": float(row.cost) if row.cost is not None else None})
