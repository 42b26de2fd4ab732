"""Operational routes: /healthz, /metrics, /openapi.json."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, json, text
from tortoise import connections

from server.db.outbox import OutboxMessage
from server.db.tasks import Timer
from server.metrics import METRICS

bp = Blueprint("health")


@bp.get("/healthz")
async def healthz(request: Request) -> HTTPResponse:
    """Liveness plus a round trip to the database and Redis; 503 names what is down."""
    services = request.app.ctx.services
    checks: dict[str, str] = {}
    try:
        await connections.get("default").execute_query("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        await services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return json({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)


@bp.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    """This process's counters, plus backlog gauges every process shares (read at scrape time)."""
    return text(METRICS.render() + await backlog_gauges(request), content_type="text/plain")


async def backlog_gauges(request: Request) -> str:
    """Work waiting on the workers: if these grow, workers are missing or too few.

    Each is one indexed query: outbox rows due and unsent, timers past due by more than a
    minute and not fired, and live worker processes (their Redis heartbeats).
    """
    services = request.app.ctx.services
    now = datetime.now(UTC)
    pending = OutboxMessage.filter(status="pending", next_attempt_at__lte=now)
    first = await pending.order_by("next_attempt_at").first()
    waited = (now - first.next_attempt_at).total_seconds() if first else 0.0
    overdue = Timer.filter(fired_at=None, cancelled=False, due_at__lt=now - timedelta(minutes=1))
    workers = [
        k async for k in services.redis.scan_iter(f"{services.settings.redis_prefix}worker:*")
    ]
    gauges = {
        "wuye_outbox_due": await pending.count(),
        "wuye_outbox_oldest_due_seconds": waited,
        "wuye_timers_overdue": await overdue.count(),
        "wuye_workers_alive": len(workers),
    }
    return "".join(f"{name} {value:g}\n" for name, value in gauges.items())


@bp.get("/openapi.json")
async def openapi(request: Request) -> HTTPResponse:
    return json(build_openapi(request.app))


def build_openapi(app: Sanic[Any, Any]) -> dict[str, Any]:
    """OpenAPI 3.0 built from the routes registered through server.api.access.endpoint."""
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes:
        meta = getattr(route.handler, "__openapi__", None)
        if meta is None:
            continue
        path = "/" + re.sub(r"<(\w+)(:[^>]+)?>", r"{\1}", route.path.lstrip("/"))
        params = [
            {
                "name": p.name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if p.cast is int else "string"},
            }
            for p in route.params.values()
        ]
        for method in route.methods:
            op: dict[str, Any] = {
                "summary": meta["summary"],
                "operationId": route.name.split(".")[-1],
                "x-allow": meta["allow"],
                "parameters": params,
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": meta["response"] or {"type": "object"}}
                        },
                    },
                    "400": {
                        "description": "bad input",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                    "401": {"description": "no valid token"},
                    "403": {"description": "role may not do this"},
                    "404": {"description": "not found or outside your scope"},
                },
            }
            if meta["allow"] != "public":
                op["security"] = [{"bearer": []}]
            if meta["body"] is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": meta["body"]}},
                }
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "wuye API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                }
            },
        },
    }
