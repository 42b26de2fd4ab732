"""Operational routes: /healthz, /metrics, /openapi.json."""

from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, json, text
from tortoise import connections

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
    return text(METRICS.render(), content_type="text/plain; version=0.0.4")


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
