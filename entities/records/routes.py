"""``/data/{entity}``: list, create, read, update, delete (one, many, over a query)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from flask import g, jsonify, request

from core.api import Blueprint, Page, Record, errors
from core.errors import BadRequest, Forbidden, NotFound, field_error
from core.http import arg_flag, page, preset_record_id
from core.identity import write_context
from core.ids import parse_object_id
from core.routing import refuse_if_path_of_another_route
from core.services import services
from entities.metadata import Entity
from entities.permissions.enforce import (
    check_paths,
    forbidden,
    kept_values,
    policy,
    query_paths,
    scoped_query,
    strip_hidden,
    writable_body,
)
from entities.query import page_and_total, parse_list_query, query_selection
from entities.records.bulk import check_delete, delete_each, split_ids
from entities.records.lifecycle import parse_id
from entities.records.plain_text import reader_timezone
from entities.records.render import render
from entities.records.schemas import (
    ActionIdsQuery,
    ActionQuery,
    DeleteIdsQuery,
    DeleteQuery,
    ListQuery,
    ReadQuery,
    RecordBody,
    UpdateBody,
    deleted_by_ids,
    deleted_by_query,
    updated_or_action_answer,
)
from jobs.model import storable_result_key

blp = Blueprint("records", __name__, description="Records of every entity")

def _entity(name: str) -> Entity:
    return services().registry.get(name)


def _related(entity: Entity, docs: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    """``_relationshipsToFetch``: the related records, rendered, keyed by relationship field then id."""
    out: dict[str, dict[str, Any]] = {}
    svc = services()
    for name in names:
        f = entity.field(name)
        target = svc.registry.get(f.type_rules["entity"])
        ids = set()
        for d in docs:
            value = d.get(name)
            for ref in value if isinstance(value, list) else [value] if value else []:
                ids.add(ref["id"])
        p = policy(target)
        scope = p.access.mongo()
        if scope is None or not ids:  # a related entity the caller may not read: no related records
            out[name] = {}
            continue
        found = svc.records.find_many(target, ids, scope or None)
        out[name] = {str(k): strip_hidden(p, render(target, v)) for k, v in found.items()}
    return out


@blp.route("/data/<entity_name>", methods=["GET"])
@blp.arguments(ListQuery, location="query")
@blp.response(200, Page)
@errors(blp, 401, 403, 404)
def list_records(query: dict[str, Any], entity_name: str):
    entity = _entity(entity_name)
    svc = services()
    args, base = scoped_query(entity, request.args)
    q = parse_list_query(entity, args, base)
    if entity.pending:  # records not yet migrated are converted whole (their stored names may differ)
        q.projection = None
    col = svc.records.collection(entity)
    max_ms = svc.config.query_max_time_ms
    docs, total = page_and_total(col, q, max_ms)
    related = _related(entity, docs, q.relationships) if q.relationships else None
    p, tz = policy(entity), reader_timezone(q)
    return jsonify(page(total, docs, lambda d: strip_hidden(p, render(entity, d, q.fields, q.fmt, related, tz))))


@blp.route("/data/<entity_name>", methods=["POST"])
@blp.arguments(RecordBody, location="body")
@blp.response(200, Record)
@errors(blp, 401, 403, 404)
def create_record(body: Any, entity_name: str):
    entity = _entity(entity_name)
    p = policy(entity)
    if p.create.never:
        raise forbidden("create")
    doc = services().records.create(entity, writable_body(p, body), write_context(f"entities.{entity.name}.create"),
                                    record_id=preset_record_id())
    return jsonify(strip_hidden(p, render(entity, doc)))


@blp.route("/data/<entity_name>/<record_id>", methods=["GET"])
@blp.arguments(ReadQuery, location="query")
@blp.response(200, Record)
@errors(blp, 401, 403, 404)
def read_record(query: dict[str, Any], entity_name: str, record_id: str):
    entity = _entity(entity_name)
    p = policy(entity)
    q = None
    if request.query_string and request.args:  # the common case has nothing to parse (nor a MultiDict to build)
        args = _system_args_only()
        check_paths(p, query_paths(args))
        q = parse_list_query(entity, args)
    doc = services().records.get(entity, _record_id(record_id))
    if not p.access.allows(doc):
        raise forbidden("access")
    if q is None:
        return jsonify(strip_hidden(p, render(entity, doc)))
    related = _related(entity, [doc], q.relationships) if q.relationships else None
    return jsonify(strip_hidden(p, render(entity, doc, q.fields, q.fmt, related, reader_timezone(q))))


@blp.route("/data/<entity_name>/<segment>", methods=["PUT"])
@blp.arguments(ActionQuery, location="query", description="For an action: the query selecting its records")
@blp.arguments(UpdateBody, location="body", description="The fields to change, or an action's parameters")
@blp.response(200, updated_or_action_answer(), description="The updated record; for an action over the query's "
              "records, its answer: `{id: outcome}` (a oneRecord action), `{jobLink, jobId}` in the background, or "
              "the action's own answer (manyRecords, global)")
@errors(blp, 401, 403, 404, 409)
def update_record_or_run_action(query: dict[str, Any], body: Any, entity_name: str, segment: str):
    """``segment`` is a record id (update it) or an action name (run it over the query's records)."""
    entity = _entity(entity_name)
    if parse_object_id(segment) is None:
        refuse_if_path_of_another_route()
        if entity.action(segment) is None:
            raise NotFound(f"'{segment}' is neither a record id nor an action of entity '{entity.name}'")
        return _action("query", entity, None, segment)
    p = policy(entity)
    if p.edit.never:
        raise forbidden("edit")
    doc = services().records.update(entity, segment, writable_body(p, body),
                                    write_context(f"entities.{entity.name}.update"), keep=kept_values(p, entity))
    return jsonify(strip_hidden(p, render(entity, doc)))


@blp.route("/data/<entity_name>/<record_ids>/<action_name>", methods=["PUT"])
@blp.arguments(ActionIdsQuery, location="query")
@blp.arguments(UpdateBody, location="body", description="The action's parameters")
@blp.response(200, updated_or_action_answer(), description="The action's answer: the updated record (a oneRecord "
              "action on one id), `{id: outcome}` for several ids, `{jobLink, jobId}` in the background, or the "
              "action's own answer (customResponse, manyRecords, global)")
@errors(blp, 401, 403, 404, 409)
def run_action_on_records(query: dict[str, Any], body: Any, entity_name: str, record_ids: str, action_name: str):
    entity = _entity(entity_name)
    refuse_if_path_of_another_route()
    return _action("ids", entity, split_ids(record_ids), action_name)


def _action(kind: str, entity: Entity, ids: list[str] | None, action_name: str):
    handler = services().plugins.action_runners.get(kind)
    if handler is None or entity.action(action_name) is None:
        raise NotFound(f"Action '{action_name}' does not exist in entity '{entity.name}'")
    return handler(entity, ids, action_name)


@blp.route("/data/<entity_name>/<record_ids>", methods=["DELETE"])
@blp.arguments(DeleteIdsQuery, location="query")
@blp.response(200, deleted_by_ids(), description="The deleted record (one id), `{id: outcome}` (several ids), or "
              "with _async=true the job's `{jobLink, jobId}`")
@errors(blp, 401, 403, 404, 409)
def delete_records(query: dict[str, Any], entity_name: str, record_ids: str):
    entity = _entity(entity_name)
    ids = split_ids(record_ids)
    if not ids:
        raise BadRequest("No record ids given")
    single = len(ids) == 1 and "," not in record_ids
    if single:
        refuse_if_path_of_another_route()
    ctx = _delete_context(entity)
    check_delete(services().records, entity, policy(entity), ids, single, bool(query.get("_async")), ctx)
    if query.get("_async"):
        return _submit_delete(entity, _ids_selection(ids))
    if single:
        doc = services().records.delete(entity, parse_id(ids[0]), ctx)
        return jsonify(strip_hidden(policy(entity), render(entity, doc)))
    if len(ids) > services().config.sync_max_records:
        raise BadRequest(f"More than {services().config.sync_max_records} records: use _async=true")
    results, _, _ = delete_each(services().records, entity, ids, ctx)
    return jsonify(_strip_results(entity, results))


@blp.route("/data/<entity_name>", methods=["DELETE"])
@blp.arguments(DeleteQuery, location="query")
@blp.response(200, deleted_by_query(), description="`{id: outcome}` for the records deleted, or with _async=true "
              "the job's `{jobLink, jobId}`")
@errors(blp, 401, 403, 404)
def delete_over_query(query: dict[str, Any], entity_name: str):
    """The records a list with the same parameters returns (``query_selection``): with ``_size``/``_offset``
    that page, else every match; a background run of a page deletes the page's ids, resolved now."""
    entity = _entity(entity_name)
    _refuse_developer_options()
    svc = services()
    args, base = scoped_query(entity, request.args, "delete", "deleteMany")
    background = bool(query.get("_async"))
    selection = query_selection(svc.records.collection(entity), entity, args, base,
                                None if background else svc.config.sync_max_records, svc.config.query_max_time_ms,
                                what="delete them")
    if background:
        if selection.paged:
            return _submit_delete(entity, {"ids": [str(i) for i in selection.ids or []]})
        return _submit_delete(entity, {"query": request.args.to_dict(flat=False)})
    results, _, _ = delete_each(svc.records, entity, selection.ids or [], _delete_context(entity))
    return jsonify(_strip_results(entity, results))


def _strip_results(entity: Entity, results: dict[str, Any]) -> dict[str, Any]:
    p = policy(entity)
    for outcome in results.values():
        if isinstance(outcome.get("response"), dict):
            strip_hidden(p, outcome["response"])
    return results


def _ids_selection(ids: list[str]) -> dict[str, Any]:
    """What a background delete of ``ids`` works on: the record ids, and the ids that cannot be any record's
    (``invalid``), which its results report as the synchronous delete does. Such an id is also a key of those
    results, so one that cannot be a stored key (``jobs.model.storable_result_key``) is a 400 here."""
    oids = [parse_object_id(i) for i in ids]
    invalid = [raw for raw, oid in zip(ids, oids, strict=True) if oid is None]
    unusable = [raw for raw in invalid if not storable_result_key(raw)]
    if unusable:
        raise BadRequest(f"'{unusable[0]}' is not a record id", errors=[
            field_error("record_ids", "invalid", f"'{raw}' is not a record id", rejected=raw) for raw in unusable])
    selection: dict[str, Any] = {"ids": [str(oid) for oid in oids if oid is not None]}
    if invalid:
        selection["invalid"] = invalid
    return selection


def _refuse_developer_options() -> None:
    """A delete that fires no listeners or applies no delete policies is for developers, as an import's
    ``triggerEvents`` and ``cascadeOperations`` are: a user could otherwise delete unheard by the app's listeners
    and webhooks, or leave links to records that are gone (403)."""
    if g.user.get("developer"):
        return
    for name in ("_triggerEvents", "_cascadeOperations"):
        if not arg_flag(name, True):
            raise Forbidden(f"Only developers can set {name}")


def _delete_context(entity: Entity):
    """``_triggerEvents=false`` deletes without firing listeners; ``_cascadeOperations=false`` without applying
    the delete policies of the relationships that point at the records (their links are left as they are)."""
    _refuse_developer_options()
    ctx = write_context(f"entities.{entity.name}.delete")
    ctx.trigger_events = arg_flag("_triggerEvents", True)
    ctx.cascade = arg_flag("_cascadeOperations", True)
    return ctx


def _submit_delete(entity: Entity, selection: dict[str, Any]):
    submit = services().plugins.delete_submitter
    if submit is None:
        raise BadRequest("Background jobs are not available in this process")
    return submit(entity, selection)


def _record_id(segment: str) -> ObjectId:
    """The record id a path segment names: 404 when it cannot be one, 405 when it names a route of its own."""
    oid = parse_object_id(segment)
    if oid is None:
        refuse_if_path_of_another_route()
        return parse_id(segment)  # the 404
    return oid


def _system_args_only():
    from werkzeug.datastructures import MultiDict
    return MultiDict([(k, v) for k, v in request.args.items(multi=True)
                      if k in ("_fields", "_format", "_formatForUser", "_relationshipsToFetch")])
