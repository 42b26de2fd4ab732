"""The breach overview over HTTP: what is late, where it is stuck, how late, how far escalated."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.clocks import LateTask, late_tasks
from server.actions.tasks import is_external, place_text
from server.api.access import endpoint, principal_of
from server.api.errors import ApiError
from server.db.estate import Community
from server.db.people import Department, Staff
from templates_msg import label

bp = Blueprint("api_sla", url_prefix="/api/v1")

# Leads watch their teams, managers their estates, the assessment department everyone's
# timeliness (DESIGN.md: "assessment dept ... sees breaches and KPIs").
OVERSEERS = frozenset({"lead", "manager", "assessor"})
MAX_LIMIT = 1000

BREACHES_RESPONSE = {
    "type": "object",
    "properties": {
        "items": {"type": "array"},
        "count": {"type": "integer"},
        "now": {"type": "string"},
    },
}


@endpoint(
    bp,
    "GET",
    "/sla/breaches",
    allow=OVERSEERS,
    summary="Late tasks: where each is stuck, which clock, how late, escalation level",
    response=BREACHES_RESPONSE,
)
async def list_breaches(request: Request) -> HTTPResponse:
    p = principal_of(request)
    if await is_external(await Staff.get(id=p.id)):
        # Contractors see only their own jobs (article 6.2), never the company's overview.
        raise ApiError(403, "forbidden", label("refusal", "not_allowed"))
    tz = ZoneInfo(request.app.ctx.services.settings.tz_name)
    communities = None if p.all_communities else set(p.community_ids)
    code = request.args.get("community")
    if code:
        community = await Community.get_or_none(code=code)
        if community is None or not p.may_see_community(community.id):
            raise ApiError(404, "not_found", "no such community in your scope")
        communities = {community.id}
    department_id = None
    if request.args.get("department"):
        department = await Department.get_or_none(code=request.args.get("department"))
        if department is None:
            raise ApiError(404, "not_found", "no such department")
        department_id = department.id
    try:
        limit = int(request.args.get("limit", "200"))
    except ValueError:
        raise ApiError(400, "bad_limit", "limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_limit", f"limit must be 1 to {MAX_LIMIT}")
    now = datetime.now(UTC)
    items = await late_tasks(
        now, community_ids=communities, department_id=department_id, limit=limit, tz=tz
    )
    return json(
        {
            "items": [_item(t, tz) for t in items],
            "count": len(items),
            "now": now.astimezone(tz).isoformat(),
        }
    )


def _item(late: LateTask, tz: ZoneInfo) -> dict[str, object]:
    task = late.task
    return {
        "ref": task.ref,
        "kind": task.kind,
        "urgency": task.urgency,
        "community": task.community.code,
        "place": place_text(task, task.room),
        "state": task.state,
        "state_name": label("state", task.state),
        "department": task.department.code if task.department else None,
        "department_name": task.department.name if task.department else None,
        "assignee": (
            {"id": task.assignee.id, "name": task.assignee.name} if task.assignee else None
        ),
        "since": late.since.astimezone(tz).isoformat() if late.since else None,
        "late_s": int(late.late_s),
        "level": late.level,
        "clocks": [
            {
                "clock": c.clock,
                "clock_name": label("clock", c.clock),
                "due_at": c.due_at.astimezone(tz).isoformat(),
                "late_s": int(c.late_s),
                "late_business_s": int(c.late_business_s),
                "level": c.level,
                "paused": c.paused,
            }
            for c in late.clocks
        ],
    }
