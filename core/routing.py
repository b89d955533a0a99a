"""A flask-smorest ``Blueprint`` whose argument errors use the API's error shape.

``@blp.arguments(Schema, location="json"|"query")`` on these blueprints answers a bad body or query with
400 ``validationErrors`` and one ``{field, code, message}`` per problem, like every other route.
"""

from __future__ import annotations

from typing import Any, NoReturn

import marshmallow as ma
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from core.errors import ValidationFailed, field_error


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    """marshmallow's nested ``{field: [messages]}`` as a flat list of field errors (``a.b`` paths)."""
    out: list[dict[str, Any]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "" if key == "_schema" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out += field_errors(value, path)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            code = "required" if "required" in message.lower() else "invalid"
            out.append(field_error(prefix, code, message))
    elif isinstance(messages, list):
        for item in messages:
            out += field_errors(item, prefix)
    else:
        out.append(field_error(prefix, "invalid", str(messages)))
    return out


class ApiParser(FlaskParser):
    def handle_error(self, error: ma.ValidationError, req: Any, schema: ma.Schema, *, error_status_code: int | None,
                     error_headers: Any) -> NoReturn:
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1:  # webargs keys them by location
            (location, inner), = messages.items()
            if location in ("json", "query", "querystring", "form"):
                messages = inner
        raise ValidationFailed(field_errors(messages))


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ApiParser()
