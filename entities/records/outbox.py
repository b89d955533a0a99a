"""The record side of the history outbox (``_hist``): reading it, and removing published entries from it.

The records package owns every write of a ``data.*`` collection, so the history publisher and the repair of
``RecordLifecycle`` both clear outboxes through ``clear_outboxes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from entities.history.recorder import OUTBOX_FIELD


def outbox_entries(value: Any) -> list[dict[str, Any]]:
    """The entries of a stored outbox: a list, or the single entry that older writes stored."""
    if isinstance(value, list):
        return [e for e in value if isinstance(e, dict)]
    return [value] if isinstance(value, dict) else []


def clear_outboxes(col: Any, published: Iterable[tuple[ObjectId, ObjectId]]) -> None:
    """Remove published history entries, given as ``(record id, entry id)``, from their records, in one
    ordered bulk write of two updates per record: drop the outbox when it holds exactly those entries (the
    usual case; or it is an older single-entry outbox whose entry was published), else ``$pull`` exactly
    them (an entry appended meanwhile stays). Each filter is evaluated atomically per document and names only
    its own record's ids (one condition naming every entry of a batch compares each element with all)."""
    by_record: dict[ObjectId, list[ObjectId]] = {}
    for record_id, entry_id in published:
        by_record.setdefault(record_id, []).append(entry_id)
    ops: list[UpdateOne] = []
    for rid, eids in by_record.items():
        only = {f"{OUTBOX_FIELD}._id": {"$all": eids}, OUTBOX_FIELD: {"$size": len(eids)}}
        single = {f"{OUTBOX_FIELD}.0": {"$exists": False}, f"{OUTBOX_FIELD}._id": {"$in": eids}}
        ops.append(UpdateOne({"_id": rid, "$or": [only, single]}, {"$unset": {OUTBOX_FIELD: ""}}))
        ops.append(UpdateOne({"_id": rid, OUTBOX_FIELD: {"$type": "array"}},
                             {"$pull": {OUTBOX_FIELD: {"_id": {"$in": eids}}}}))
    if ops:
        col.bulk_write(ops, ordered=True)
