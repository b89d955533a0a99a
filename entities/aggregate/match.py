"""The ``match`` stage: the query-map form turned into a Mongo filter by the shared query parser.

On untouched records the map goes to ``map_filter`` as is (every key it knows, ``_or``/``_and``/``_query``
included). After a stage changed the documents, each key is resolved against the shape and handed to
``map_filter`` as the only field of a throw-away entity (named ``PLACEHOLDER``); the filter that comes
back is renamed to the real Mongo path. So every operator of the query language also works on grouped,
projected or joined fields. ``$`` never gets here: the body was checked as a whole first.
"""

from __future__ import annotations

from typing import Any

from core.errors import ApiError
from entities.aggregate.context import StageContext
from entities.aggregate.shape import filter_entity
from entities.metadata import Entity, Field
from entities.query import map_filter
from entities.query.named import map_paths

PLACEHOLDER = "aggregateMatchField"
QUERY_KEYS = frozenset({"_or", "_and", "_query", "_globalSearch"})
LOGICAL = {"_or": "$or", "_and": "$and"}


def match_filter(ctx: StageContext, mapping: Any) -> dict[str, Any]:
    if not isinstance(mapping, dict):
        raise ctx.error('settings must be an object of field filters, e.g. {"numberOfSkills": "greater(3)"}')
    # Only field filters apply; paging parameters such as _size are ignored (platform-facts §2.2).
    mapping = {k: v for k, v in mapping.items() if not k.startswith("_") or k in QUERY_KEYS}
    try:
        if ctx.shape.entity is not None:
            return _records_filter(ctx, ctx.shape.entity, mapping)
        return _map(ctx, mapping)
    except ApiError as exc:
        if exc.status != 400 or exc.message.startswith(f"stage {ctx.index} "):
            raise
        raise ctx.error(exc.message) from None


def _records_filter(ctx: StageContext, entity: Entity, mapping: dict[str, Any]) -> dict[str, Any]:
    """On untouched records: the query map as is; a restricted caller may name no hidden field, and
    ``_globalSearch`` does not look into those."""
    if ctx.guard is None:
        return map_filter(entity, mapping)
    for path in map_paths(mapping):
        ctx.check(path)
    return map_filter(entity, mapping, search_exclude=frozenset(ctx.guard.hidden))


def _map(ctx: StageContext, mapping: dict[str, Any]) -> dict[str, Any]:
    conditions = [_logical(ctx, k, v) if k in LOGICAL else _condition(ctx, k, v) for k, v in mapping.items()]
    return _combine("$and", conditions)


def _logical(ctx: StageContext, key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        parts = [_map(ctx, {k: v}) for k, v in value.items()]
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        parts = [_map(ctx, v) for v in value]
    else:
        raise ctx.error(f"{key} takes an object of conditions or a non-empty list of such objects")
    return _combine(LOGICAL[key], [p for p in parts if p])


def _combine(operator: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return conditions[0] if len(conditions) == 1 else ({operator: conditions} if conditions else {})


def _condition(ctx: StageContext, path: str, value: Any) -> dict[str, Any]:
    if path.startswith("_"):
        raise ctx.error(f"{path} only works on records, before any stage that changes them")
    resolved = ctx.resolve(path)
    ctx.check_value(resolved, value)
    slot = resolved.slot
    if slot.is_records:
        raise ctx.error(f"'{path}' holds joined records: filter on one of their fields, e.g. '{path}.id'")
    if slot.is_id:
        entity, name = filter_entity("aggregate", []), "id"
        old = "_id"
    else:
        f = slot.field
        stand_in = Field(name=PLACEHOLDER, label=path, type=f.type, many=slot.many, type_rules=f.type_rules,
                         nested=f.nested, path=PLACEHOLDER)
        entity, name, old = filter_entity("aggregate", [stand_in]), PLACEHOLDER, PLACEHOLDER
    try:
        built = map_filter(entity, {name: value})
    except ApiError as exc:
        raise ctx.error(exc.message.replace(f"'{name}'", f"'{path}'").replace(PLACEHOLDER, path)) from None
    return _rename(built, old, resolved.mongo_path)


def _rename(value: Any, old: str, new: str) -> Any:
    """Rename the field ``old`` (and ``old.x`` sub-paths) to ``new`` in every key of a filter."""
    if isinstance(value, list):
        return [_rename(v, old, new) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if key == old:
            key = new
        elif key.startswith(old + "."):
            key = new + key[len(old):]
        out[key] = _rename(inner, old, new)
    return out
