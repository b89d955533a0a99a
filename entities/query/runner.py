"""Runs parsed queries: one ``find`` for the page plus one ``count`` for the total."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bson import ObjectId

from entities.history.recorder import OUTBOX_FIELD
from entities.query.model import ListQuery


def find_page(col: Any, q: ListQuery, max_time_ms: int) -> list[dict[str, Any]]:
    cursor = col.find(q.page_filter(), {OUTBOX_FIELD: 0}, max_time_ms=max_time_ms).sort(q.sort)
    if q.skip:
        cursor = cursor.skip(q.skip)
    return list(cursor.limit(q.limit)) if q.limit else []


def count(col: Any, q: ListQuery, max_time_ms: int) -> int:
    return col.count_documents(q.filter, maxTimeMS=max_time_ms)


def iterate_ids(col: Any, mongo_filter: dict[str, Any], batch_size: int = 500,
                after: ObjectId | None = None) -> Iterator[list[ObjectId]]:
    """Matching ids in ascending batches, walking by ``_id`` so memory stays flat however many match."""
    while True:
        cond: dict[str, Any] = dict(mongo_filter)
        if after is not None:
            cond = {"$and": [mongo_filter, {"_id": {"$gt": after}}]} if mongo_filter else {"_id": {"$gt": after}}
        batch = [d["_id"] for d in col.find(cond, {"_id": 1}).sort("_id", 1).limit(batch_size)]
        if not batch:
            return
        yield batch
        after = batch[-1]
