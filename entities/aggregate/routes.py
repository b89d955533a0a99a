"""``PUT /data/{entity}/aggregate``."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from core.api import Blueprint, errors
from core.services import services
from entities.aggregate.schemas import AggregateResult, Stage
from entities.aggregate.service import aggregate

blp = Blueprint("aggregate", __name__, description="Aggregate queries over an entity's records")


@blp.route("/data/<entity_name>/aggregate", methods=["PUT"])
@blp.arguments(Stage(many=True), location="raw", description="The pipeline: a list of stages")
@blp.response(200, AggregateResult)
@errors(blp, 400, 401, 403, 404)
def aggregate_records(body: Any, entity_name: str):
    """Run a pipeline of stages (match, sort, project, group, count, skip, limit, unwind, lookup)."""
    svc = services()
    entity = svc.registry.get(entity_name)
    return jsonify(aggregate(svc, entity, body))
