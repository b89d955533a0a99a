"""``EXECUTE_ACTION`` jobs: the same action code, in batches with checkpoints (stop/resume continue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from bson import ObjectId
from werkzeug.datastructures import MultiDict

from core.context import WriteContext
from core.errors import ApiError, NotFound
from core.ids import parse_object_id
from entities.actions.definitions import Action, action_of
from entities.actions.service import ActionService, JobHooks, selection_filter
from entities.metadata import Entity
from entities.permissions.enforce import job_context, scoped_query
from entities.query import iterate_ids, parse_list_query
from jobs import runners


class ActionRun(NamedTuple):
    """What running an action inside a job needs: resolved once from the job's data."""

    entity: Entity
    action: Action
    runner: ActionService
    params: dict[str, Any]
    ctx: WriteContext
    user: dict[str, Any]
    hooks: JobHooks


def prepare_run(jctx: runners.JobContext, entity_name: str, action_name: str, raw_params: Any) -> ActionRun:
    """The action, its validated parameters and the write context of the user who ran the job (with their
    permissions as they are now); NotFound when the action no longer exists."""
    svc = jctx.services
    entity = svc.registry.get(entity_name)
    action = action_of(entity, action_name)
    if action is None:
        raise NotFound(f"Action '{action_name}' no longer exists in entity '{entity.name}'")
    runner = ActionService(svc)
    ctx = job_context(svc.permissions, jctx.write_context(f"entities.{entity.name}.actions.{action.name}"))
    params = runner.parameters(entity, action, raw_params or {}, ctx)
    user = {"_id": ctx.user_id, "email": ctx.user_email, "fullName": ctx.user_name}
    hooks = JobHooks(log_fn=jctx.log, stop=jctx.stop_requested, heartbeat=jctx.heartbeat)
    return ActionRun(entity, action, runner, params, ctx, user, hooks)


def run_action_job(jctx: runners.JobContext) -> dict[str, Any] | None:
    svc = jctx.services
    data = jctx.data
    prepared = prepare_run(jctx, data["entityName"], data["actionName"], data.get("params"))
    entity, action, runner, params, ctx, user, hooks = prepared
    if action.type == "global":
        return _run_once(lambda: runner.run_global(entity, action, params, user, ctx, hooks))
    if "ids" in data and action.type == "oneRecord":  # a result per id, as the sync run gives: see below
        selector = {"_id": {"$in": [oid for oid in map(parse_object_id, data["ids"]) if oid is not None]}}
    elif "ids" in data:  # the ids of the route, or the page of a paged query (fixed when the request came)
        selector = selection_filter(entity, data["ids"], None)
    else:
        args, base = scoped_query(entity, MultiDict(data.get("query") or {}), caller=ctx.caller)
        selector = parse_list_query(entity, args, base, max_size=10**9).filter
    col = svc.records.collection(entity)
    per_id = "ids" in data and action.type == "oneRecord"
    if not jctx.job.get("recordsCount"):  # per id: the ids that do not exist count too, as a delete's do
        jctx.set_total(len(dict.fromkeys(data["ids"])) if per_id else col.count_documents(selector))
    if action.type == "oneRecord":
        if per_id and jctx.checkpoint is None:  # before any record ran, so none was deleted by it yet
            found = {str(d["_id"]) for d in col.find(selector, {"_id": 1})}
            absent = {rid: runner.outcome(lambda rid=rid: runner.run_one(entity, action, rid, params, user, ctx),
                                          action, entity)
                      for rid in dict.fromkeys(data["ids"]) if rid not in found}
            if absent:  # malformed, or no such record: the same error entry the sync run gives
                # the empty checkpoint tells a resumed run they are counted already
                jctx.save_checkpoint("", processed_delta=len(absent), record_results=absent,
                                     errors=sum(1 for o in absent.values() if o.get("status") == "error"),
                                     log_failures=True)
        run_each(jctx, prepared, col, selector)
        return None
    after = ObjectId(jctx.checkpoint) if jctx.checkpoint else None
    hooks.batch_done = lambda last, n: jctx.save_checkpoint(str(last), processed_delta=n)
    return _run_once(lambda: runner.run_many(entity, action, selector, params, user, ctx, hooks, after))


def run_each(jctx: runners.JobContext, prepared: ActionRun, col: Any, selector: dict[str, Any]) -> tuple[int, int]:
    """A one-record action on each record ``selector`` matches, in batches with checkpoints (a stopped run
    resumes after its last batch): per-record results, counts, and an ERROR log line per failed record.
    ``(records run, records failed)`` by this run."""
    entity, action, runner, params, ctx, user, hooks = prepared
    after = ObjectId(jctx.checkpoint) if jctx.checkpoint else None
    ran = failed = 0
    for batch in iterate_ids(col, selector, jctx.batch_size, after):
        jctx.begin_batch([str(oid) for oid in batch])
        outcomes = {}
        for oid in batch:
            outcomes[str(oid)] = runner.outcome(
                lambda oid=oid: runner.run_one(entity, action, oid, params, user, ctx, hooks), action, entity)
            hooks.beat()
        ran += len(batch)
        failed += sum(1 for o in outcomes.values() if o["status"] == "error")
        jctx.save_checkpoint(str(batch[-1]), processed_delta=len(batch), record_results=outcomes, log_failures=True)
    return ran, failed


def _run_once(run: Callable[[], Any]) -> dict[str, Any]:
    """The results of a manyRecords or global action (platform-facts §5.4): ``{"results": {"status": "ok",
    "response": ...}}``; when it fails, ``{"status": "error", "errorMessage": ...}`` there, and the job finishes
    with errors (the message the sync run answers with, in its log too)."""
    try:
        return {"results": {"status": "ok", "response": run()}}
    except ApiError as exc:
        raise runners.JobFailed(exc.message, {"results": {"status": "error", "errorMessage": exc.message}}) from None

