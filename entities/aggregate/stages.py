"""One translator per stage: validated settings → Mongo stages plus the shape of what comes out.

Only the stages in ``TRANSLATORS`` exist; every field path goes through the incoming shape, and every
Mongo field reference (``"$path"``) is built here from a resolved path, never copied from the body.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

from entities.aggregate.context import StageContext, Step
from entities.aggregate.match import match_filter
from entities.aggregate.shape import (
    COUNT_FIELD,
    NUMBER_TYPE,
    RECORDS,
    Entry,
    Resolved,
    Shape,
    Slot,
    single,
    synthetic_field,
)
from entities.metadata import Field
from entities.registry import data_collection_name
from entities.types import DecimalType, FieldInvalid, FieldType
from entities.types_refs import coordinate

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
COUNT_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
ACCUMULATOR_RE = re.compile(r"^\s*(?P<op>[A-Za-z]+)\s*\(\s*(?P<arg>[^()]*?)\s*\)\s*$")
ACCUMULATORS = ("count", "sum", "avg", "first", "last", "min", "max")
# On a multi-valued value these would work on whole arrays; unwind first.
ARRAY_UNSAFE = frozenset({"sum", "avg", "min", "max"})
LOOKUP_KEYS = ("localFieldPath", "foreignFieldPath", "foreignEntityName", "as")


def match(ctx: StageContext, settings: Any) -> Step:
    return [{"$match": match_filter(ctx, settings)}], ctx.shape


def sort(ctx: StageContext, settings: Any) -> Step:
    if not isinstance(settings, dict) or not settings:
        raise ctx.error('settings must be an object of field → "asc" | "desc", e.g. {"numberOfSkills": "desc"}')
    keys: dict[str, int] = {}
    for path, direction in settings.items():
        if not isinstance(direction, str) or direction.strip().lower() not in ("asc", "desc"):
            raise ctx.error(f"'{path}': the direction must be \"asc\" or \"desc\"")
        resolved = ctx.resolve(path)
        slot = resolved.slot
        if slot.many or not slot.type.sortable:
            raise ctx.error(f"'{path}' ({slot.describe()}) cannot be used for sorting")
        key = slot.type.like_path(resolved.mongo_path)  # a reference sorts by its text (label)
        keys[key] = 1 if direction.strip().lower() == "asc" else -1
    id_entry = ctx.shape.get("id")
    if id_entry is not None and id_entry.key == "_id":
        keys.setdefault("_id", 1)  # a stable order for equal keys
    return [{"$sort": keys}], ctx.shape


def project(ctx: StageContext, settings: Any) -> Step:
    paths = _comma_list(ctx, settings, "a comma-separated list of fields, e.g. \"name,numberOfEmployees\"")
    id_entry = ctx.shape.get("id")
    resolved = [ctx.resolve(p) for p in paths if not (p == "id" and id_entry is None)]
    whole = {r.entry.name for r in resolved if r.is_whole_entry}
    spec: dict[str, int] = {}
    kept: dict[str, Entry] = {}
    inner: dict[str, list[list[str]]] = {}  # per nested entry kept in part: the inner paths kept
    if id_entry is not None:
        spec[id_entry.key], kept["id"] = 1, id_entry
    for r in resolved:
        kept.setdefault(r.entry.name, r.entry)
        if r.is_whole_entry:
            spec[r.entry.key] = 1
        elif r.entry.name not in whole:
            spec.update({p: 1 for p in _inner_projection(ctx, r)})
            inner.setdefault(r.entry.name, []).append(r.mongo_path[len(r.entry.key) + 1:].split("."))
    for name, paths in inner.items():  # rendered with the inner (or copied) fields kept only
        e = kept[name]
        f = e.slot.field
        narrowed = _narrowed(f, paths) if f.is_nested else \
            dataclasses.replace(f, copied=[c for c in f.copied if any(p[0] == c.name for p in paths)])
        kept[name] = dataclasses.replace(e, slot=dataclasses.replace(e.slot, field=narrowed))
    return [{"$project": spec}], ctx.shape.derived(list(kept.values()))


def _narrowed(f: Field, paths: list[list[str]]) -> Field:
    """``f`` (a nested group) with only the inner fields ``paths`` (``[["state"], ["a", "b"]]``) lead to."""
    nested = []
    for inner in f.nested:
        below = [p[1:] for p in paths if p[0] == inner.name]
        if below:
            nested.append(inner if any(not p for p in below) else _narrowed(inner, [p for p in below if p]))
    return dataclasses.replace(f, nested=nested)


def _inner_projection(ctx: StageContext, r: Resolved) -> list[str]:
    """An inner field of a nested group, or a copied field of a relationship (``company.type``), plus the
    group's (the link's) ``id`` and ``label`` so it still renders as one."""
    if any(s.is_records or not (s.type.is_nested or s.type.is_reference) for s in r.via):
        raise ctx.error(f"'{r.mongo_path}': only whole fields, inner fields of nested fields and copied fields "
                        "of relationships can be projected")
    rest = r.mongo_path[len(r.entry.key) + 1:].split(".")
    out = [r.mongo_path]
    for i in range(len(rest)):
        parent = ".".join([r.entry.key, *rest[:i]])
        out += [f"{parent}.id", f"{parent}.label"]
    return out


def group(ctx: StageContext, settings: Any) -> Step:
    if not isinstance(settings, dict):
        raise ctx.error('settings must be an object, e.g. {"by": "company", "total": "sum(numberOfSkills)"}')
    by = _comma_list(ctx, settings["by"], "a comma-separated list of fields") if "by" in settings else []
    group_key, accumulators, final, entries = _group_keys(ctx, list(dict.fromkeys(by)))
    for name, spec in settings.items():
        if name == "by":
            continue
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ctx.error(f"'{name}': output names are letters and digits and start with a letter")
        if name in by:
            raise ctx.error(f"'{name}' is both a group field and an accumulator output")
        accumulators[name], slot, source = _accumulator(ctx, name, spec)
        final[name] = 1
        entries.append(Entry(name, name, slot, source))
    if not entries:
        raise ctx.error('give "by" fields, accumulators or both, e.g. {"by": "company", "n": "count()"}')
    stages: list[dict[str, Any]] = [{"$group": {"_id": group_key, **accumulators}}, {"$project": final}]
    return stages, ctx.shape.derived(entries)


def _group_keys(ctx: StageContext, by: list[str]) -> tuple[Any, dict[str, Any], dict[str, Any], list[Entry]]:
    """The ``$group`` ``_id``, helper accumulators, the final ``$project`` and the output entries of ``by``.

    The output name is the path as given (``addresses.state``); the Mongo key replaces the dots with
    ``__`` (Mongo keys hold no dots, and output names of accumulators cannot contain ``_``).
    """
    group_id: dict[str, Any] = {}
    accumulators: dict[str, Any] = {}
    final: dict[str, Any] = {"_id": 0}
    entries: list[Entry] = []
    for path in by:
        r = ctx.resolve(path, "group field")
        key = path.replace(".", "__")
        if r.slot.type.groups_by_key and not r.slot.many:
            # Group on the id, so a relabelled record is still one group; keep the whole value for output.
            group_id[key] = f"${r.slot.type.key_path(r.mongo_path)}"
            accumulators[key] = {"$first": f"${r.mongo_path}"}
            final[key] = 1
        else:
            ctx.check_whole(r)
            # Unset values group with the value they render as: the type's missing value (booleans: false), and
            # [] for a multi-valued one (never set, null and [] are one group; so are a path into a missing
            # multi-valued group and one into a group whose items lack the field).
            missing = [] if r.slot.many else r.slot.type.missing_value()
            value = f"${r.mongo_path}"
            group_id[key] = value if missing is None else {"$ifNull": [value, missing]}
            final[key] = f"$_id.{key}"
        entries.append(Entry(path, key, r.slot, r.source))
    if len(group_id) != 1:
        return group_id or None, accumulators, final, entries
    # One key: group on the value itself, which is cheaper than a one-field document.
    key, expression = next(iter(group_id.items()))
    final = {k: ("$_id" if v == f"$_id.{key}" else v) for k, v in final.items()}
    return expression, accumulators, final, entries


def _accumulator(ctx: StageContext, name: str, spec: Any) -> tuple[dict[str, Any], Slot, str | None]:
    """The ``$group`` accumulator, the output's slot and the record field its values come from (None: computed)."""
    parsed = ACCUMULATOR_RE.match(spec) if isinstance(spec, str) else None
    if parsed is None or parsed["op"] not in ACCUMULATORS:
        raise ctx.error(f"'{name}': an accumulator is one of {', '.join(a + '()' for a in ACCUMULATORS)} as a "
                        f"string, e.g. \"sum(numberOfSkills)\"; got {spec!r}")
    op, arg = parsed["op"], parsed["arg"]
    if op == "count":
        if arg:
            raise ctx.error(f"'{name}': count() takes no field")
        return {"$sum": 1}, Slot(synthetic_field(name, COUNT_FIELD)), None
    if not arg:
        raise ctx.error(f"'{name}': {op}() needs a field, e.g. \"{op}(numberOfSkills)\"")
    r = ctx.resolve(arg)
    allowed = set(r.slot.type.accumulators) - (ARRAY_UNSAFE if r.slot.many else set())
    if op not in allowed:
        hint = "; unwind it first" if r.slot.many and op in r.slot.type.accumulators else ""
        options = ", ".join(f"{a}()" for a in sorted(allowed)) or "none"
        raise ctx.error(f"'{name}': {op}() is not allowed on '{arg}' ({r.slot.describe()}){hint}; "
                        f"allowed: {options}")
    if op in ("min", "max"):
        ctx.check_whole(r)
    if op in ("sum", "avg"):
        return {f"${op}": f"${r.mongo_path}"}, Slot(synthetic_field(name, _number_type(r.slot))), None
    return {f"${op}": f"${r.mongo_path}"}, r.slot, r.source


