"""``/data/{entity}/history`` and ``/data/{entity}/{id}/history``."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from core.api import Blueprint, errors
from core.services import services
from entities.history.schemas import EntityHistoryQuery, HistoryPage, RecordHistoryQuery
from entities.history.service import entity_history, record_history
from entities.metadata import Entity

blp = Blueprint("history", __name__, description="History of record changes")


@blp.route("/data/<entity_name>/<record_id>/history", methods=["GET"])
@blp.arguments(RecordHistoryQuery, location="query")
@blp.response(200, HistoryPage)
@errors(blp, 401, 403, 404)
def history_of_record(query: dict[str, Any], entity_name: str, record_id: str):
    svc = services()
    entity = svc.registry.get(entity_name)
    _repair(entity)
    return jsonify(record_history(svc.history, entity, record_id, query["_size"], query.get("_offset")))


@blp.route("/data/<entity_name>/history", methods=["GET"])
@blp.arguments(EntityHistoryQuery, location="query")
@blp.response(200, HistoryPage)
@errors(blp, 401, 403, 404)
def history_of_entity(query: dict[str, Any], entity_name: str):
    svc = services()
    entity = svc.registry.get(entity_name)
    _repair(entity)
    return jsonify(entity_history(svc.history, entity, query.get("eventTypes") or query.get("eventType"),
                                  query.get("time_from"), query.get("time_to"), query["_size"],
                                  query.get("_offset")))


def _repair(entity: Entity) -> None:
    """A history read first finishes history writes a crash interrupted, so it never misses an entry."""
    if entity.history.enabled:
        services().records.repair_history(entity)
