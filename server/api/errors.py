"""JSON errors for every failure: `{"error": {"code", "message"}}`, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, json
from tortoise.exceptions import ValidationError

from server.adapters.outages import SERVICE_DOWN

log = logging.getLogger("wuye.errors")


class ApiError(SanicException):
    """Raise from a handler to answer with a JSON error and the given 4xx status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, status_code=status)
        self.code = code


def error_response(status: int, code: str, message: str) -> HTTPResponse:
    return json({"error": {"code": code, "message": message}}, status=status)


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
}


def install_error_handler(app: Sanic[Any, Any]) -> None:
    @app.exception(Exception)
    async def handle(request: Request, exc: Exception) -> HTTPResponse:
        if isinstance(exc, ApiError):
            return error_response(exc.status_code, exc.code, str(exc))
        if isinstance(exc, SanicException) and 400 <= exc.status_code < 500:
            code = _CODES.get(exc.status_code, "bad_request")
            return error_response(exc.status_code, code, str(exc) or code)
        if isinstance(exc, ValidationError):
            # A value that cannot fit its column (a 300-character code in a URL): the caller's
            # input, caught by the model before any SQL runs.
            log.warning("refused %s %s: %s", request.method, request.path, exc)
            return error_response(400, "bad_request", "a value is too long or malformed")
        if isinstance(exc, SERVICE_DOWN):
            log.warning("%s %s: a service is unavailable: %r", request.method, request.path, exc)
            return error_response(503, "unavailable", "briefly unavailable, try again shortly")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error, it has been logged")
