"""Geo queries on the embedded store, answering as a MongoDB server does on GeoJSON points under a 2dsphere index
(patched in by ``embedded_index.install``; tests/runtime/test_embedded_geo.py checks each documented behaviour).

mongomock-ng measures on a sphere of 6,371 km where MongoDB uses 6,378.1 km (``core.geo``), applies ``$geoNear``'s
``minDistance``/``maxDistance`` to distances already multiplied by ``distanceMultiplier``, does not filter by distance
at all when a ``find`` also sorts, only finds ``$near`` at the top of a filter (not inside ``$and``), counts with
``$near`` (a server refuses) and has no ``$centerSphere``. Here:

* ``find`` with ``{field: {$near | $nearSphere: {$geometry: <Point>, $minDistance, $maxDistance}}}``, at the top of
  the filter or in its top-level ``$and``: needs a 2dsphere index on the field; keeps the documents with a point
  there within the distances (meters, both ends included) and hands them out nearest first — a ``sort`` given
  with it then reorders them, as on a server;
* ``count_documents`` with ``$near``/``$nearSphere`` is refused, as a server refuses it;
* ``$geoWithin: {$centerSphere: [[longitude, latitude], radians]}`` holds the points within that angle of the centre
  (boundary included); other ``$geoWithin`` forms stay mongomock's;
* the ``$geoNear`` stage with a GeoJSON ``near`` and a ``key``: distances in meters; ``minDistance`` and
  ``maxDistance`` compare the distance before ``distanceMultiplier`` is applied to the output; ``query``,
  ``includeLocs`` (the nearest point) as documented; anywhere but first in a pipeline it is refused. A legacy
  coordinate pair stays mongomock's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pymongo.errors import OperationFailure

from core.geo import EARTH_RADIUS_METERS, central_angle

NEAR_OPERATORS = ("$near", "$nearSphere")
NOT_HERE = ("$geoNear, $near, and $nearSphere are not allowed in this context, as these operators require sorting "
            "geospatial data. If you do not need sort, consider using $geoWithin instead.")
NO_INDEX = "error processing query: planner returned error :: caused by :: unable to find index for $geoNear query"
BAD_VALUE, NO_QUERY_EXECUTION_PLANS, FIRST_STAGE_ONLY = 2, 291, 40602


def install(replace: Callable[[Any, str, Any], None]) -> None:
    from mongomock_ng import aggregate as ma
    from mongomock_ng import collection as mc
    from mongomock_ng import filtering

    operators = filtering._filterer_inst._operator_map
    upstream_within = operators["$geoWithin"]
    upstream_iter = mc.Collection._iter_documents
    upstream_count = mc.Collection.count_documents
    upstream_geo_near = ma._PIPELINE_HANDLERS["$geoNear"]
    upstream_aggregate = mc.Collection.aggregate

    def geo_within(doc_value: Any, spec: Any) -> bool:
        if isinstance(spec, dict) and "$centerSphere" in spec:
            (longitude, latitude), radius = _center_sphere(spec["$centerSphere"])
            return any(central_angle(x, y, longitude, latitude) <= radius for x, y in _points(doc_value))
        return upstream_within(doc_value, spec)

    def iter_documents(self: Any, filter: Any) -> Iterable[dict[str, Any]]:
        split = _split_near(filter)
        if split is None:
            return upstream_iter(self, filter)
        path, near, rest = split
        if not self._has_2dsphere_index_on(path):
            raise OperationFailure(NO_INDEX, NO_QUERY_EXECUTION_PLANS)
        return _nearest_first(upstream_iter(self, rest), path, *_near_spec(near))

    def count_documents(self: Any, filter: Any, *args: Any, **kwargs: Any) -> int:
        if _mentions_near(filter):
            raise OperationFailure(NOT_HERE, BAD_VALUE)
        return upstream_count(self, filter, *args, **kwargs)

    def aggregate(self: Any, pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        stages = list(pipeline)
        if any(isinstance(stage, dict) and "$geoNear" in stage for stage in stages[1:]):
            raise OperationFailure("$geoNear is only valid as the first stage in a pipeline", FIRST_STAGE_ONLY)
        return upstream_aggregate(self, stages, *args, **kwargs)

    def geo_near(in_collection: Any, database: Any, options: Any, user_vars: Any) -> Any:
        if not isinstance(options, dict) or not isinstance(options.get("near"), dict):
            return upstream_geo_near(in_collection, database, options, user_vars)
        return _geo_near(in_collection, options)

    replace(operators, "$geoWithin", geo_within)
    replace(mc, "extract_near_specs", lambda spec: ([], spec))  # near is handled in _iter_documents instead
    replace(mc.Collection, "_iter_documents", iter_documents)
    replace(mc.Collection, "count_documents", count_documents)
    replace(mc.Collection, "aggregate", aggregate)
    replace(ma._PIPELINE_HANDLERS, "$geoNear", geo_near)


# --- reading points and query settings -------------------------------------------------------------------

def _geo_points(value: Any) -> Iterator[dict[str, Any]]:
    """Every GeoJSON point in ``value`` (a point, or a list of values)."""
    if isinstance(value, list):
        for item in value:
            yield from _geo_points(item)
    elif isinstance(value, dict) and value.get("type") == "Point":
        coordinates = value.get("coordinates")
        if isinstance(coordinates, list | tuple) and len(coordinates) >= 2 and all(
                _number(c) for c in coordinates[:2]):
            yield value


def _points(value: Any) -> Iterator[tuple[float, float]]:
    """The (longitude, latitude) of every GeoJSON point in ``value``."""
    for point in _geo_points(value):
        yield float(point["coordinates"][0]), float(point["coordinates"][1])


def _values_at(doc: dict[str, Any], path: str) -> list[Any]:
    """The values at a dotted path, through documents and arrays of documents."""
    values: list[Any] = [doc]
    for part in path.split("."):
        found: list[Any] = []
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and part in item:
                    found.append(item[part])
        values = found
    return values


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _point(geometry: Any, what: str) -> tuple[float, float]:
    """A GeoJSON point's (longitude, latitude), or OperationFailure."""
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point" or not isinstance(coordinates, list | tuple) \
            or len(coordinates) != 2 or not all(_number(c) for c in coordinates):
        raise OperationFailure(f"{what} must be a GeoJSON point {{type: 'Point', coordinates: [lng, lat]}}", BAD_VALUE)
    longitude, latitude = float(coordinates[0]), float(coordinates[1])
    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        raise OperationFailure(f"{what}: longitude/latitude is out of bounds, lng: {longitude} lat: {latitude}",
                               BAD_VALUE)
    return longitude, latitude


