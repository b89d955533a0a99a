"""Result rows → JSON, each value in its type's REST form, using the shape the pipeline ended with.

Numbers of a decimal type (decimal, money, percentage; sums and averages too) are rounded to the type's decimals.
Every output field of the shape appears (absent values as null, like a record read); ``_id`` comes out
as ``id``; joined records render as records; anything unexpected falls back to plain JSON values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson import ObjectId

from entities.aggregate.shape import Shape, Slot, single
from entities.permissions.enforce import drop_path
from entities.records.render import render as render_record
from entities.types import DecimalType


def render_row(shape: Shape, doc: dict[str, Any], hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    """``hidden``: record field paths the caller may not see, left out of every output that holds their field
    (under whatever name a stage gave it: ``x`` of ``"x": "first(contactInformation)"`` loses ``x.email``)."""
    row: dict[str, Any] = {}
    for e in shape.entries:
        if e.source in hidden:
            continue
        row[e.name] = value = render_value(e.slot, doc.get(e.key))
        for path in hidden if e.source is not None else ():
            if path.startswith(f"{e.source}."):
                drop_path(value, path[len(e.source) + 1:].split("."))
    return row


def render_value(slot: Slot, value: Any) -> Any:
    if value is None:
        if slot.many:
            return []
        return slot.type.missing_value()
    if isinstance(value, list):
        one = single(slot)
        return [render_value(one, v) for v in value]
    try:
        return _one(slot, value)
    except (KeyError, TypeError, AttributeError, ValueError):
        return plain(value)  # a value that does not fit its definition (old data): show it as stored


def _one(slot: Slot, value: Any) -> Any:
    if slot.entity is not None and isinstance(value, dict) and "_id" in value:
        return render_record(slot.entity, value)
    f = slot.field
    if f.is_nested and isinstance(value, dict):
        out: dict[str, Any] = {"id": plain(value.get("id")), "label": value.get("label")}
        for inner in f.nested:  # every inner field, unset ones as a record read gives them (null, [], false)
            out[inner.name] = render_value(Slot(inner, many=inner.many), value.get(inner.name))
        return out
    out = f.type.dump(value, f)
    if isinstance(out, float) and isinstance(f.type, DecimalType):  # a sum or average: no float noise (6.3, not
        return round(out, f.type.max_decimals)                       # 6.300000000000001), the type's decimals
    return plain(out)


def plain(value: Any) -> Any:
    """JSON-safe: ObjectIds as strings, datetimes as epoch millis, containers walked."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dt.datetime):
        return int(value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp() * 1000)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
