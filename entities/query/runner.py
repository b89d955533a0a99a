"""Runs parsed queries: one ``find`` for the page plus one ``count`` for the total."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import ExecutionTimeout, OperationFailure

from core.errors import refused_by_database
from entities.history.recorder import OUTBOX_FIELD
from entities.query.model import ListQuery

P = ParamSpec("P")
R = TypeVar("R")


def _refusals_are_400(run: Callable[P, R]) -> Callable[P, R]:
    """A query the store refuses (a pattern it cannot evaluate…) is a 400, as an aggregation's is; a time-out keeps
    its own 400 (``core.errors``)."""
    @functools.wraps(run)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return run(*args, **kwargs)
        except ExecutionTimeout:
            raise
        except OperationFailure as exc:
            raise refused_by_database(exc, "query") from None
    return checked


@_refusals_are_400
def find_page(col: Any, q: ListQuery, max_time_ms: int) -> list[dict[str, Any]]:
    """The page in one round trip: the batch size is the page size (the driver's default is 101 docs)."""
    if not q.limit:
        return []
    q.bind_cursor(col)
    projection = q.projection if q.projection is not None else {OUTBOX_FIELD: 0}
    cursor = sorted_by(col.find(q.find_filter(), projection, max_time_ms=max_time_ms), q)
    if q.skip:
        cursor = cursor.skip(q.skip)
    cursor = cursor.limit(q.limit)
    if isinstance(col, Collection):  # a real driver; the embedded store warns that batch_size is a no-op
        cursor = cursor.batch_size(q.limit)
    return list(cursor)


@_refusals_are_400
def page_ids(col: Any, q: ListQuery, max_time_ms: int) -> list[ObjectId]:
    """The ids of the records ``find_page`` returns, in the same order (what a list page holds)."""
    if not q.limit:
        return []
    q.bind_cursor(col)
    cursor = sorted_by(col.find(q.find_filter(), {"_id": 1}, max_time_ms=max_time_ms), q)
    if q.skip:
        cursor = cursor.skip(q.skip)
    return [d["_id"] for d in cursor.limit(q.limit)]


@_refusals_are_400
def page_and_total(col: Any, q: ListQuery, max_time_ms: int) -> tuple[list[dict[str, Any]], int]:
    """A list's page and total: one pass over the filter on the embedded store, a find and a count on MongoDB."""
    if isinstance(col, Collection) or q.near is not None:  # a real driver: the find uses the sort's index, the
        return find_page(col, q, max_time_ms), count(col, q, max_time_ms)  # count the filter's (and one near)
    q.bind_cursor(col)
    projection = q.projection if q.projection is not None else {OUTBOX_FIELD: 0}
    return col.page_and_total(q.filter, q.page_filter(), list(q.sort or []), q.skip or 0, q.limit or 0, projection,
                              max_time_ms=max_time_ms)


def sorted_by(cursor: Any, q: ListQuery) -> Any:
    """The cursor in the query's order: its sort, or none when the find orders by proximity (``ListQuery.near``)."""
    return cursor.sort(q.sort) if q.sort else cursor


@_refusals_are_400
def count(col: Any, q: ListQuery, max_time_ms: int) -> int:
    return col.count_documents(q.filter, maxTimeMS=max_time_ms)


def iterate_ids(col: Any, mongo_filter: dict[str, Any], batch_size: int = 500,
                after: ObjectId | None = None, direction: int = 1) -> Iterator[list[ObjectId]]:
    """Matching ids in batches, ascending (``direction=-1``: descending, the list's default order), walking by
    ``_id`` so memory stays flat however many match; ``after`` is the last id already seen in that order.

    On MongoDB each batch is one indexed keyset query (no cursor left open while the caller works).
    The embedded store has no index to seek with, so a keyset query there re-scans and re-sorts the
    collection per batch (O(n²) in all); it reads the matching ids once instead, a list far smaller
    than the in-memory collection it comes from."""
    if not isinstance(col, Collection):
        yield from _embedded_batches(col, mongo_filter, batch_size, after, direction)
        return
    while True:
        cursor = col.find(_after(mongo_filter, after, direction), {"_id": 1}).sort("_id", direction).limit(batch_size)
        batch = [d["_id"] for d in cursor.batch_size(batch_size)]
        if not batch:
            return
        yield batch
        after = batch[-1]


def _after(mongo_filter: dict[str, Any], after: ObjectId | None, direction: int) -> dict[str, Any]:
    if after is None:
        return dict(mongo_filter)
    beyond = {"_id": {"$gt" if direction > 0 else "$lt": after}}
    return {"$and": [mongo_filter, beyond]} if mongo_filter else beyond


def _embedded_batches(col: Any, mongo_filter: dict[str, Any], batch_size: int,
                      after: ObjectId | None, direction: int) -> Iterator[list[ObjectId]]:
    ids = [d["_id"] for d in col.find(_after(mongo_filter, after, direction), {"_id": 1}).sort("_id", direction)]
    for start in range(0, len(ids), batch_size):
        yield ids[start:start + batch_size]
