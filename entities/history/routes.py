"""``/data/{entity}/history`` and ``/data/{entity}/{id}/history``."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from core.api import Blueprint, errors
from core.ids import parse_object_id
from core.services import services
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
    if not p.unrestricted:
        for item in listing["items"]:
            for key in ("oldRecord", "newRecord"):
                if isinstance(item.get(key), dict):
                    strip_hidden(p, item[key])
    return listing


def _repair(entity: Entity) -> None:
    """A history read first finishes history writes a crash interrupted, so it never misses an entry."""
    if entity.history.enabled:
        services().records.repair_history(entity)
