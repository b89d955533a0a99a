"""``DELETE_RECORDS`` jobs: async deletes of ids or of a query, resumable, with history like sync deletes.

Ids are walked in ascending ``_id`` order; the checkpoint is the last processed id. Entities with history
delete one by one through ``RecordService.delete`` (history entry per record); entities without history
delete a batch with one ``delete_many`` (same semantics, far fewer round trips).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bson import ObjectId
from flask import g, jsonify, request
from werkzeug.datastructures import MultiDict

from core.api import parser
from core.errors import ApiError, NotFound
from entities.metadata import Entity
from entities.query import iterate_ids, parse_list_query
from jobs import runners
from jobs.runners import JobContext
from jobs.schemas import PriorityQuery
from jobs.service import jobs_of
from runtime.services import services

DELETE_RECORDS = "DELETE_RECORDS"
OK: dict[str, Any] = {"status": "ok"}
_NOT_A_FILTER = ("_async", "_lowPriority", "_offset", "_size", "_sortField", "_sortType")

# What to do with an id that is gone when we get to it.
MISSING_IS_DONE = "done"  # redoing the batch a killed run was in: it deleted the record
MISSING_IS_ERROR = "error"  # an explicit id that does not exist
MISSING_IS_SKIPPED = "skip"  # a query match deleted by someone else meanwhile


def submit_delete(entity: Entity, selection: dict[str, Any]):
    """The ``_async`` hook of the records routes: queue the job, answer ``{jobLink, jobId}``."""
    svc = services()
    if "query" in selection:
        selection = {"query": {k: v for k, v in selection["query"].items() if k not in _NOT_A_FILTER}}
    kind = f"{len(selection['ids'])} records" if "ids" in selection else "records matching a query"
    doc = jobs_of(svc).submit(DELETE_RECORDS, f"Deleting {kind} of entity {entity.name}",
                              {"entityName": entity.name, **selection}, g.user, low_priority=_low_priority())
    return jsonify(jobs_of(svc).job_link(doc))


def _low_priority() -> bool:
    return parser.parse(PriorityQuery, request, location="query")["_lowPriority"]


def run_delete(ctx: JobContext) -> None:
    svc = ctx.services
    entity = svc.registry.get(ctx.data["entityName"])
    col = svc.records.collection(entity)
    first_run = ctx.checkpoint is None and ctx.interrupted_batch is None
    if ctx.interrupted_batch:
        if entity.history.enabled:
            svc.history.recover(entity.name, col)  # a delete cut between its write and its history entry
        ctx.log("INFO", f"Redoing the batch of {len(ctx.interrupted_batch)} records the previous run was in")
        _delete_batch(ctx, entity, col, sorted(ObjectId(i) for i in ctx.interrupted_batch), MISSING_IS_DONE)
    after = ObjectId(ctx.checkpoint) if ctx.checkpoint else None
    if "ids" in ctx.data:
        ids = sorted({ObjectId(i) for i in ctx.data["ids"]})
        if first_run:
            ctx.set_total(len(ids))
        batches: Iterator[list[ObjectId]] = _chunks([i for i in ids if after is None or i > after], ctx.batch_size)
        missing = MISSING_IS_ERROR
    else:
        query = parse_list_query(entity, MultiDict(_pairs(ctx.data.get("query") or {})), max_size=10**9)
        if first_run:
            ctx.set_total(col.count_documents(query.filter))
        batches = iterate_ids(col, query.filter, ctx.batch_size, after)
        missing = MISSING_IS_SKIPPED
    for batch in batches:
        _delete_batch(ctx, entity, col, batch, missing)


def _delete_batch(ctx: JobContext, entity: Entity, col: Any, batch: list[ObjectId], missing: str) -> None:
    ctx.begin_batch([str(i) for i in batch])
    outcomes: dict[str, dict[str, Any]] = {}
    gone: list[ObjectId] = []
    errors = 0
    processed: int | None = None
    if not entity.history.enabled and missing != MISSING_IS_ERROR:
        # One delete_many: gone ids count as done (a killed run's batch) or skipped (a query match deleted by
        # someone else meanwhile; then which ones is unknown, so the count is exact but the map may say ok).
        ctx.check_cancelled()
        deleted = col.delete_many({"_id": {"$in": batch}}).deleted_count
        outcomes = {str(i): OK for i in batch}
        if missing == MISSING_IS_SKIPPED and deleted < len(batch):
            processed = deleted
            ctx.log("WARN", f"{len(batch) - deleted} records of a batch were deleted by someone else meanwhile")
    elif not entity.history.enabled:
        present = [d["_id"] for d in col.find({"_id": {"$in": batch}}, {"_id": 1})]
        ctx.check_cancelled()
        col.delete_many({"_id": {"$in": present}})
        outcomes = {str(i): OK for i in present}
        gone = [i for i in batch if str(i) not in outcomes]
    else:
        wctx = ctx.write_context(f"entities.{entity.name}.delete")
        for rid in batch:
            ctx.check_cancelled()
            try:
                ctx.services.records.delete(entity, rid, wctx)
                outcomes[str(rid)] = OK
            except NotFound:
                gone.append(rid)
            except ApiError as exc:
                errors += 1
                outcomes[str(rid)] = {"status": "error", "errorMessage": exc.message}
    for rid in gone:
        if missing == MISSING_IS_DONE:
            outcomes[str(rid)] = OK
        elif missing == MISSING_IS_ERROR:
            errors += 1
            outcomes[str(rid)] = {"status": "error",
                                  "errorMessage": f"Record '{rid}' does not exist in entity '{entity.name}'"}
    ctx.save_checkpoint(str(batch[-1]), processed_delta=len(outcomes) if processed is None else processed,
                        record_results=outcomes, errors=errors)


def _chunks(items: list[ObjectId], size: int) -> Iterator[list[ObjectId]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _pairs(args: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, values in args.items() if k not in _NOT_A_FILTER for v in values]


runners.register(DELETE_RECORDS, run_delete)
