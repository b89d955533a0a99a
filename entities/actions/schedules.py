"""What schedules run above the jobs package: an entity ``action`` (through the action service, like the
API), and ``handler`` functions whose context reads and writes records (``ctx.data``)."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from core.errors import ApiError, field_error
from entities.actions.context import DataAccess
from entities.actions.definitions import action_of
from entities.actions.jobs import prepare_run, run_each
from entities.actions.service import ActionService
from entities.query import parse_list_query
from jobs.runners import JobContext
from jobs.schedules.kinds import ScheduleKind, ScheduleRun, run_handler, validate_handler


def _query_args(query: dict[str, Any]) -> MultiDict:
    pairs = [(k, str(v)) for k, values in query.items()
             for v in (values if isinstance(values, list) else [values])]
    return MultiDict(pairs)


def validate_action(services: Any, spec: Any, errors: list[dict[str, Any]]) -> None:
    if not isinstance(spec, dict):
        errors.append(field_error("action", "invalid", "action is {entity, action, query}"))
        return
    try:
        entity = services.registry.get(spec.get("entity"))
    except ApiError:
        errors.append(field_error("action.entity", "invalid", f"Entity '{spec.get('entity')}' does not exist",
                                  rejected=spec.get("entity")))
        return
    action = action_of(entity, spec.get("action") or "")
    if action is None:
        errors.append(field_error("action.action", "invalid",
                                  f"Action '{spec.get('action')}' does not exist in entity '{entity.name}'",
                                  rejected=spec.get("action")))
        return
    try:
        parse_list_query(entity, _query_args(spec.get("query") or {}), max_size=10**9)
    except ApiError as exc:
        errors.append(field_error("action.query", "invalid", exc.message))
    try:
        ActionService(services).parameters(entity, action, spec.get("params") or {})
    except ApiError as exc:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors) or exc.message
        errors.append(field_error("action.params", "invalid", detail))


def run_action(jctx: JobContext, data: dict[str, Any]) -> Any:
    """Run the action as the schedule's owner: over the query's records (oneRecord, manyRecords) or once (global)."""
    spec = data["action"]
    svc = jctx.services
    prepared = prepare_run(jctx, spec["entity"], spec["action"], spec.get("params"))
    entity, action, runner, params, ctx, user, hooks = prepared
    if action.type == "global":
        return runner.run_global(entity, action, params, user, ctx, hooks)
    selector = parse_list_query(entity, _query_args(spec.get("query") or {}), max_size=10**9).filter
    if action.type == "manyRecords":
        return runner.run_many(entity, action, selector, params, user, ctx, hooks)
    # one record at a time, in batches with checkpoints, as an EXECUTE_ACTION job: the per-record results (capped),
    # counts, hasErrors and an ERROR log line per failed record; a stopped run resumes after its last batch
    col = svc.records.collection(entity)
    if not jctx.job.get("recordsCount"):
        jctx.set_total(col.count_documents(selector))
    ran, failed = run_each(jctx, prepared, col, selector)
    jctx.log("WARN" if failed else "INFO", f"Action '{action.name}' ran on {ran} records, {failed} failed")
    return None  # the results are the per-record map, as an EXECUTE_ACTION job's


class RecordScheduleRun(ScheduleRun):
    """A schedule handler's context with ``ctx.data``: records of any entity, validated and with history."""

    def __init__(self, jctx: JobContext, data: dict[str, Any]):
        super().__init__(jctx, data)
        wctx = jctx.write_context(f"schedules.{data['scheduleName']}")
        wctx.category = "SCRIPT"
        self.data = DataAccess(jctx.services, wctx)


def install_schedule_kinds(services: Any) -> None:
    schedules = services.schedules
    schedules.register_kind("action", ScheduleKind(validate_action, run_action))
    schedules.register_kind("handler", ScheduleKind(
        validate_handler, lambda jctx, data: run_handler(jctx, data, RecordScheduleRun)))