def _number_type(source: Slot) -> FieldType:
    """The type a sum or average is rendered with: a decimal, money, percentage or big number one keeps its type
    (its decimals, its text); any other number is a decimal."""
    keeps = isinstance(source.type, DecimalType) or source.type.totals_keep_type  # bigNumber: exact text
    return source.type if keeps else NUMBER_TYPE


def count(ctx: StageContext, settings: Any) -> Step:
    if not isinstance(settings, str) or not COUNT_NAME_RE.match(settings):
        raise ctx.error('settings is the name of the output field, letters, digits and underscores only, e.g. '
                        '"counter_field"')
    # $facet so that no input still gives one document {name: 0}, on a real server as on the embedded one.
    stages = [{"$facet": {"counted": [{"$count": "n"}]}},
              {"$project": {settings: {"$ifNull": [{"$arrayElemAt": ["$counted.n", 0]}, 0]}}}]
    return stages, ctx.shape.derived([Entry(settings, settings, Slot(synthetic_field(settings, COUNT_FIELD)))])


def skip(ctx: StageContext, settings: Any) -> Step:
    return [{"$skip": _int(ctx, settings, minimum=0)}], ctx.shape


def limit(ctx: StageContext, settings: Any) -> Step:
    return [{"$limit": _int(ctx, settings, minimum=1)}], ctx.shape


