"""Which records a write over a query (an action, a delete) acts on: those a list with the same parameters
returns."""

from __future__ import annotations

from typing import Any, NamedTuple

from bson import ObjectId

from core.errors import BadRequest
from entities.metadata import Entity
from entities.query.parser import parse_list_query
from entities.query.runner import count, page_ids

PAGING_PARAMS = ("_size", "_offset")
EVERY_MATCH = 10**9


class QuerySelection(NamedTuple):
    """The records an action or a delete over a query runs on."""

    filter: dict[str, Any]  # the query's filter, the caller's access rule ANDed in
    ids: list[ObjectId] | None  # the records, in list order (None: a background run over every match)
    paged: bool  # the query pages (``_size``/``_offset``): ``ids`` is that page, fixed now


def query_selection(col: Any, entity: Entity, args: Any, base: dict[str, Any] | None, sync_limit: int | None,
                    max_time_ms: int, what: str = "run the action") -> QuerySelection:
    """The records a list with the same query parameters returns: with ``_size`` or ``_offset``, that page,
    resolved now (a list's defaults and bounds: 20 records unless ``_size`` says, at most 1,000, in
    ``_sortField``/``_sortType`` order, newest first by default); without them, every match. ``sync_limit``:
    the most a sync run may take (400 beyond, asking for ``_async``); None for a background run, which walks
    every match itself (any number). ``what`` the write is, in the 400's advice ("use _async=true to …")."""
    paged = any(args.get(name) not in (None, "") for name in PAGING_PARAMS)  # empty counts as absent
    q = parse_list_query(entity, args, base) if paged else \
        parse_list_query(entity, args, base, default_size=EVERY_MATCH, max_size=EVERY_MATCH)
    if not paged and sync_limit is None:
        return QuerySelection(q.filter, None, False)
    if not paged:
        matched = count(col, q, max_time_ms)
        if matched > sync_limit:
            raise BadRequest(f"The query matches {matched} records, more than {sync_limit}: use _async=true to "
                             f"{what} in a background job")
    ids = page_ids(col, q, max_time_ms)
    if sync_limit is not None and len(ids) > sync_limit:
        raise BadRequest(f"The page holds {len(ids)} records, more than {sync_limit}: use _async=true to {what} "
                         "in a background job")
    return QuerySelection(q.filter, ids, paged)
