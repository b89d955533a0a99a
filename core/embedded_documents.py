"""Patches of mongomock-ng's per-document walks on every write and read (part of ``core.embedded_index.install``).

mongomock copies each inserted or replaced document with ``helpers.patch_datetime_awareness_in_document``,
which tests every value against four types in Python: about half the time of an insert, and more for
documents with nested parts (a record with its history outbox, a history entry). The patched walk copies
plain dicts, lists and scalars directly and hands every other value (datetimes, timestamps, ordered dicts,
tuples, subclasses) to mongomock's own function, so the result is the same.

Every document a read returns is copied by ``collection._copy_field``, which calls ``copy.copy`` on each
scalar (a Python call per string of a list). The patched copy returns the scalars ``copy.copy`` returns as
they are (strings, numbers, booleans, None, bytes) directly, and the immutable values it would rebuild through
pickling (ObjectIds, datetimes, ``Binary``) as they are too; every other value goes to mongomock's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from bson import Binary, ObjectId
from mongomock_ng import helpers

upstream = helpers.patch_datetime_awareness_in_document  # mongomock's own, kept for the other values and tests
_PLAIN = frozenset({str, int, float, bool, type(None), ObjectId, bytes, Binary})


_SAME = frozenset({str, int, float, bool, type(None), bytes})  # copy.copy returns these objects themselves
# Immutable values that copy.copy rebuilds through pickling's reduce (every _id, date and packed history entry
# of every document read, several µs each): an equal object, so the read hands out the stored one instead
_IMMUTABLE = _SAME | {Binary, ObjectId, dt.datetime}


def install() -> None:
    """Replace the walk (idempotent)."""
    helpers.patch_datetime_awareness_in_document = patched


def install_copy(replace: Callable[[Any, str, Any], None]) -> None:
    """Replace the read copy, through ``core.embedded_index``'s ``replace`` (so its ``upstream`` restores it)."""
    from mongomock_ng import collection

    upstream_copy = collection._copy_field

    def copy_field(obj: Any, container: Any) -> Any:
        """What ``upstream_copy(obj, container)`` returns (the same immutable ``Binary``, ``ObjectId`` or datetime
        rather than an equal copy)."""
        kind = type(obj)
        if kind in _IMMUTABLE:
            return obj
        if kind is list:
            return [v if type(v) in _IMMUTABLE else copy_field(v, container) for v in obj]
        if kind is dict:
            new = container()
            for key, value in obj.items():
                new[key] = value if type(value) in _IMMUTABLE else copy_field(value, container)
            return new
        return upstream_copy(obj, container)

    replace(collection, "_copy_field", copy_field)


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