def unwind(ctx: StageContext, settings: Any) -> Step:
    if isinstance(settings, str):
        settings = {"fieldPath": settings}
    if not isinstance(settings, dict) or set(settings) - {"fieldPath", "includeEmpty"}:
        raise ctx.error('settings must be {"fieldPath": "<field>", "includeEmpty": true|false}')
    include_empty = settings.get("includeEmpty", False)
    if not isinstance(include_empty, bool):
        raise ctx.error("includeEmpty must be true or false")
    r = ctx.resolve(settings.get("fieldPath"), "fieldPath")
    if not r.is_whole_entry:
        raise ctx.error(f"'{settings['fieldPath']}': only top-level fields can be unwound")
    stage = {"$unwind": {"path": f"${r.mongo_path}", "preserveNullAndEmptyArrays": include_empty}}
    return [stage], ctx.shape.with_entry(Entry(r.entry.name, r.entry.key, single(r.slot), r.source))


def lookup(ctx: StageContext, settings: Any) -> Step:
    if not isinstance(settings, dict) or set(settings) != set(LOOKUP_KEYS):
        raise ctx.error(f"settings must be an object with exactly {', '.join(LOOKUP_KEYS)}")
    foreign_name, out = settings["foreignEntityName"], settings["as"]
    foreign = ctx.find_entity(foreign_name) if isinstance(foreign_name, str) else None
    if foreign is None:
        raise ctx.error(f"foreignEntityName: entity '{foreign_name}' does not exist")
    if not isinstance(out, str) or not NAME_RE.match(out) or out == "id":
        raise ctx.error("as: the output name is letters and digits, starts with a letter and is not 'id'")
    local = _join_path(ctx, ctx.resolve(settings["localFieldPath"], "localFieldPath"), "localFieldPath")
    # no field guard there: a caller restricted on the foreign entity may not join it at all
    foreign_ctx = StageContext(ctx.index, ctx.name, foreign, Shape.records(foreign), ctx.find_entity)
    remote = _join_path(ctx, foreign_ctx.resolve(settings["foreignFieldPath"], "foreignFieldPath"),
                        "foreignFieldPath")
    if local[1].type.family != remote[1].type.family:
        raise ctx.error(f"localFieldPath ({local[1].describe()}) and foreignFieldPath ({remote[1].describe()}) "
                        f"hold different kinds of values and would never match")
    stage = {"$lookup": {"from": data_collection_name(foreign.name), "localField": local[0], "foreignField": remote[0],
                         "as": out}}
    slot = Slot(synthetic_field(out, RECORDS, many=True), many=True, entity=foreign)
    return [stage], ctx.shape.with_entry(Entry(out, out, slot))