def _distance(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if not _number(value) or value < 0:
        raise OperationFailure(f"{what} must be a non-negative number", BAD_VALUE)
    return float(value)


def _center_sphere(spec: Any) -> tuple[tuple[float, float], float]:
    if not isinstance(spec, list | tuple) or len(spec) != 2 or not isinstance(spec[0], list | tuple) \
            or len(spec[0]) != 2 or not all(_number(c) for c in spec[0]):
        raise OperationFailure("$centerSphere takes [[longitude, latitude], radius]", BAD_VALUE)
    radius = _distance(spec[1], "radius")
    return _point({"type": "Point", "coordinates": list(spec[0])}, "$centerSphere"), radius  # type: ignore[return-value]


# --- find with $near / $nearSphere ---------------------------------------------------------------------------

def _is_near(condition: Any) -> bool:
    return isinstance(condition, dict) and any(op in condition for op in NEAR_OPERATORS)


def _mentions_near(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k in NEAR_OPERATORS or _mentions_near(v) for k, v in value.items())
    return isinstance(value, list) and any(_mentions_near(v) for v in value)


def _split_near(filter: Any) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """``(path, near condition, the filter without it)`` when the filter's top level or its top-level ``$and`` holds
    a near condition (where a server accepts one); else None."""
    if not isinstance(filter, dict):
        return None
    for key, condition in filter.items():
        if not key.startswith("$") and _is_near(condition):
            return key, condition, {k: v for k, v in filter.items() if k != key}
    parts = filter.get("$and")
    if not isinstance(parts, list):
        return None
    for i, part in enumerate(parts):
        found = _split_near(part)
        if found is not None:
            path, near, rest_of_part = found
            others = [*parts[:i], *([rest_of_part] if rest_of_part else []), *parts[i + 1:]]
            rest = {k: v for k, v in filter.items() if k != "$and"}
            if others:
                rest["$and"] = others
            return path, near, rest
    return None


def _near_spec(condition: dict[str, Any]) -> tuple[tuple[float, float], float | None, float | None]:
    """The centre and the distances (meters) of a near condition with a GeoJSON ``$geometry``."""
    operator = next(op for op in NEAR_OPERATORS if op in condition)
    spec = condition[operator]
    if not isinstance(spec, dict) or "$geometry" not in spec:
        raise OperationFailure(f"{operator}: the embedded store takes a GeoJSON $geometry point only", BAD_VALUE)
    centre = _point(spec["$geometry"], operator)
    low = _distance(spec.get("$minDistance", condition.get("$minDistance")), "$minDistance")
    high = _distance(spec.get("$maxDistance", condition.get("$maxDistance")), "$maxDistance")
    return centre, low, high


def _nearest(doc: dict[str, Any], path: str, centre: tuple[float, float]) -> tuple[float, dict[str, Any]] | None:
    """The distance (meters) from ``centre`` to the nearest point at ``path``, and that point; None without one."""
    found = [(central_angle(float(p["coordinates"][0]), float(p["coordinates"][1]), *centre) * EARTH_RADIUS_METERS, p)
             for p in _geo_points(_values_at(doc, path))]
    return min(found, key=lambda pair: pair[0]) if found else None


def _within(distance: float, low: float | None, high: float | None) -> bool:
    return (low is None or distance >= low) and (high is None or distance <= high)


def _nearest_first(docs: Iterable[dict[str, Any]], path: str, centre: tuple[float, float], low: float | None,
                   high: float | None) -> list[dict[str, Any]]:
    scored = []
    for doc in docs:
        nearest = _nearest(doc, path, centre)
        if nearest is not None and _within(nearest[0], low, high):
            scored.append((nearest[0], doc))
    scored.sort(key=lambda pair: pair[0])  # stable: equal distances keep the store's order
    return [doc for _, doc in scored]


# --- the $geoNear stage --------------------------------------------------------------------------------------

def _geo_near(docs: list[dict[str, Any]], options: dict[str, Any]) -> list[dict[str, Any]]:
    from mongomock_ng.filtering import filter_applies

    from core.embedded_query import check_deadline

    known = {"near", "distanceField", "spherical", "minDistance", "maxDistance", "distanceMultiplier", "includeLocs",
             "key", "query"}
    unknown = set(options) - known
    if unknown:
        raise OperationFailure(f"Unknown argument to $geoNear: {sorted(unknown)[0]}", BAD_VALUE)
    centre = _point(options["near"], "$geoNear near")
    field, key = options.get("distanceField"), options.get("key")
    if not isinstance(field, str) or not field:
        raise OperationFailure("$geoNear requires that the 'distanceField' option is a String", 16606)
    if not isinstance(key, str) or not key:
        raise OperationFailure("$geoNear needs 'key' on the embedded store", BAD_VALUE)
    low, high = _distance(options.get("minDistance"), "minDistance"), _distance(options.get("maxDistance"),
                                                                                 "maxDistance")
    multiplier = _distance(options.get("distanceMultiplier", 1), "distanceMultiplier")
    query, locations = options.get("query") or {}, options.get("includeLocs")
    out = []
    for doc in docs:
        check_deadline()
        nearest = _nearest(doc, key, centre)
        if nearest is None or not _within(nearest[0], low, high) or (query and not filter_applies(query, doc)):
            continue
        row = dict(doc)
        row[field] = nearest[0] * multiplier  # type: ignore[operator]
        if locations:
            row[locations] = {"type": "Point", "coordinates": list(nearest[1]["coordinates"])}
        out.append((nearest[0], row))
    out.sort(key=lambda pair: pair[0])
    return [row for _, row in out]
