"""The web console (/console): staff sign in with a one-time code, then see the live task board,
KPI charts, reports, notices and polls, process versions and fee holds. docs/console.md.

Server-rendered jinja2; ECharts is vendored under static/vendor (no CDN). The session is an
HttpOnly, SameSite=Lax cookie signed with settings.secret_key; every POST form carries a CSRF
token bound to a per-browser cookie. Residents' phones are masked on every page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, redirect

from server.actions import kpi as kpi_actions
from server.actions.kpi import DIMENSIONS, MEASURES, KpiRefused
from server.actions.notify import Recipient, enqueue
from server.actions.tasks import contractor_may_see, is_external, place_text
from server.actions.versions import process_versions
from server.api.errors import ApiError
from server.api.reports import CANNED, run_report
from server.api.tokens import issue_token, read_token
from server.db.comms import Notice, Poll
from server.db.people import Staff
from server.db.tasks import Task, TaskClock, TaskEvent
from server.domain import kpi
from server.domain.kpi import PERIODS
from server.domain.privacy import mask_phone
from templates_msg import PAGES_DIR, label

HERE = Path(__file__).resolve().parent
bp = Blueprint("console", url_prefix="/console")
bp.static("/static", str(HERE / "static"), name="static")

SESSION_COOKIE = "wuye_console"
CSRF_COOKIE = "wuye_csrf"
SESSION_TTL_S = 12 * 3600
CODE_TTL_S = 300
CODE_TRIES = 5
BOARD_LIMIT = 200
HELD_STATE = "held_for_payment"

_pages = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PAGES_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
_pages.globals["label"] = label


def _duration(seconds: float | None) -> str:
    """1h 05m / 3d 2h / 45m; '-' for no data."""
    if seconds is None:
        return "-"
    minutes = int(seconds) // 60
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


_pages.filters["duration"] = _duration
_pages.filters["percent"] = _percent


def _settings(request: Request) -> Any:
    return request.app.ctx.services.settings


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(_settings(request).tz_name)


def _mac(request: Request, text: str) -> str:
    key = _settings(request).secret_key.encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _csrf(request: Request) -> tuple[str, str]:
    """(cookie value, form token): the token is the cookie's MAC, so only our pages know it."""
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
    return cookie, _mac(request, f"csrf:{cookie}")


def _field(request: Request, name: str, limit: int) -> str:
    form = request.form
    return str(form.get(name, "") if form is not None else "").strip()[:limit]


