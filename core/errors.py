"""One JSON error shape for every 4xx/5xx: ``{code, message, errors: [{field, code, message}]}``."""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from flask import Flask, current_app, jsonify
from pymongo.errors import ExecutionTimeout, OperationFailure
from werkzeug.exceptions import HTTPException

log = logging.getLogger("core.errors")

_CODES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "notFound",
    405: "methodNotAllowed", 409: "optimisticLocking", 413: "payloadTooLarge",
    415: "unsupportedMediaType", 422: "unprocessableEntity", 500: "internalError", 503: "serviceUnavailable",
}


class ApiError(Exception):
    """An error a client should see: status, code, message and optional field errors."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.errors = errors or []
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "errors": self.errors}
        out.update(self.extra)
        return out


class BadRequest(ApiError):
    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(400, message, errors=errors, **extra)


class NotFound(ApiError):
    def __init__(self, message: str = "Not found"):
        super().__init__(404, message)


class Forbidden(ApiError):
    def __init__(self, message: str = "You don't have permissions for this operation"):
        super().__init__(403, message)


class Unauthorized(ApiError):
    def __init__(self, message: str = "You need to log in or the provided token is not valid"):
        super().__init__(401, message)


class Conflict(ApiError):
    def __init__(self, message: str, **extra: Any):
        super().__init__(409, message, code="optimisticLocking", **extra)


def field_error(field: str, code: str, message: str, label: str | None = None,
                rejected: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"field": field, "fieldLabel": label or field, "code": code, "message": message,
                           "additionalInfo": None}
    if rejected is not None:
        err["additionalInfo"] = {"rejectedValue": rejected}
    return err


class ValidationFailed(ApiError):
    """A 400 with per-field errors, in the platform's ``validationErrors`` shape."""

    def __init__(self, errors: list[dict[str, Any]], message: str = "There are validation errors"):
        super().__init__(400, message, code="validationErrors", errors=errors)


def refused_by_database(exc: OperationFailure, what: str) -> BadRequest:
    """The 400 of a read the database refuses for what it was asked (``what``: "query", "aggregation"), such as a
    pattern it cannot evaluate: the request's fault, not the server's."""
    return BadRequest(f"The database rejected the {what}: {exc.details.get('errmsg') if exc.details else exc}")


_LOCATIONS = ("json", "query", "querystring", "form", "headers", "files", "view_args", "body", "json_or_form")


def top_field(error: dict[str, Any]) -> str:
    """The top-level field a field error is about: ``addresses`` for ``addresses[1].zipCode``."""
    return str(error.get("field") or "").split(".")[0].split("[")[0]


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    """marshmallow's nested ``{field: [message]}`` → ``[{field, code, message}]`` (dotted paths)."""
    out: list[dict[str, Any]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                name = prefix
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(field_errors(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            code = {"Missing data for required field.": "required", "Unknown field.": "unknown"}.get(message,
                                                                                                    "invalid")
            out.append({"field": prefix or "body", "fieldLabel": prefix or "body", "code": code,
                        "message": message, "additionalInfo": None})
    elif isinstance(messages, list):
        for item in messages:
            out.extend(field_errors(item, prefix))
    else:
        out.append({"field": prefix or "body", "fieldLabel": prefix or "body", "code": "invalid",
                    "message": str(messages), "additionalInfo": None})
    return out


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return jsonify(err.body()), err.status, err.headers

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        status = err.code or 500
        messages = (getattr(err, "data", None) or {}).get("messages")
        if status == 422 and isinstance(messages, dict):  # a stock flask-smorest ``@arguments`` error
            # webargs keys the errors by location (``{"json": {...}}``): the field paths start below it
            inner = [v for k, v in messages.items() if k in _LOCATIONS]
            return _api_error(ValidationFailed([e for m in (inner or [messages]) for e in field_errors(m)]))
        message = err.description or err.name
        if status == 404:
            message = "The requested resource does not exist"
        elif status == 405:
            message = "Method not allowed on this resource"
        elif status == 413:
            message = "Request body is too large"
        elif status == 400 and "JSON" in (message or ""):
            message = "Malformed JSON in request body"
        body = {"code": _CODES.get(status, "error"), "message": message, "errors": []}
        response = jsonify(body)
        response.status_code = status
        if status == 405 and getattr(err, "valid_methods", None):
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(ExecutionTimeout)
    def _too_slow(err: ExecutionTimeout):
        limit = current_app.config["RUNTIME"].query_max_time_ms
        body = {"code": "badRequest", "errors": [],
                "message": f"The query took longer than {limit} ms: narrow it with more selective filters"}
        return jsonify(body), 400

    @app.errorhandler(Exception)
    def _unhandled(err: Exception):
        unavailable = unavailable_message(err)
        if unavailable is not None:  # a dependency is down: say so at once, nothing to log as a bug
            log.warning("%s: %s", unavailable, err)
            return jsonify({"code": "serviceUnavailable", "message": unavailable, "errors": []}), 503
        log.exception("unhandled error: %s", err)
        _app_log_error(err)
        body = {"code": "internalError", "message": "Internal error. The problem has been logged.", "errors": []}
        return jsonify(body), 500


DATABASE_UNAVAILABLE = "The database cannot be reached right now; try again shortly"
QUEUE_UNAVAILABLE = ("Background jobs cannot be started right now: the job queue (Redis) cannot be reached; "
                     "try again shortly")


def unavailable_message(err: BaseException) -> str | None:
    """The 503 message for an unreachable database or job queue; None for any other error."""
    from pymongo.errors import ConnectionFailure

    if isinstance(err, ConnectionFailure):  # server selection timeout, network error, reconnecting
        return DATABASE_UNAVAILABLE
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return None
    if isinstance(err, RedisConnectionError | RedisTimeoutError):
        return QUEUE_UNAVAILABLE
    return None
ERROR_LOGS_PER_MINUTE = 30


def _app_log_error(err: Exception) -> None:
    """Leave an ERROR in the app logs (``/status/logs``) so developers see failures without server access.

    At most ``ERROR_LOGS_PER_MINUTE`` a minute per process: requests that keep failing cannot flood the log
    (the process log still gets every one)."""
    from flask import current_app, request

    now = time.monotonic()
    times = current_app.extensions.setdefault("runtime_error_log_times", deque(maxlen=ERROR_LOGS_PER_MINUTE))
    if len(times) == ERROR_LOGS_PER_MINUTE and now - times[0] < 60:
        return
    times.append(now)
    try:
        app_logs = current_app.extensions["runtime"].app_logs
        if app_logs is not None:
            app_logs.log("ERROR", f"Internal error on {request.method} {request.path}: {type(err).__name__}",
                         {"error": str(err)[:1000]})
    except Exception:  # the error page must not fail because logging failed
        log.exception("could not write the app log of an internal error")