def _join_path(ctx: StageContext, r: Resolved, what: str) -> tuple[str, Slot]:
    """A relationship joins on its id (``company`` means ``company.id``)."""
    if r.slot.is_records:
        raise ctx.error(f"{what}: joined records cannot be used to join; use one of their fields")
    if r.slot.type.is_reference:
        found = r.slot.child(r.slot.type.reference_key)
        assert found is not None
        return r.slot.type.key_path(r.mongo_path), found[1]
    return r.mongo_path, r.slot


def _comma_list(ctx: StageContext, value: Any, expected: str) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    elif isinstance(value, str):
        items = value.split(",")
    else:
        raise ctx.error(f"expected {expected}")
    out = [i.strip() for i in items if i.strip()]
    if not out:
        raise ctx.error(f"expected {expected}; got an empty list")
    return out


def _int(ctx: StageContext, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ctx.error(f"expected an integer of at least {minimum}; got {value!r}")
    return value


def geo_near(ctx: StageContext, settings: Any) -> Step:
    """The records nearest a point first, each with its distance in meters (times ``distanceMultiplier``) in
    ``distanceField``; ``minDistance``/``maxDistance`` in meters; ``key`` the geo point field (needed when the
    entity has several); ``includeLocs`` names a field to hold the point found. Only as the first stage."""
    if ctx.index != 1 or ctx.shape.entity is None:
        raise ctx.error("geoNear must be the first stage")
    if not isinstance(settings, dict) or set(settings) - set(GEO_NEAR_KEYS) or "distanceField" not in settings:
        raise ctx.error(f"settings is an object with distanceField and any of {', '.join(GEO_NEAR_KEYS[1:])}, e.g. "
                        '{"coordinates": {"longitude": 10, "latitude": 5}, "distanceField": "distance"}')
    key = _geo_key(ctx, settings.get("key"))
    out = _output_name(ctx, settings["distanceField"], "distanceField")
    spec: dict[str, Any] = {"near": {"type": "Point", "coordinates": _coordinates(ctx, settings.get("coordinates"))},
                            "distanceField": out, "key": key.mongo_path, "spherical": True}
    for name in ("minDistance", "maxDistance", "distanceMultiplier"):
        if name in settings:
            spec[name] = _non_negative(ctx, settings[name], name)
    if spec.get("maxDistance", math.inf) < spec.get("minDistance", 0):
        raise ctx.error("maxDistance must not be less than minDistance")
    entries = [Entry(out, out, Slot(synthetic_field(out, NUMBER_TYPE)))]
    if "includeLocs" in settings:
        spec["includeLocs"] = _output_name(ctx, settings["includeLocs"], "includeLocs")
        if spec["includeLocs"] == out:
            raise ctx.error("includeLocs and distanceField must differ")
        entries.append(Entry(spec["includeLocs"], spec["includeLocs"],
                             Slot(synthetic_field(spec["includeLocs"], key.slot.type))))
    shape = ctx.shape
    for entry in entries:
        shape = shape.with_entry(entry)
    return [{"$geoNear": spec}], shape


def _geo_key(ctx: StageContext, key: Any) -> Resolved:
    """The geo point field to search: ``key``, or the entity's only one."""
    if key is None:
        paths = _geo_paths(ctx.entity.fields, "")
        if len(paths) != 1:
            raise ctx.error(f"give key, the geo point field to search: one of {', '.join(paths)}" if paths else
                            f"'{ctx.entity.name}' has no geo point field to search near")
        key = paths[0]
    r = ctx.resolve(key, "key")
    if "near" not in r.slot.type.operators or r.slot.many or any(s.many or s.is_records for s in r.via):
        raise ctx.error(f"key: '{key}' ({r.slot.describe()}) is not a geo point outside multi-valued nested fields")
    return r


def _geo_paths(fields: list[Any], prefix: str) -> list[str]:
    out: list[str] = []
    for f in fields:
        if f.is_nested and not f.many:
            out += _geo_paths(f.nested, f"{prefix}{f.name}.")
        elif "near" in f.type.operators:
            out.append(prefix + f.name)
    return out


def _coordinates(ctx: StageContext, value: Any) -> list[float]:
    if not isinstance(value, dict) or set(value) != {"longitude", "latitude"}:
        raise ctx.error('coordinates is {"longitude": <-180..180>, "latitude": <-90..90>}')
    try:
        return [coordinate(value["longitude"], 180, "longitude"), coordinate(value["latitude"], 90, "latitude")]
    except FieldInvalid as exc:
        raise ctx.error(f"coordinates: {exc.message}") from None


def _non_negative(ctx: StageContext, value: Any, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ctx.error(f"{name} must be a non-negative number; got {value!r}")
    return value


def _output_name(ctx: StageContext, value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value) or value == "id":
        raise ctx.error(f"{what}: the output name is letters and digits, starts with a letter and is not 'id'")
    return value


Translator = Callable[[StageContext, Any], Step]
TRANSLATORS: dict[str, Translator] = {
    "match": match, "sort": sort, "project": project, "group": group, "count": count, "skip": skip,
    "limit": limit, "unwind": unwind, "lookup": lookup, "geoNear": geo_near,
}
GEO_NEAR_KEYS = ("distanceField", "coordinates", "minDistance", "maxDistance", "key", "distanceMultiplier",
                 "includeLocs")
