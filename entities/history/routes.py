"""``/data/{entity}/history`` and ``/data/{entity}/{id}/history``."""

from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint

from core.http import int_arg
from core.services import services
from entities.history.service import entity_history, record_history
from entities.metadata import Entity

blp = Blueprint("history", __name__, description="History of record changes")


@blp.route("/data/<entity_name>/<record_id>/history", methods=["GET"])
def history_of_record(entity_name: str, record_id: str):
    svc = services()
    entity = svc.registry.get(entity_name)
    size = int_arg("_size", 20, 0, 1000)
    _repair(entity)
    return jsonify(record_history(svc.history, entity, record_id, size, request.args.get("_offset")))


@blp.route("/data/<entity_name>/history", methods=["GET"])
def history_of_entity(entity_name: str):
    svc = services()
    entity = svc.registry.get(entity_name)
    size = int_arg("_size", 20, 0, 1000)
    time_from = int_arg("from", -1, 0) if request.args.get("from") else None
    time_to = int_arg("to", -1, 0) if request.args.get("to") else None
    _repair(entity)
    return jsonify(entity_history(svc.history, entity,
                                  request.args.get("eventTypes") or request.args.get("eventType"),
                                  time_from, time_to, size,
                                  request.args.get("_offset")))


def _repair(entity: Entity) -> None:
    """A history read first finishes history writes a crash interrupted, so it never misses an entry."""
    if entity.history.enabled:
        services().records.repair_history(entity)
