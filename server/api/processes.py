"""Process definitions over HTTP: which versions run how much work, and migrating running tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.tasks import Actor
from server.actions.versions import migrate_tasks, process_versions
from server.api.access import endpoint, principal_of
from server.api.errors import ApiError
from server.db.people import Staff
from server.domain.versions import MigrationError

bp = Blueprint("api_processes", url_prefix="/api/v1")

# Who may look at process versions; only managers move running work between them.
VIEWERS = frozenset({"manager", "lead", "assessor", "data_admin"})
MIGRATORS = frozenset({"manager"})

MIGRATE_BODY = {
    "type": "object",
    "required": ["to_version"],
    "properties": {
        "to_version": {"type": "string", "maxLength": 16},
        "map": {"type": "object"},
        "clocks": {"type": "string", "enum": ["keep", "restart"]},
        "from_versions": {"type": "array"},
    },
}


@endpoint(
    bp,
    "GET",
    "/processes",
    allow=VIEWERS,
    summary="Process kinds, their versions and how many tasks run on each",
)
async def list_processes(request: Request) -> HTTPResponse:
    return json({"items": await process_versions()})


@endpoint(
    bp,
    "POST",
    "/processes/<kind:str>/migrate",
    allow=MIGRATORS,
    summary="Move running tasks to another version: state map, clocks keep or restart",
    body=MIGRATE_BODY,
)
async def migrate_process(request: Request, kind: str) -> HTTPResponse:
    body = request.ctx.body
    mapping = body.get("map") or {}
    from_versions = body.get("from_versions") or []
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ApiError(400, "bad_field", "field 'map' must map state names to state names")
    if not all(isinstance(v, str) for v in from_versions):
        raise ApiError(400, "bad_field", "field 'from_versions' must list version strings")
    actor = Actor.of_staff(await Staff.get(id=principal_of(request).id))
    try:
        report = await migrate_tasks(
            kind,
            body["to_version"],
            mapping,
            body.get("clocks", "keep"),
            tz=ZoneInfo(request.app.ctx.services.settings.tz_name),
            actor=actor,
            from_versions=from_versions,
            clock=lambda: datetime.now(UTC),
        )
    except MigrationError as exc:
        return json(
            {
                "error": {
                    "code": "bad_migration",
                    "message": str(exc),
                    "problems": list(exc.problems),
                }
            },
            status=400,
        )
    return json(report.as_dict())
