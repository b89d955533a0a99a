"""Small request helpers shared by the routes: JSON bodies, booleans, the paged list shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import request

from core.errors import BadRequest


def json_body(default: Any = None) -> Any:
    """The parsed JSON body; an empty body gives ``default``; anything unparsable is a 400 that says so."""
    raw = request.get_data(cache=True)
    if not raw or not raw.strip():
        return default
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON in request body: {exc}") from None


def json_object(default: Any = None) -> dict[str, Any]:
    body = json_body(default)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


def parse_bool(raw: str) -> bool:
    """The one boolean parser of request and file values: ``true/1/yes`` → True, ``false/0/no`` → False (any case,
    blanks around ignored); anything else is a ValueError."""
    low = raw.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


def page(total: int, docs: list[dict[str, Any]], render: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """A listing's ``{total, offset, items}``: ``offset`` is the id of the last document, sent back as ``_offset``."""
    return {"total": total, "offset": str(docs[-1]["_id"]) if docs else None, "items": [render(d) for d in docs]}
