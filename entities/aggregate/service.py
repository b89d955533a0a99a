"""Runs an aggregate request: parse, translate, one ``aggregate`` call with a time limit and a cap, render."""

from __future__ import annotations

from typing import Any

from pymongo.errors import ExecutionTimeout, OperationFailure

from core.errors import ApiError, BadRequest, refused_by_database
from core.services import Services
from entities.aggregate.context import FieldGuard
from entities.aggregate.parse import normalize
from entities.aggregate.pipeline import build
from entities.aggregate.render import render_row
from entities.metadata import Entity


def aggregate(svc: Services, entity: Entity, body: Any, base_filter: dict[str, Any] | None = None,
              guard: FieldGuard | None = None) -> dict[str, Any]:
    """``{total, items}``; more rows than ``aggregate_max_results`` is a 400 rather than a silent cut.
    ``base_filter`` (the caller's access rule) comes before every stage: no stage sees other records; ``guard``
    (the caller's field rules) refuses paths to hidden fields and keeps them out of the rows."""
    try:
        pipeline, shape = build(entity, normalize(body), lambda name: _find_entity(svc, name), guard)
        if base_filter:
            pipeline = _within_access(pipeline, base_filter)
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
    items = [render_row(shape, row, guard.hidden if guard is not None else ()) for row in rows]
    return {"total": len(items), "items": items}


def _within_access(pipeline: list[dict[str, Any]], base_filter: dict[str, Any]) -> list[dict[str, Any]]:
    """A leading ``$match`` of the access rule; a ``$geoNear``, which must stay first, takes it as its ``query``."""
    first = pipeline[0] if pipeline else {}
    if "$geoNear" in first:
        return [{"$geoNear": {**first["$geoNear"], "query": base_filter}}, *pipeline[1:]]
    return [{"$match": base_filter}, *pipeline]


def _find_entity(svc: Services, name: str) -> Entity | None:
    try:
        return svc.registry.get(name)
    except ApiError:
        return None
