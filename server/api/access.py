"""The one access layer for /api/v1: who is calling (token), may they (role), and where (community).

Every /api/v1 handler is registered through `endpoint(...)`, so no route can skip the check;
tests/integration/test_api_access.py walks the router to keep it that way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from server.api.errors import ApiError
from server.api.tokens import read_token
from server.db.people import Resident, Staff

STAFF_ROLES = frozenset(
    {"staff", "lead", "manager", "assessor", "billing", "data_admin", "customer_service"}
)
PUBLIC = "public"
SIGNED_IN = "signed_in"
ANY_STAFF = STAFF_ROLES
MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds (PostgreSQL int4)

Handler = Callable[..., Awaitable[HTTPResponse]]


@dataclass(frozen=True)
class Principal:
    """The caller: kind is staff, resident or guest (a mini-program user not yet on the roster)."""

    kind: str
    id: int | None
    role: str
    openid: str
    all_communities: bool
    community_ids: frozenset[int]

    def may_see_community(self, community_id: int) -> bool:
        return self.all_communities or community_id in self.community_ids


async def load_principal(claims: dict[str, Any]) -> Principal | None:
    kind, pid, openid = claims.get("kind"), claims.get("id"), str(claims.get("openid", ""))
    if kind == "staff":
        staff = await Staff.get_or_none(id=pid).prefetch_related("communities")
        if staff is None:
            return None
        return Principal(
            "staff",
            staff.id,
            staff.role,
            openid,
            staff.all_communities,
            frozenset(c.id for c in staff.communities),
        )
    if kind == "resident":
        resident = await Resident.get_or_none(id=pid).prefetch_related("bindings__room")
        if resident is None:
            return None
        rooms = frozenset(b.room.community_id for b in resident.bindings)
        return Principal("resident", resident.id, "resident", openid, False, rooms)
    if kind == "guest":
        return Principal("guest", None, "guest", openid, False, frozenset())
    return None


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "sign in first: Authorization: Bearer <token>")
    claims = read_token(request.app.ctx.services.settings.secret_key, token.strip())
    principal = await load_principal(claims) if claims else None
    if principal is None:
        raise ApiError(401, "unauthorized", "the token is invalid or has expired, sign in again")
    return principal


def endpoint(
    bp: Blueprint,
    method: str,
    path: str,
    *,
    allow: str | Iterable[str],
    summary: str,
    body: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> Callable[[Handler], Handler]:
    """Register an /api/v1 route with its access rule and its OpenAPI description.

    `allow` is PUBLIC, SIGNED_IN, or a set of roles (staff roles, "resident", "guest").
    """
    roles = None if isinstance(allow, str) else frozenset(allow)

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            if any(isinstance(v, int) and not 0 <= v <= MAX_ID for v in kwargs.values()):
                raise ApiError(404, "not_found", "no such id")  # beyond any database id
            if _has_nul([kwargs, request.args]):
                raise ApiError(400, "bad_request", "text may not contain NUL characters")
            if allow != PUBLIC:
                principal = await authenticate(request)
                if roles is not None and principal.role not in roles:
                    raise ApiError(403, "forbidden", "your role may not do this")
                request.ctx.principal = principal
            if body is not None:
                request.ctx.body = check_body(request, body)
            return await handler(request, *args, **kwargs)

        guarded.__dict__["__openapi__"] = {
            "summary": summary,
            "allow": sorted(roles) if roles is not None else allow,
            "body": body,
            "response": response,
        }
        bp.add_route(guarded, path, methods=[method], name=handler.__name__)
        return guarded

    return decorate


def principal_of(request: Request) -> Principal:
    return request.ctx.principal  # type: ignore[no-any-return]


def check_community(request: Request, community_id: int) -> None:
    """Refuse data of a community outside the caller's scope (404: existence is not disclosed)."""
    if not principal_of(request).may_see_community(community_id):
        raise ApiError(404, "not_found", "no such community in your scope")


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _has_nul(value: Any) -> bool:
    """A NUL character anywhere: PostgreSQL text cannot store it (SQLite would, silently)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def check_body(request: Request, schema: dict[str, Any]) -> dict[str, Any]:
    """Validate a JSON body against a small JSON-schema subset; 400 with the field named."""
    try:
        data = request.json
    except Exception as exc:  # sanic raises BadRequest subclasses on malformed JSON
        raise ApiError(400, "bad_json", "the body is not valid JSON") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ApiError(400, "bad_body", "the body must be a JSON object")
    if _has_nul(data):
        raise ApiError(400, "bad_body", "text may not contain NUL characters")
    props: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if data.get(name) in (None, ""):
            raise ApiError(400, "missing_field", f"field '{name}' is required")
    for name, value in data.items():
        spec = props.get(name)
        if spec is None or value is None:
            continue
        expected = _TYPES[spec["type"]]
        if not isinstance(value, expected) or (
            spec["type"] != "boolean" and isinstance(value, bool)
        ):
            raise ApiError(400, "bad_field", f"field '{name}' must be a {spec['type']}")
        if isinstance(value, str) and len(value) > spec.get("maxLength", 2000):
            raise ApiError(400, "bad_field", f"field '{name}' is too long")
        if "enum" in spec and value not in spec["enum"]:
            raise ApiError(400, "bad_field", f"field '{name}' must be one of {spec['enum']}")
        if spec["type"] in ("integer", "number"):
            if "minimum" in spec and value < spec["minimum"]:
                raise ApiError(400, "bad_field", f"field '{name}' must be ≥ {spec['minimum']}")
            if "maximum" in spec and value > spec["maximum"]:
                raise ApiError(400, "bad_field", f"field '{name}' must be ≤ {spec['maximum']}")
    return data


def aware_time(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time from a body field, with its UTC offset (None when absent); 400 if not."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "bad_field", f"field '{name}' must be an ISO 8601 time") from None
    if value.tzinfo is None:
        raise ApiError(400, "bad_field", f"field '{name}' needs a UTC offset")
    return value
