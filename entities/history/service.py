"""Reading history: per record and per entity, newest first, paged by history id."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from core.errors import BadRequest
from core.http import page
from core.ids import parse_object_id
from entities.history.recorder import HistoryRecorder
from entities.metadata import HISTORY_EVENTS, Entity

ITEM_FIELDS = ("entityId", "entityName", "entityVersion", "recordId", "recordName", "user", "timestamp", "ip",
               "eventType", "eventCategory", "contextPath", "recordDeleted", "deletionDate", "oldRecord",
               "newRecord")
VISIBLE = {"pending": {"$exists": False}}
MAX_ID_MILLIS = 2**32 * 1000  # an ObjectId's time is seconds in 32 bits


def present(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(entry["_id"])}
    for key in ITEM_FIELDS:
        out[key] = entry.get(key)
    if entry.get("adminUser"):
        out["adminUser"] = entry["adminUser"]
    return out


def _require_history(entity: Entity) -> None:
    if not entity.history.enabled:
        raise BadRequest(f"History is not enabled for entity '{entity.name}'")


def _page(recorder: HistoryRecorder, selector: dict[str, Any], size: int, offset: str | None) -> dict[str, Any]:
    query = {**selector, **VISIBLE}
    page_query = dict(query)
    if offset:
        oid = parse_object_id(offset)
        if oid is None:
            raise BadRequest("_offset must be the id of a history entry")
        rng = dict(query.get("_id") or {})  # the page is below the offset; the total counts every match
        rng["$lt"] = min(oid, rng.get("$lt", oid))
        page_query["_id"] = rng
    docs = list(recorder.col.find(page_query).sort("_id", -1).limit(size)) if size else []
    total = recorder.col.count_documents(query)
    return page(total, docs, present)


def record_history(recorder: HistoryRecorder, entity: Entity, record_id: str, size: int,
                   offset: str | None) -> dict[str, Any]:
    _require_history(entity)
    if parse_object_id(record_id) is None:
        raise BadRequest(f"'{record_id}' is not a valid record id")
    return _page(recorder, {"entityName": entity.name, "recordId": record_id}, size, offset)


def entity_history(recorder: HistoryRecorder, entity: Entity, event_types: str | None,
                   time_from: int | None, time_to: int | None, size: int, offset: str | None,
                   restrict: dict[str, Any] | None = None) -> dict[str, Any]:
    """``restrict``: a condition on the entries (the records a caller may see the history of)."""
    _require_history(entity)
    selector: dict[str, Any] = {"entityName": entity.name, **(restrict or {})}
    types = [t.strip() for t in (event_types or "").split(",") if t.strip()]
    if types:  # ``eventTypes=`` or ``eventTypes=,,``: no filter, as without the parameter
        unknown = [t for t in types if t not in HISTORY_EVENTS]
        if unknown:
            raise BadRequest(f"eventTypes: unknown event types {unknown}; use {list(HISTORY_EVENTS)}")
        selector["eventType"] = types[0] if len(types) == 1 else {"$in": types}
    if time_from is not None or time_to is not None:
        if time_from is not None and time_to is not None and time_from > time_to:
            raise BadRequest("from must not be after to")
        # Ids grow with time, so a time range is also an id range: the (entityName, _id) index serves it. An id
        # holds seconds up to 2^32 (the year 2106): a bound past that leaves the ids unbounded on that side, and
        # the timestamp condition alone decides (a ``from`` there matches nothing, a ``to`` there everything).
        rng: dict[str, Any] = {}
        if time_from is not None and time_from < MAX_ID_MILLIS:
            rng["$gte"] = ObjectId.from_datetime(_dt(time_from))
        if time_to is not None and time_to + 1000 < MAX_ID_MILLIS:
            rng["$lt"] = ObjectId.from_datetime(_dt(time_to + 1000))
        if rng:
            selector["_id"] = rng
        ts: dict[str, Any] = {}
        if time_from is not None:
            ts["$gte"] = time_from
        if time_to is not None:
            ts["$lte"] = time_to
        selector["timestamp"] = ts
    return _page(recorder, selector, size, offset)


def _dt(ms: int):
    import datetime as dt
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
