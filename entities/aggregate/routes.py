"""``PUT /data/{entity}/aggregate``."""

from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint

from core.services import services
from entities.aggregate.parse import parse_body
from entities.aggregate.service import aggregate

blp = Blueprint("aggregate", __name__, description="Aggregate queries over an entity's records")


@blp.route("/data/<entity_name>/aggregate", methods=["PUT"])
def aggregate_records(entity_name: str):
    """Run a pipeline of stages (match, sort, project, group, count, skip, limit, unwind, lookup)."""
    svc = services()
    entity = svc.registry.get(entity_name)
    return jsonify(aggregate(svc, entity, parse_body(request.get_data(cache=True))))
