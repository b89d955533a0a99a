"""Record and document ids as clients send them."""

from __future__ import annotations

from typing import Any

from bson import ObjectId


def parse_object_id(value: Any) -> ObjectId | None:
    """The ObjectId a client's value names, or None when it is not a 24-hex-digit id."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value) and len(value) == 24:
        return ObjectId(value)
    return None
