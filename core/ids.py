"""Record and document ids as clients send them."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

# The JSON Schema of an id as the API writes it (the OpenAPI document, and types that describe their values).
OBJECT_ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-fA-F]{24}$",
                                    "example": "5506fc44c2eee3b1a702694c"}


def parse_object_id(value: Any) -> ObjectId | None:
    """The ObjectId a client's value names, or None when it is not a 24-hex-digit id."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and len(value) == 24:
        try:
            return ObjectId(value)
        except InvalidId:
            return None
    return None
