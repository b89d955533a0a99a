"""``PUT /data/{entity}/aggregate``."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from core.api import Blueprint, errors
from core.services import services
from entities.aggregate.context import FieldGuard
from entities.aggregate.schemas import AggregateResult, Stage
from entities.aggregate.service import aggregate
from entities.permissions.enforce import check_paths, forbidden, policy, read_filter

blp = Blueprint("aggregate", __name__, description="Aggregate queries over an entity's records")


@blp.route("/data/<entity_name>/aggregate", methods=["PUT"])
@blp.arguments(Stage(many=True), location="raw", description="The pipeline: a list of stages")
@blp.response(200, AggregateResult)
@errors(blp, 400, 401, 403, 404)
def aggregate_records(body: Any, entity_name: str):
    """Run a pipeline of stages (match, sort, project, group, count, skip, limit, unwind, lookup)."""
    svc = services()
    entity = svc.registry.get(entity_name)
    p = policy(entity)
    if p.unrestricted:
        return jsonify(aggregate(svc, entity, body))
    base = read_filter(p.access, "aggregate")
    _check_lookups(svc, body)
    # every path is checked as the record field it stands for, whatever stage renamed it; rows drop hidden fields
    guard = FieldGuard(lambda path: check_paths(p, [path], "aggregate"), tuple(p.hidden()))
    return jsonify(aggregate(svc, entity, body, base, guard))


def _check_lookups(svc: Any, body: Any) -> None:
    """A ``lookup`` joins whole records of another entity: the caller must read all of them, every field."""
    stages = body if isinstance(body, list) else [body]
    for stage in stages:
        settings = stage.get("lookup") if isinstance(stage, dict) else None
        name = settings.get("foreignEntityName") if isinstance(settings, dict) else None
        if not isinstance(name, str) or name not in svc.registry.all():
            continue  # the pipeline builder reports it
        foreign = policy(svc.registry.get(name))
        if not foreign.unrestricted and (not foreign.access.always or foreign.hidden()):
            raise forbidden("aggregate")
