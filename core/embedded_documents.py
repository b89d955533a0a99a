"""A patch of mongomock-ng's per-document walk on every write (part of ``core.embedded_index.install``).

mongomock copies each inserted or replaced document with ``helpers.patch_datetime_awareness_in_document``,
which tests every value against four types in Python: about half the time of an insert, and more for
documents with nested parts (a record with its history outbox, a history entry). The patched walk copies
plain dicts, lists and scalars directly and hands every other value (datetimes, timestamps, ordered dicts,
tuples, subclasses) to mongomock's own function, so the result is the same.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from mongomock_ng import helpers

upstream = helpers.patch_datetime_awareness_in_document  # mongomock's own, kept for the other values and tests
_PLAIN = frozenset({str, int, float, bool, type(None), ObjectId, bytes})


def install() -> None:
    """Replace the walk (idempotent)."""
    helpers.patch_datetime_awareness_in_document = patched


def patched(value: Any) -> Any:
    """What ``upstream(value)`` returns: a copy with datetimes made naive UTC at millisecond precision."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _PLAIN else patched(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN else patched(v) for v in value]
    if kind in _PLAIN:
        return value
    return upstream(value)
