"""Runs an aggregate request: parse, translate, one ``aggregate`` call with a time limit and a cap, render."""

from __future__ import annotations

from typing import Any

from pymongo.errors import ExecutionTimeout, OperationFailure

from core.errors import ApiError, BadRequest, refused_by_database
from core.services import Services
from entities.aggregate.parse import normalize
from entities.aggregate.pipeline import build
from entities.aggregate.render import render_row
from entities.metadata import Entity


def aggregate(svc: Services, entity: Entity, body: Any, base_filter: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{total, items}``; more rows than ``aggregate_max_results`` is a 400 rather than a silent cut.
    ``base_filter`` (the caller's access rule) is a leading ``$match``: no stage sees other records."""
    try:
        pipeline, shape = build(entity, normalize(body), lambda name: _find_entity(svc, name))
        if base_filter:
            pipeline = [{"$match": base_filter}, *pipeline]
    except RecursionError:
        raise BadRequest("The body is nested too deeply") from None
    cap = svc.config.aggregate_max_results
    max_ms = svc.config.aggregate_max_time_ms
    try:
        rows = list(svc.records.collection(entity).aggregate([*pipeline, {"$limit": cap + 1}], maxTimeMS=max_ms))
    except ExecutionTimeout:
        raise BadRequest(f"The aggregation took longer than {max_ms} ms: narrow it with a match stage") from None
    except OperationFailure as exc:
        raise refused_by_database(exc, "aggregation") from None
    if len(rows) > cap:
        raise BadRequest(f"The aggregation returns more than {cap} results: add a match, group or limit stage")
    items = [render_row(shape, row) for row in rows]
    return {"total": len(items), "items": items}


def _find_entity(svc: Services, name: str) -> Entity | None:
    try:
        return svc.registry.get(name)
    except ApiError:
        return None
