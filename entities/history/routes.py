"""``/data/{entity}/history`` and ``/data/{entity}/{id}/history``."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from core.api import Blueprint, errors
from core.ids import parse_object_id
from core.services import services
from entities.history.recorder import changed_value
from entities.history.schemas import EntityHistoryQuery, HistoryPage, RecordHistoryQuery
from entities.history.service import entity_history, record_history
from entities.metadata import Entity
from entities.permissions.enforce import forbidden, policy, read_filter, strip_hidden
from entities.permissions.policy import EntityPolicy

# A ``when`` history rule shows the history of at most this many permitted records (the newest ids first).
MAX_PERMITTED_RECORDS = 10_000

blp = Blueprint("history", __name__, description="History of record changes")


@blp.route("/data/<entity_name>/<record_id>/history", methods=["GET"])
@blp.arguments(RecordHistoryQuery, location="query")
@blp.response(200, HistoryPage)
@errors(blp, 401, 403, 404)
def history_of_record(query: dict[str, Any], entity_name: str, record_id: str):
    svc = services()
    entity = svc.registry.get(entity_name)
    p = policy(entity)
    if not p.unrestricted:
        doc = svc.records.collection(entity).find_one({"_id": parse_object_id(record_id)}) \
            if parse_object_id(record_id) else None
        if not (p.history.always or p.history.allows(doc)):
            raise forbidden("history")
    _repair(entity)
    return jsonify(_visible(p, record_history(svc.history, entity, record_id, query["_size"], query.get("_offset"))))


@blp.route("/data/<entity_name>/history", methods=["GET"])
@blp.arguments(EntityHistoryQuery, location="query")
@blp.response(200, HistoryPage)
@errors(blp, 401, 403, 404)
def history_of_entity(query: dict[str, Any], entity_name: str):
    svc = services()
    entity = svc.registry.get(entity_name)
    p = policy(entity)
    restrict = None
    if not p.unrestricted and not p.history.always:
        rule = read_filter(p.history, "history")
        ids = svc.records.collection(entity).find(rule, {"_id": 1}).sort("_id", -1).limit(MAX_PERMITTED_RECORDS)
        restrict = {"recordId": {"$in": [str(d["_id"]) for d in ids]}}
    _repair(entity)
    return jsonify(_visible(p, entity_history(svc.history, entity, query.get("eventTypes") or query.get("eventType"),
                                              query.get("time_from"), query.get("time_to"), query["_size"],
                                              query.get("_offset"), restrict)))


def _visible(p: EntityPolicy, listing: dict[str, Any]) -> dict[str, Any]:
    """History entries without the values of the caller's hidden fields."""
    if p.unrestricted:
        return listing
    for item in listing["items"]:
        old, new = item.get("oldRecord"), item.get("newRecord")
        if str(item.get("eventType", "")).endswith(("_CREATED", "_DELETED")):  # plain record values
            for values in (old, new):
                if isinstance(values, dict):
                    strip_hidden(p, values)
        elif isinstance(old, dict) and isinstance(new, dict):
            _strip_changes(p, old, new)
    return listing


def _strip_changes(p: EntityPolicy, old: dict[str, Any], new: dict[str, Any]) -> None:
    """A change entry's ``{"json", "text"}`` values without hidden fields (inner ones too, and the related
    records' hidden fields in relationship values), their text made again from what is left; a field whose
    only change was hidden is left out, so the entry does not even tell that it changed."""
    wrapped = [name for name in old.keys() | new.keys()
               if all(isinstance(v.get(name), dict) and "json" in v[name] for v in (old, new))]
    plain_old = strip_hidden(p, {name: old[name]["json"] for name in wrapped})
    plain_new = strip_hidden(p, {name: new[name]["json"] for name in wrapped})
    for name in wrapped:
        if name not in plain_old or name not in plain_new or plain_old[name] == plain_new[name]:
            old.pop(name)
            new.pop(name)
        else:
            old[name], new[name] = changed_value(name, plain_old[name]), changed_value(name, plain_new[name])


def _repair(entity: Entity) -> None:
    """A history read first finishes history writes a crash interrupted, so it never misses an entry."""
    if entity.history.enabled:
        services().records.repair_history(entity)
