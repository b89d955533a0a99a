"""The ``REFACTORING`` job: rewrites every record stored under an older definition, in batches.

Each record goes through ``services.records`` (compare-and-set, history ``SYSTEM_REFACTORING``); a record
already converted (``_mv`` ≥ the step's version) is skipped, so a run resumed after a crash converts every
record exactly once. When none is left the pending step is dropped and reads stop converting. A field that
becomes autoIncrement gets its numbers here, in ``_id`` (creation) order, in the record's rewrite; a new rank
field gives the records without a rank one after the highest, in the same order, as creates do.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from entities.metadata import Field
from entities.query import iterate_ids
from entities.records.upgrade import VERSION_KEY, Collector
from entities.refactoring.planner import numbered_fields, ranked_fields
from jobs import runners

MAX_ROUNDS = 5
REFACTORING = "REFACTORING"


def unconverted(to: int) -> dict[str, Any]:
    return {"$or": [{VERSION_KEY: {"$lt": to}}, {VERSION_KEY: {"$exists": False}}]}


def _pending(to: int, numbered: list[Field], ranked: list[Field]) -> dict[str, Any]:
    """The records the job rewrites, in ``_id`` order: those not converted yet, and those converted by a write
    before the job reached them that still lack a number or a rank."""
    lacking = [{f.name: {"$exists": False}} for f in numbered] + [{f.name: None} for f in ranked]
    return {"$or": [unconverted(to), *lacking]} if lacking else unconverted(to)


def _numbers_left(col: Any, to: int, reserved: dict[str, list[int]]) -> dict[str, list[int]]:
    """What is left of the numbers reserved for the stored records when the definition was saved, ``{field:
    [next, last]}``: given in ``_id`` order, so a resumed run goes on after the highest one given (among converted
    records: an unconverted one may hold an old value of a field that becomes autoIncrement)."""
    left = {}
    for name, (first, last) in reserved.items():
        given = {name: {"$gte": first, "$lte": last}, VERSION_KEY: {"$gte": to}}
        top = list(col.find(given, {name: 1}).sort(name, -1).limit(1))
        left[name] = [top[0][name] + 1 if top else first, last]
    return left


def run_refactoring(jctx: runners.JobContext) -> dict[str, Any] | None:
    svc = jctx.services
    name, to = jctx.data["entityName"], int(jctx.data["to"])
    entity = svc.registry.get(name)
    step = next((p for p in entity.pending if p.to == to), None)
    if step is None:
        jctx.log("INFO", "Nothing left to convert")
        return {"results": {"status": "ok", "response": {"recordsConverted": 0}}}
    col = svc.records.collection(entity)
    numbered = [f for f in (entity.field(n.name) for n in numbered_fields(step.old, step.new)) if f is not None]
    ranked = [f for f in (entity.field(r.name) for r in ranked_fields(step.old, step.new)) if f is not None]
    numbers = svc.records.counters.source(entity, held=_numbers_left(col, to, jctx.data.get("numbers") or {}))
    pending = _pending(to, numbered, ranked)
    if not jctx.job.get("recordsCount"):
        jctx.set_total(col.count_documents(pending))
    ctx = jctx.write_context(f"entities.{name}.refactoring")
    ctx.category, ctx.extra["eventType"] = "SYSTEM", "SYSTEM_REFACTORING"
    log_errors = step.on_error == "null"
    converted = 0  # in this run (a resumed job counts again from its checkpoint)
    after = ObjectId(jctx.checkpoint) if jctx.checkpoint else None
    for _ in range(MAX_ROUNDS):  # records written meanwhile by a process still on the old definition
        for batch in iterate_ids(col, pending, jctx.batch_size, after):
            jctx.begin_batch([str(oid) for oid in batch])
            with svc.records.validator.batch():  # the highest rank is read once per batch
                for oid in batch:
                    errors = Collector(10) if log_errors else None
                    if svc.records.refactor(svc.registry.get(name), oid, ctx, to, errors, numbered, numbers,
                                            ranked):
                        converted += 1
                    for e in errors.first if errors else []:
                        jctx.log("WARN", f"Record {e.record_id}: {e.field} = {e.old_value!r} could not be "
                                         f"converted ({e.reason}); it is now null")
                    jctx.check_cancelled()
            jctx.save_checkpoint(str(batch[-1]), processed_delta=len(batch))
        after = None
        if col.count_documents(pending) == 0:
            break
    svc.registry.finish_refactoring(name, to)
    jctx.log("INFO", f"Refactoring of {name} to version {to} finished")
    return {"results": {"status": "ok", "response": {"recordsConverted": converted}}}