def _check_csrf(request: Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    token = _field(request, "csrf", 200)
    if not cookie or not hmac.compare_digest(token, _mac(request, f"csrf:{cookie}")):
        raise ApiError(403, "bad_csrf", "the form has expired, reload the page")


def _set_cookie(request: Request, response: HTTPResponse, name: str, value: str, ttl: int) -> None:
    response.add_cookie(
        name,
        value,
        path="/console",
        httponly=True,
        samesite="Lax",
        secure=request.scheme == "https",
        max_age=ttl,
    )


def _page(
    request: Request, template: str, viewer: Staff | None, status: int = 200, **ctx: Any
) -> HTTPResponse:
    cookie, token = _csrf(request)
    body = _pages.get_template(template).render(viewer=viewer, csrf=token, **ctx)
    response = html(body, status=status)
    if request.cookies.get(CSRF_COOKIE) != cookie:
        _set_cookie(request, response, CSRF_COOKIE, cookie, SESSION_TTL_S)
    return response


async def _viewer(request: Request) -> Staff | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    claims = read_token(_settings(request).secret_key, token) if token else None
    if not claims or claims.get("kind") != "console":
        return None
    return await Staff.get_or_none(id=claims.get("id"))


async def _communities(staff: Staff) -> set[int] | None:
    if staff.all_communities:
        return None
    return {c.id for c in await staff.communities.all()}


# ---------------------------------------------------------------------------- sign in


def _code_key(request: Request, staff_id: int) -> str:
    return f"{_settings(request).redis_prefix}console:code:{staff_id}"


@bp.get("/")
async def index(request: Request) -> HTTPResponse:
    return redirect("/console/board")


@bp.get("/login")
async def login_form(request: Request) -> HTTPResponse:
    return _page(request, "login.html", None, step="phone", phone="", error="")


@bp.post("/login")
async def send_code(request: Request) -> HTTPResponse:
    """Send a one-time code to the staff member with this phone (same answer for any phone)."""
    _check_csrf(request)
    phone = _field(request, "phone", 20)
    staff = await Staff.filter(phone=phone).first() if phone else None
    if staff is not None:
        code = f"{secrets.randbelow(10**6):06d}"
        redis = request.app.ctx.services.redis
        key = _code_key(request, staff.id)
        await redis.delete(key + ":tries")
        await redis.set(key, _mac(request, f"code:{staff.id}:{code}"), ex=CODE_TTL_S)
        now = datetime.now(UTC)
        await enqueue(
            "console_code",
            Recipient.of_staff(staff),
            {"code": code, "minutes": CODE_TTL_S // 60},
            key=f"console_code:{staff.id}:{secrets.token_hex(8)}",
            now=now,
        )
    return _page(request, "login.html", None, step="code", phone=phone, error="")


@bp.post("/login/verify")
async def verify_code(request: Request) -> HTTPResponse:
    _check_csrf(request)
    phone = _field(request, "phone", 20)
    code = _field(request, "code", 6)
    staff = await Staff.filter(phone=phone).first() if phone else None
    if staff is not None:
        redis = request.app.ctx.services.redis
        key = _code_key(request, staff.id)
        expected = await redis.get(key)
        tries = await redis.incr(key + ":tries")
        await redis.expire(key + ":tries", CODE_TTL_S)
        if isinstance(expected, bytes):
            expected = expected.decode()
        given = _mac(request, f"code:{staff.id}:{code}")
        if expected and tries <= CODE_TRIES and hmac.compare_digest(expected, given):
            await redis.delete(key, key + ":tries")
            response = redirect("/console/board")
            token = issue_token(
                _settings(request).secret_key, {"kind": "console", "id": staff.id}, SESSION_TTL_S
            )
            _set_cookie(request, response, SESSION_COOKIE, token, SESSION_TTL_S)
            return response
    return _page(request, "login.html", None, 401, step="code", phone=phone, error="bad_code")


@bp.post("/logout")
async def logout(request: Request) -> HTTPResponse:
    _check_csrf(request)
    response = redirect("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# ---------------------------------------------------------------------------- board


async def _open_tasks(viewer: Staff, state: str | None = None) -> list[Task]:
    """Open tasks the viewer may see: staff their own, leads their department's, managers all
    in their communities, contractors their own jobs."""
    query = Task.filter(closed_at__isnull=True)
    if state:
        query = query.filter(state=state)
    communities = await _communities(viewer)
    if communities is not None:
        query = query.filter(community_id__in=sorted(communities))
    external = await is_external(viewer)
    if not external and viewer.role == "lead":
        query = query.filter(department_id=viewer.department_id)
    elif not external and viewer.role == "staff":
        query = query.filter(assignee_id=viewer.id)
    tasks = (
        await query.order_by("created_at")
        .limit(BOARD_LIMIT * 5)
        .prefetch_related("community", "department", "assignee", "reporter", "room__unit__building")
    )
    if external:
        tasks = [t for t in tasks if contractor_may_see(t, viewer.id, viewer.department_id)]
    return tasks


def _reporter(task: Task) -> str:
    if task.reporter is None:
        return ""
    return f"{task.reporter.name} {mask_phone(task.reporter.phone)}"


async def _board_rows(tasks: list[Task], tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    ids = [t.id for t in tasks]
    late: dict[int, list[tuple[str, datetime]]] = {}
    for clock in await TaskClock.filter(task_id__in=ids, stopped_at__isnull=True, due_at__lt=now):
        if clock.due_at is not None:
            late.setdefault(clock.task_id, []).append((clock.name, clock.due_at))
    since: dict[int, datetime] = {}
    for event in (
        await TaskEvent.filter(task_id__in=ids)
        .order_by("id")
        .values("task_id", "from_state", "to_state", "at")
    ):
        if event["from_state"] != event["to_state"]:
            since[event["task_id"]] = event["at"]
    rows: list[dict[str, Any]] = []
    for t in tasks:
        clocks = late.get(t.id, [])
        overdue_s = max(((now - due).total_seconds() for _, due in clocks), default=0.0)
        rows.append(
            {
                "ref": t.ref,
                "community": t.community.name,
                "place": place_text(t, t.room),
                "category": label("category", t.category),
                "state": label("state", t.state),
                "with": t.assignee.name if t.assignee else "",
                "department": t.department.name if t.department else "",
                "since": since.get(t.id, t.created_at).astimezone(tz).strftime("%m-%d %H:%M"),
                "late": [label("clock", name) for name, _ in clocks],
                "overdue_s": overdue_s,
                "reporter": _reporter(t),
            }
        )
    rows.sort(key=lambda r: (-r["overdue_s"], r["since"]))
    return rows[:BOARD_LIMIT]


@bp.get("/board")
async def board(request: Request) -> HTTPResponse:
    viewer = await _viewer(request)
    if viewer is None:
        return redirect("/console/login")
    now = datetime.now(UTC)
    rows = await _board_rows(await _open_tasks(viewer), _tz(request), now)
    overdue = sum(1 for r in rows if r["overdue_s"])
    return _page(request, "board.html", viewer, rows=rows, overdue=overdue, active="board")


@bp.get("/holds")
async def holds(request: Request) -> HTTPResponse:
    viewer = await _viewer(request)
    if viewer is None:
        return redirect("/console/login")
    tasks = await _open_tasks(viewer, HELD_STATE)
    rows = await _board_rows(tasks, _tz(request), datetime.now(UTC))
    return _page(request, "holds.html", viewer, rows=rows, active="holds")


# ---------------------------------------------------------------------------- KPIs and reports


async def _dashboard(request: Request, viewer: Staff) -> dict[str, Any]:
    tz = _tz(request)
    args = request.args
    period = args.get("period", "month")
    if period not in PERIODS:
        raise KpiRefused(400, "bad_period", f"period must be one of {', '.join(PERIODS)}")
    first, last = kpi_actions.period_of(period, args.get("at", ""), tz)
    scope = args.get("scope", "")
    if scope:
        subject = await kpi_actions.subject_of(scope, args.get("id", ""), viewer)
        f = await kpi_actions.scope_filters(viewer, subject, first, last)
        title = subject.name
    else:
        try:  # leads: their department; managers and assessors: their estates
            f = await kpi_actions.viewer_filters(viewer, first, last)
            title = ""
        except KpiRefused:
            f = kpi_actions.Filters(first, last, assignee_id=viewer.id)
            title = viewer.name
    now = datetime.now(UTC)
    totals = await kpi_actions.totals(f, now)
    by = "assignee" if f.assignee_id is None and f.department_id is not None else "department"
    if f.assignee_id is not None:
        by = "category"
    groups = await kpi_actions.grouped(by, f, now)
    days = await kpi_actions.grouped("day", f, now)
    chart = {
        "groups": [g.name for g in groups],
        "timely": [g.kpis.timely_ratio for g in groups],
        "completion": [g.kpis.completion_ratio for g in groups],
        "days": [g.key for g in days],
        "tasks": [g.kpis.tasks for g in days],
        "completed": [g.kpis.completed for g in days],
    }
    return {
        "title": title,
        "period": period,
        "first": first.isoformat(),
        "last": last.isoformat(),
        "kpis": kpi.kpis(totals),
        "by": by,
        "groups": groups,
        "chart_json": json.dumps(chart, ensure_ascii=False),
        "items": [asdict(i) for i in await kpi_actions.summary_items(f, 50)],
    }


@bp.get("/kpi")
async def dashboard(request: Request) -> HTTPResponse:
    viewer = await _viewer(request)
    if viewer is None:
        return redirect("/console/login")
    try:
        ctx = await _dashboard(request, viewer)
    except KpiRefused as exc:
        return _page(request, "error.html", viewer, exc.status, message=exc.message, active="kpi")
    return _page(request, "kpi.html", viewer, active="kpi", periods=PERIODS, **ctx)


@bp.get("/reports")
async def reports(request: Request) -> HTTPResponse:
    viewer = await _viewer(request)
    if viewer is None:
        return redirect("/console/login")
    args = request.args
    dimension = args.get("dimension", "community")
    measure = args.get("measure", "count")
    try:
        if dimension not in DIMENSIONS or measure not in MEASURES:
            raise KpiRefused(400, "bad_report", "pick a dimension and a measure from the lists")
        period = args.get("period", "month")
        if period not in PERIODS:
            raise KpiRefused(400, "bad_period", f"period must be one of {', '.join(PERIODS)}")
        first, last = kpi_actions.period_of(period, args.get("at", ""), _tz(request))
        f = await kpi_actions.viewer_filters(viewer, first, last)
        if args.get("category"):
            f = replace(f, category=str(args.get("category"))[:24])
        canned = {
            name: (spec, await run_report(f, spec[0], spec[1], spec[2]))
            for name, spec in CANNED.items()
        }
        custom = await run_report(f, dimension, (measure,))
    except (KpiRefused, ApiError) as exc:
        message = exc.message if isinstance(exc, KpiRefused) else str(exc)
        return _page(request, "error.html", viewer, 403, message=message, active="reports")
    chart = {"names": [r["name"] for r in custom], "values": [r[measure] for r in custom]}
    return _page(
        request,
        "reports.html",
        viewer,
        active="reports",
        canned=canned,
        custom=custom,
        dimension=dimension,
        measure=measure,
        dimensions=list(DIMENSIONS),
        measures=list(MEASURES),
        periods=PERIODS,
        period=period,
        at=args.get("at", ""),
        chart_json=json.dumps(chart, ensure_ascii=False),
    )


# ---------------------------------------------------------------------------- the rest


@bp.get("/processes")
async def processes(request: Request) -> HTTPResponse:
    viewer = await _viewer(request)
    if viewer is None:
        return redirect("/console/login")
    return _page(
        request, "processes.html", viewer, kinds=await process_versions(), active="processes"
    )


@bp.get("/comms")
async def comms(request: Request) -> HTTPResponse:
    """Notices and polls of the viewer's estates (issue 7 owns writing them: its API)."""
    viewer = await _viewer(request)
    if viewer is None:
        return redirect("/console/login")
    communities = await _communities(viewer)
    notices = Notice.all()
    polls = Poll.all()
    if communities is not None:
        notices = notices.filter(community_id__in=sorted(communities))
        polls = polls.filter(community_id__in=sorted(communities))
    since = datetime.now(UTC) - timedelta(days=90)
    tz = _tz(request)
    return _page(
        request,
        "comms.html",
        viewer,
        active="comms",
        tz=tz,
        notices=await notices.filter(created_at__gte=since)
        .order_by("-created_at")
        .limit(100)
        .prefetch_related("community"),
        polls=await polls.filter(created_at__gte=since)
        .order_by("-created_at")
        .limit(100)
        .prefetch_related("community"),
    )
