"""Action routes, reached through the records dispatcher.

``PUT /data/{entity}/{id}/{action}`` and ``PUT /data/{entity}/{id1,id2}/{action}`` run over those records;
``PUT /data/{entity}/{action}?<query>`` runs over the records a list with the same parameters returns (every
match when it does not page) — and, for a **global** action, runs it once with no record or query. A caller
who can never run the action on the entity gets 403 before anything runs, in every form.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from core.api import parser
from core.context import WriteContext
from core.errors import BadRequest, NotFound
from core.http import json_body
from core.identity import write_context
from core.services import services
from entities.actions.definitions import Action, action_of
from entities.actions.service import ActionService, selection_filter
from entities.metadata import Entity
from entities.permissions.enforce import scoped_query
from entities.query import query_selection


def _action(entity: Entity, name: str) -> Action:
    action = action_of(entity, name)
    if action is None:
        raise NotFound(f"Action '{name}' does not exist in entity '{entity.name}'")
    return action


def _options() -> dict[str, Any]:
    """``_async`` / ``_lowPriority``, declared by the records routes that dispatch here."""
    from entities.records.schemas import ActionIdsQuery

    return parser.parse(ActionIdsQuery, request, location="query")


def _wants_async(action: Action) -> bool:
    wanted = _options().get("_async")
    return action.run_async if wanted is None else wanted


def _submit(entity: Entity, action: Action, body: Any, selection: dict[str, Any]):

    svc = services()
    data = {"entityName": entity.name, "actionName": action.name, "params": body or {}, **selection}
    job = svc.jobs.submit("EXECUTE_ACTION", f"Executing action {action.name} on entity {entity.name}", data,
                          g.user, low_priority=bool(_options().get("_lowPriority")))
    return jsonify(svc.jobs.job_link(job))


def _check_before_queueing(runner: ActionService, entity: Entity, action: Action, ids: list[str], single: bool,
                           ctx: WriteContext) -> None:
    """The refusals a sync run of ``ids`` answers for the whole request, answered before its job is queued:
    one record (404/403, see ``check_one``) or, for a manyRecords action, an id that cannot be a record's."""
    if single:
        runner.check_one(entity, action, ids[0], ctx)
    elif action.type == "manyRecords":
        selection_filter(entity, ids, None)


def run_on_ids(entity: Entity, ids: list[str] | None, action_name: str):
    svc = services()
    action = _action(entity, action_name)
    ids = ids or []
    single = len(ids) == 1 and "," not in request.path.rsplit("/", 2)[-2]
    runner, ctx = ActionService(svc), write_context()
    runner.check_allowed(entity, action, ctx, single)
    body = json_body({})
    params = runner.parameters(entity, action, body, ctx)
    if action.type == "global":
        raise BadRequest(f"'{action.name}' is a global action: run it with PUT /data/{entity.name}/{action.name}")
    if len(ids) > svc.config.sync_max_records and not _wants_async(action):
        raise BadRequest(f"More than {svc.config.sync_max_records} records: use _async=true")
    if _wants_async(action):
        _check_before_queueing(runner, entity, action, ids, single, ctx)
        return _submit(entity, action, body, {"ids": ids})
    if action.type == "oneRecord":
        if single:
            return jsonify(runner.run_one(entity, action, ids[0], params, g.user, ctx))
        return jsonify(runner.run_one_each(entity, action, ids, params, g.user, ctx))
    if single:  # the route names one record: 404 when there is none, 403 when the action may not run on it
        runner.check_one(entity, action, ids[0], ctx)
    return jsonify(runner.run_many(entity, action, selection_filter(entity, ids, None), params, g.user, ctx))


def run_on_query(entity: Entity, _ids: Any, action_name: str):
    """The records a list with the same parameters returns (see ``query_selection``); a sync run goes through
    them in that order. A paged query's job gets the page's ids (``data.ids``) beside the query."""
    svc = services()
    action = _action(entity, action_name)
    runner, ctx = ActionService(svc), write_context()
    runner.check_allowed(entity, action, ctx, single=False)
    body = json_body({})
    params = runner.parameters(entity, action, body, ctx)
    background = _wants_async(action)
    if action.type == "global":
        if background:
            return _submit(entity, action, body, {})
        return jsonify(runner.run_global(entity, action, params, g.user, ctx))
    args, base = scoped_query(entity, request.args)
    col = svc.records.collection(entity)
    selection = query_selection(col, entity, args, base, None if background else svc.config.sync_max_records,
                                svc.config.query_max_time_ms)
    if background:
        page = {"ids": [str(i) for i in selection.ids or []]} if selection.paged else {}
        return _submit(entity, action, body, {"query": request.args.to_dict(flat=False), **page})
    ids = selection.ids or []
    if action.type == "oneRecord":
        return jsonify(runner.run_one_each(entity, action, [str(i) for i in ids], params, g.user, ctx))
    selector = {"_id": {"$in": ids}} if selection.paged else selection.filter
    return jsonify(runner.run_many(entity, action, selector, params, g.user, ctx))
