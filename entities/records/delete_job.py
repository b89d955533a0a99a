"""``DELETE_RECORDS`` jobs: async deletes of ids or of a query, resumable, with history like sync deletes.

Ids are walked in ascending ``_id`` order; the checkpoint is the last processed id. Each batch goes through
``RecordLifecycle.delete_batch``, which deletes one by one (history, permissions, events) or, when no
per-record stage applies, with one ``delete_many``.

The job's ``results.results`` is the map a sync delete of many records answers: ``{id: {status: "ok",
response: <deleted record>}}`` or ``{status: "error", errorMessage}``, within the job's results cap (records
past it are not even read). A record that a killed run had already deleted when its batch is redone is
reported ``{status: "ok"}`` alone: its content is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bson import ObjectId
from flask import g, jsonify, request
from werkzeug.datastructures import MultiDict

from core.api import parser
from core.http import arg_flag
from core.services import services
from entities.metadata import Entity
from entities.permissions.enforce import job_context, scoped_query, strip_hidden
from entities.permissions.policy import UNRESTRICTED
from entities.query import iterate_ids, parse_list_query
from entities.records.render import render, with_entity
from jobs.runners import JobContext
from jobs.schemas import PriorityQuery

DELETE_RECORDS = "DELETE_RECORDS"
OK: dict[str, Any] = {"status": "ok"}
_NOT_A_FILTER = ("_async", "_lowPriority", "_triggerEvents", "_cascadeOperations", "_offset", "_size", "_sortField",
                 "_sortType")

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
    data = {"entityName": entity.name, **selection}
    if not arg_flag("_triggerEvents", True):
        data["triggerEvents"] = False  # listeners stay quiet
    if not arg_flag("_cascadeOperations", True):
        data["cascadeOperations"] = False  # the relationships' delete policies are not applied
    doc = svc.jobs.submit(DELETE_RECORDS, f"Deleting {kind} of entity {entity.name}", data, g.user,
                          low_priority=_low_priority())
    return jsonify(svc.jobs.job_link(doc))


def _low_priority() -> bool:
    return parser.parse(PriorityQuery, request, location="query")["_lowPriority"]


def run_delete(ctx: JobContext) -> None:
    svc = ctx.services
    entity = svc.registry.get(ctx.data["entityName"])
    col = svc.records.collection(entity)
    first_run = ctx.checkpoint is None and ctx.interrupted_batch is None
    if ctx.interrupted_batch:
        if entity.history.enabled:  # a delete cut between its write and its history entry (its run is dead)
            svc.records.repair_history(entity, [ObjectId(i) for i in ctx.interrupted_batch], lease_ms=0)
        ctx.log("INFO", f"Redoing the batch of {len(ctx.interrupted_batch)} records the previous run was in")
        _delete_batch(ctx, entity, sorted(ObjectId(i) for i in ctx.interrupted_batch), MISSING_IS_DONE)
    after = ObjectId(ctx.checkpoint) if ctx.checkpoint else None
    if "ids" in ctx.data:
        ids = sorted({ObjectId(i) for i in ctx.data["ids"]})
        invalid = ctx.data.get("invalid") or []
        if first_run:
            ctx.set_total(len(ids) + len(invalid))
            if invalid:  # reported first; the empty checkpoint says so to a resumed run
                ctx.save_checkpoint("", processed_delta=len(invalid), errors=len(invalid), record_results={
                    raw: {"status": "error", "errorMessage": f"Record '{raw}' does not exist"} for raw in invalid},
                    log_failures=True)
        batches: Iterator[list[ObjectId]] = _chunks([i for i in ids if after is None or i > after], ctx.batch_size)
        missing = MISSING_IS_ERROR
    else:
        caller = job_context(svc.permissions, ctx.write_context()).caller
        args, base = scoped_query(entity, MultiDict(_pairs(ctx.data.get("query") or {})), "delete", "deleteMany",
                                  caller)
        query = parse_list_query(entity, args, base, max_size=10**9)
        if first_run:
            ctx.set_total(col.count_documents(query.filter))
        batches = iterate_ids(col, query.filter, ctx.batch_size, after)
        missing = MISSING_IS_SKIPPED
    for batch in batches:
        _delete_batch(ctx, entity, batch, missing)


def _delete_batch(ctx: JobContext, entity: Entity, batch: list[ObjectId], missing: str) -> None:
    ctx.begin_batch([str(i) for i in batch])
    wctx = job_context(ctx.services.permissions, ctx.write_context(f"entities.{entity.name}.delete"))
    wctx.trigger_events = ctx.data.get("triggerEvents", True) is not False
    wctx.cascade = ctx.data.get("cascadeOperations", True) is not False
    outcomes, gone, deleted = ctx.services.records.delete_batch(entity, batch, wctx, check=ctx.check_cancelled,
                                                                keep=ctx.results_room())
    if deleted:  # as the sync delete answers: the record with its entity, without the caller's hidden fields
        shown = wctx.caller.entity(entity) if wctx.caller is not None else UNRESTRICTED
        for key, doc in deleted.items():
            outcomes[key] = {"status": "ok", "response": strip_hidden(shown, with_entity(entity, render(entity, doc)))}
    errors = sum(1 for o in outcomes.values() if o["status"] == "error")
    for rid in gone:
        if missing == MISSING_IS_DONE:
            outcomes[str(rid)] = OK
        elif missing == MISSING_IS_ERROR:
            errors += 1
            outcomes[str(rid)] = {"status": "error",
                                  "errorMessage": f"Record '{rid}' does not exist in entity '{entity.name}'"}
    if gone and missing == MISSING_IS_SKIPPED:
        ctx.log("WARN", f"{len(gone)} records of a batch were deleted by someone else meanwhile")
    ctx.save_checkpoint(str(batch[-1]), processed_delta=len(outcomes), record_results=outcomes, errors=errors,
                        log_failures=True)


def _chunks(items: list[ObjectId], size: int) -> Iterator[list[ObjectId]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _pairs(args: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, values in args.items() if k not in _NOT_A_FILTER for v in values]

