"""Parses query-string arguments against an entity's fields."""

from __future__ import annotations

from typing import Any

from entities.metadata import Entity
from entities.query.model import ListQuery
from entities.types import FieldInvalid, parse_object_id
from runtime.errors import BadRequest

MAX_SIZE = 1000
SYSTEM_PARAMS = {"_size", "_offset", "_sortField", "_sortType", "_fields", "_format", "_relationshipsToFetch",
                 "_query", "_globalSearch", "_async", "_lowPriority", "_triggerEvents", "_cascadeOperations",
                 "_useFieldNames", "_formatForUser", "api_key"}


def parse_list_query(entity: Entity, args: Any, base_filter: dict[str, Any] | None = None,
                     default_size: int = 20, max_size: int = MAX_SIZE) -> ListQuery:
    conditions: list[dict[str, Any]] = [base_filter] if base_filter else []
    for key in args:
        if key.startswith("_") or key in SYSTEM_PARAMS:
            if key not in SYSTEM_PARAMS:
                raise BadRequest(f"Unknown system parameter: {key}")
            continue
        for raw in args.getlist(key):
            conditions.append(_field_condition(entity, key, raw))
    mongo_filter = conditions[0] if len(conditions) == 1 else ({"$and": conditions} if conditions else {})
    size = _int(args.get("_size"), default_size, "_size", 0, max_size)
    sort_field = args.get("_sortField") or "id"
    sort_type = (args.get("_sortType") or "desc").lower()
    if sort_type not in ("asc", "desc"):
        raise BadRequest("_sortType must be asc or desc")
    direction = 1 if sort_type == "asc" else -1
    sort_key = _sort_key(entity, sort_field)
    sort = [(sort_key, direction)] if sort_key == "_id" else [(sort_key, direction), ("_id", direction)]
    skip, after = 0, None
    offset = args.get("_offset")
    if offset not in (None, ""):
        if offset.isdigit():
            skip = int(offset)
        else:
            after = parse_object_id(offset)
            if after is None:
                raise BadRequest("_offset must be a number or a record id")
            if sort_key != "_id":
                raise BadRequest("A record id _offset only works when sorting by id")
    fields = [f.strip() for f in args.get("_fields", "").split(",") if f.strip()] or None
    if fields:
        for path in fields:
            if path not in ("id", "label", "version") and entity.resolve(path) is None:
                raise BadRequest(f"_fields: unknown field '{path}'")
    fmt = args.get("_format") or "native"
    if fmt not in ("native", "plainText"):
        raise BadRequest("_format must be native or plainText")
    rels = [r.strip() for r in args.get("_relationshipsToFetch", "").split(",") if r.strip()]
    for r in rels:
        f = entity.field(r)
        if f is None or f.type.name != "relationship":
            raise BadRequest(f"_relationshipsToFetch: '{r}' is not a relationship field")
    return ListQuery(filter=mongo_filter, sort=sort, skip=skip, limit=size, after_id=after, fields=fields,
                     fmt=fmt, relationships=rels)


def map_filter(entity: Entity, mapping: dict[str, Any]) -> dict[str, Any]:
    """The query-map form (``{"state": "active", "n": "greater(3)"}``) as a Mongo filter."""
    conditions = [_field_condition(entity, k, v) for k, v in mapping.items()]
    return conditions[0] if len(conditions) == 1 else ({"$and": conditions} if conditions else {})


def _field_condition(entity: Entity, path: str, raw: Any) -> dict[str, Any]:
    if path == "id":
        ids = [parse_object_id(v.strip()) for v in str(raw).split(",")]
        if any(i is None for i in ids):
            raise BadRequest(f"{path}: not a valid record id")
        return {"_id": ids[0]} if len(ids) == 1 else {"_id": {"$in": ids}}
    f = entity.resolve(path)
    if f is None:
        raise BadRequest(f"Unknown field in query: {path}")
    values = str(raw).split(",") if isinstance(raw, str) else [raw]
    try:
        converted = [f.type.filter_value(v, f) for v in values]
    except FieldInvalid as exc:
        raise BadRequest(f"{path}: {exc.message}") from None
    key = f"{path}.label" if f.type.name == "relationship" else path
    return {key: converted[0]} if len(converted) == 1 else {key: {"$in": converted}}


def _sort_key(entity: Entity, field: str) -> str:
    if field == "id":
        return "_id"
    if field in ("label", "version"):
        return field
    f = entity.resolve(field)
    if f is None:
        raise BadRequest(f"_sortField: unknown field '{field}'")
    if f.many or not f.type.sortable:
        raise BadRequest(f"_sortField: '{field}' cannot be used for sorting")
    return f"{field}.label" if f.type.name == "relationship" else field


def _int(raw: str | None, default: int, name: str, lo: int, hi: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if value < lo or value > hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value


