"""The ``REFACTORING`` job: rewrites every record stored under an older definition, in batches.

Each record goes through ``services.records`` (compare-and-set, history ``SYSTEM_REFACTORING``); a record
already converted (``_mv`` ≥ the step's version) is skipped, so a run resumed after a crash converts every
record exactly once. When none is left the pending step is dropped and reads stop converting.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from entities.query import iterate_ids
from entities.records.upgrade import VERSION_KEY, Collector
from jobs import runners

MAX_ROUNDS = 5
REFACTORING = "REFACTORING"


def unconverted(to: int) -> dict[str, Any]:
    return {"$or": [{VERSION_KEY: {"$lt": to}}, {VERSION_KEY: {"$exists": False}}]}


def run_refactoring(jctx: runners.JobContext) -> dict[str, Any] | None:
    svc = jctx.services
    name, to = jctx.data["entityName"], int(jctx.data["to"])
    entity = svc.registry.get(name)
    step = next((p for p in entity.pending if p.to == to), None)
    if step is None:
        jctx.log("INFO", "Nothing left to convert")
        return {"results": {"status": "ok", "response": {"recordsConverted": 0}}}
    col = svc.records.collection(entity)
    if not jctx.job.get("recordsCount"):
        jctx.set_total(col.count_documents(unconverted(to)))
    ctx = jctx.write_context(f"entities.{name}.refactoring")
    ctx.category, ctx.extra["eventType"] = "SYSTEM", "SYSTEM_REFACTORING"
    log_errors = step.on_error == "null"
    converted = 0  # in this run (a resumed job counts again from its checkpoint)
    after = ObjectId(jctx.checkpoint) if jctx.checkpoint else None
    for _ in range(MAX_ROUNDS):  # records written meanwhile by a process still on the old definition
        for batch in iterate_ids(col, unconverted(to), jctx.batch_size, after):
            jctx.begin_batch([str(oid) for oid in batch])
            for oid in batch:
                errors = Collector(10) if log_errors else None
                if svc.records.refactor(svc.registry.get(name), oid, ctx, to, errors):
                    converted += 1
                for e in errors.first if errors else []:
                    jctx.log("WARN", f"Record {e.record_id}: {e.field} = {e.old_value!r} could not be converted "
                                     f"({e.reason}); it is now null")
                jctx.check_cancelled()
            jctx.save_checkpoint(str(batch[-1]), processed_delta=len(batch))
        after = None
        if col.count_documents(unconverted(to)) == 0:
            break
    svc.registry.finish_refactoring(name, to)
    jctx.log("INFO", f"Refactoring of {name} to version {to} finished")
    return {"results": {"status": "ok", "response": {"recordsConverted": converted}}}

