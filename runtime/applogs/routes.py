"""``/status/logs``: query the app's logs, or add one (developers only)."""

from __future__ import annotations

import json
from typing import Any

from flask import jsonify, request

from core.api import Blueprint, errors
from core.errors import ValidationFailed, field_error
from core.identity import require_developer
from core.services import services
from runtime.applogs.query import LEVELS, parse_log_query
from runtime.applogs.schemas import Log, LogBody, LogPage, LogQuery
from runtime.applogs.service import MAX_INFO_BYTES, MAX_MESSAGE, AppLogs

blp = Blueprint("applogs", __name__, description="Application logs")


@blp.route("/status/logs", methods=["GET"])
@blp.arguments(LogQuery, location="query")
@blp.response(200, LogPage)
@errors(blp, 401, 403)
def list_logs(_query: dict[str, Any]):
    require_developer()
    return jsonify(_logs().query(parse_log_query(request.args)))


@blp.route("/status/logs", methods=["POST"])
@blp.arguments(LogBody, location="body")
@blp.response(200, Log)
@errors(blp, 401, 403)
def create_log(body: dict[str, Any]):
    require_developer()
    level, message, info = _log_body(body)
    return jsonify(_logs().write(level, message, info, type="EXTERNAL"))


def _log_body(body: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    """``{level, message, additionalInfo}``: level defaults to INFO; message is required."""
    errors = []
    level = body.get("level", "INFO")
    if level is None:
        level = "INFO"
    if not isinstance(level, str) or level.upper() not in LEVELS:
        errors.append(field_error("level", "invalid", f"Level must be one of {', '.join(LEVELS)}", "Level", level))
    message = body.get("message")
    if message is None or message == "":
        errors.append(field_error("message", "required", "Message is required", "Message"))
    elif not isinstance(message, str):
        errors.append(field_error("message", "invalid", "Message must be a string", "Message"))
    elif len(message) > MAX_MESSAGE:
        errors.append(field_error("message", "invalid", f"Message must be at most {MAX_MESSAGE} characters",
                                  "Message"))
    info = body.get("additionalInfo")
    if info is not None and not isinstance(info, dict):
        errors.append(field_error("additionalInfo", "invalid", "Additional info must be a JSON object",
                                  "Additional info"))
    elif info is not None and len(json.dumps(info)) > MAX_INFO_BYTES:
        errors.append(field_error("additionalInfo", "invalid",
                                  f"Additional info must be at most {MAX_INFO_BYTES} bytes of JSON", "Additional info"))
    if errors:
        raise ValidationFailed(errors)
    return str(level).upper(), message, info


def _logs() -> AppLogs:
    logs = services().app_logs
    assert isinstance(logs, AppLogs)
    return logs
