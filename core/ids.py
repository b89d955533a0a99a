"""Record and document ids as clients send them."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId


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
