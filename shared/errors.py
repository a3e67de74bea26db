"""One JSON error shape for every API error: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

import logging

from flask_smorest import Api
from marshmallow import Schema, fields
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

_MESSAGES = {
    413: "The request body is larger than this service accepts.",
    422: "Some fields are not valid; see `fields`.",
    500: "Something went wrong on our side; the error has been logged.",
}


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"description": "machine-readable reason"})
    message = fields.String(required=True, metadata={"description": "for a person to read"})
    fields = fields.Dict(
        keys=fields.String(),
        metadata={"description": "field name → list of problems, for validation errors"},
    )


class ErrorBody(Schema):
    error = fields.Nested(ErrorDetail, required=True)


class Problem(Exception):
    """A request the caller can fix, raised anywhere below the views; answered as JSON.

    `raise Conflict("already_registered", "This e-mail is already registered.")`"""

    status = 400

    def __init__(self, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields

    def body(self) -> dict:
        detail = {"code": self.code, "message": self.message}
        if self.fields:
            detail["fields"] = self.fields
        return {"error": detail}


class Unauthorized(Problem):
    status = 401


class Forbidden(Problem):
    status = 403


class NotFound(Problem):
    status = 404


class Conflict(Problem):
    status = 409


class Unsupported(Problem):
    status = 415


class Invalid(Problem):
    status = 422


def _split(messages: dict) -> tuple[dict, list[str]]:
    """webargs nests errors under their location ("json", "query"): returns the per-field
    errors, and the errors about a whole location (such as a body that is not JSON)."""
    fields: dict = {}
    general: list[str] = []
    for errors in messages.values():
        if isinstance(errors, dict):
            fields.update(errors)
        else:
            general += [str(e) for e in errors] if isinstance(errors, list) else [str(errors)]
    return fields, general


def error_body(error: HTTPException) -> dict:
    status = error.code or 500
    code = _CODES.get(status, "error")
    data = getattr(error, "data", None) or {}
    problems, general = _split(data.get("messages") or {})
    message = (
        data.get("message")
        or (" ".join(general) if general else None)
        or _MESSAGES.get(status)
        or error.description
    )
    detail = {"code": code, "message": message}
    if problems:
        detail["fields"] = problems
    return {"error": detail}


def _json_too_deep(error: RecursionError):
    """A body nested deeper than Python's recursion limit (`[[[[…`) makes the standard JSON
    decoder raise RecursionError, which webargs does not turn into a 400 as it does other bad
    JSON. Any other RecursionError is a bug of ours: raised again, it is a logged 500."""
    if "decoding a JSON" not in str(error):
        raise error
    return Problem("bad_request", "The JSON body is nested too deeply.").body(), 400


def _database_unavailable(error: OperationalError):
    """The database did not answer (a dropped connection, a failover, SQLite's lock held too
    long): nothing was written, so the caller may simply try again. Logged with the cause, in
    case it is not an outage after all."""
    log.error("database unavailable", exc_info=error)
    body = Problem("unavailable", "The database is not reachable just now; try again.").body()
    return body, 503, {"Retry-After": "5"}


class RollcallApi(Api):
    ERROR_SCHEMA = ErrorBody

    def _register_error_handlers(self):
        super()._register_error_handlers()
        self._app.register_error_handler(Problem, lambda p: (p.body(), p.status))
        self._app.register_error_handler(RecursionError, _json_too_deep)
        self._app.register_error_handler(OperationalError, _database_unavailable)

    def handle_http_exception(self, error: HTTPException):
        if isinstance(error, InternalServerError):
            log.error("unhandled error", exc_info=error.original_exception)
        headers = (getattr(error, "data", None) or {}).get("headers", {})
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            headers = {**headers, "Allow": ", ".join(error.valid_methods)}
        return error_body(error), error.code or 500, headers
