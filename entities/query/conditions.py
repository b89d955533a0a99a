"""One filter (path + value) → a Mongo condition, for query-string values and query-map JSON values."""

from __future__ import annotations

from typing import Any

from core.errors import BadRequest
from core.http import loads_safe
from entities.metadata import Field
from entities.query.operators import at, condition
from entities.query.paths import Segment, Target, resolve
from entities.query.values import Operation, bad, parse_operation

Scope = tuple[list[Field], tuple[Segment, ...], bool]  # fields, key-chain prefix, top level?


def and_(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """All of ``conditions``, as flat as possible: nested ``$and``s unpacked, repeats dropped (a permission
    rule often repeats the caller's own filter) and conditions on different keys merged into one document,
    which is what a matcher evaluates fastest."""
    flat: list[dict[str, Any]] = []
    for c in conditions:
        for part in (c["$and"] if len(c) == 1 and isinstance(c.get("$and"), list) else [c]) if c else []:
            if part and part not in flat:
                flat.append(part)
    if len(flat) <= 1:
        return flat[0] if flat else {}
    merged: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for part in flat:
        if merged.keys().isdisjoint(part):
            merged.update(part)
        else:
            rest.append(part)
    return {"$and": [merged, *rest]} if rest else merged


def or_(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return conditions[0] if len(conditions) == 1 else {"$or": conditions}


class Literal(str):
    """A query-map value taken as it is, never read as the REST syntax (``a,b``, ``like(x)``): what a placeholder
    stands for, such as the caller's email, must match only itself."""


def text_condition(fields: list[Field], path: str, raw: str, param: str, prefix: tuple[Segment, ...] = (),
                   top_level: bool = True) -> dict[str, Any]:
    """A REST value (``v``, ``a,b``, ``op(args)``, or a JSON object for a nested group)."""
    target = resolve(fields, path, param, prefix, top_level)
    if target.is_group:
        operation = parse_operation(raw, param, split=False)
        if operation.op != "equals":
            return condition(target, operation)
        return group_condition(target, _json_object(operation.args[0], param), param)
    return condition(target, parse_operation(raw, param))


def value_condition(fields: list[Field], path: str, value: Any, param: str, prefix: tuple[Segment, ...] = (),
                    top_level: bool = True) -> dict[str, Any]:
    """A query-map value: a string in the REST syntax, a JSON scalar, a list (OR) or an object."""
    if isinstance(value, Literal):
        target = resolve(fields, path, param, prefix, top_level)
        if not target.is_group:
            return condition(target, Operation("equals", [str(value)]))
    if isinstance(value, str):
        return text_condition(fields, path, value, param, prefix, top_level)
    target = resolve(fields, path, param, prefix, top_level)
    if isinstance(value, list):
        if not value:
            raise bad(param, "an empty list matches nothing; give at least one value")
        return or_([value_condition(fields, path, v, param, prefix, top_level) for v in value])
    if isinstance(value, dict):
        if target.is_group:
            return group_condition(target, value, param)
        f = target.field
        if f is not None and f.type.is_reference and path.rsplit(".", 1)[-1] == f.name:
            if not value:
                raise _empty_object(param)
            return and_([value_condition(fields, f"{path}.{k}", v, f"{param}.{k}", prefix, top_level)
                         for k, v in value.items()])
        raise bad(param, "an object value is only allowed for nested fields and relationships")
    if value is None:
        return condition(target, Operation("empty", []))
    return condition(target, Operation("equals", [value]))


def group_condition(target: Target, obj: dict[str, Any], param: str) -> dict[str, Any]:
    """One element of a nested group satisfying every inner condition (``$elemMatch`` when multi-valued)."""
    if not obj:
        raise _empty_object(param)
    assert target.field is not None
    chain = target.chain
    last_array = max((i for i, s in enumerate(chain) if s.array), default=-1)
    inner_prefix = chain[last_array + 1:]
    combined = and_([value_condition(target.field.nested, str(k), v, f"{param}.{k}", inner_prefix, False)
                     for k, v in obj.items()])
    if last_array < 0:
        return combined
    return at(chain[:last_array + 1], {"$elemMatch": combined})


def _json_object(raw: str, param: str) -> dict[str, Any]:
    try:
        value = loads_safe(raw)
    except (ValueError, RecursionError):
        raise bad(param, 'a nested field takes a JSON object, e.g. {"state":"CA"}, or empty()/notEmpty()') from None
    if not isinstance(value, dict):
        raise bad(param, 'a nested field takes a JSON object, e.g. {"state":"CA"}')
    return value


def _empty_object(param: str) -> BadRequest:
    return bad(param, "an object value needs at least one condition")
