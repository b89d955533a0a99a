"""``near(lat,long[,minDistance[,maxDistance]])`` on a geo point: the records whose point is within the distances
(meters, both ends included), and, for a list that gives no ``_sortField``, their order: nearest first.

The filter is a ``$geoWithin`` of two spherical caps, which works wherever a filter goes (counts, ``$or``, aggregate
``match``, permission rules): the cap of radius ``maxDistance`` around the point, and for ``minDistance`` the cap
around its antipode that leaves out the points nearer than it (as MongoDB rewrites ``$geoNear`` for its own
matches). The order is a ``$nearSphere`` condition that only a list's find carries (``ListQuery.near``): MongoDB
refuses it in a count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.geo import EARTH_RADIUS_METERS, antipode
from entities.metadata import Entity
from entities.query.paths import Target, resolve
from entities.query.values import bad, parse_operation

USAGE = "near(latitude,longitude[,minDistance[,maxDistance]]), distances in meters"
NOTHING = {"_id": {"$in": []}}  # a condition no record meets


@dataclass(frozen=True)
class Near:
    latitude: float
    longitude: float
    low: float | None  # meters
    high: float | None

    @property
    def centre(self) -> list[float]:
        return [self.longitude, self.latitude]

    def geometry(self) -> dict[str, Any]:
        return {"type": "Point", "coordinates": self.centre}


def _number(text: str, param: str, what: str, limit: float | None = None) -> float | None:
    if text == "" and limit is None:
        return None  # a distance left out: near(lat,long,,5000)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (limit is not None and abs(value) > limit) or (limit is None and value < 0):
        bound = f"a number from -{limit:g} to {limit:g}" if limit is not None else "a non-negative number of meters"
        raise bad(param, f"{what} must be {bound}; {USAGE}")
    return value


def parse_near(args: list[str], param: str) -> Near:
    if not 2 <= len(args) <= 4:
        raise bad(param, f"near() takes 2 to 4 values: {USAGE}")
    texts = [*args, "", ""][:4]
    latitude = _number(texts[0], param, "latitude", 90)
    longitude = _number(texts[1], param, "longitude", 180)
    low, high = _number(texts[2], param, "minDistance"), _number(texts[3], param, "maxDistance")
    if low is not None and high is not None and high < low:
        raise bad(param, "maxDistance must not be less than minDistance")
    return Near(latitude, longitude, low, high)  # type: ignore[arg-type]


def _path(target: Target, param: str) -> str:
    if any(s.array for s in target.chain):
        raise bad(param, "near() cannot reach a geo point inside a multi-valued nested field")
    return ".".join(s.key for s in target.chain)


def near_condition(target: Target, args: list[str], param: str) -> dict[str, Any]:
    """The records whose point at ``target`` is within the distances of ``near(...)``."""
    near, path = parse_near(args, param), _path(target, param)
    high = math.pi if near.high is None else min(near.high / EARTH_RADIUS_METERS, math.pi)
    caps = [{path: {"$geoWithin": {"$centerSphere": [near.centre, high]}}}]
    if near.low:
        inside_out = math.pi - near.low / EARTH_RADIUS_METERS
        if inside_out < 0:  # farther than half way round the Earth: no point is
            return NOTHING
        caps.append({path: {"$geoWithin": {"$centerSphere": [list(antipode(near.longitude, near.latitude)),
                                                             inside_out]}}})
    return caps[0] if len(caps) == 1 else {"$and": caps}


def proximity_order(entity: Entity, args: Any) -> dict[str, Any] | None:
    """The ``$nearSphere`` condition that orders a list by its first ``near()`` filter, or None without one."""
    for key in args:
        if key.startswith("_"):
            continue
        for raw in args.getlist(key):
            if not raw.lstrip().startswith("near("):
                continue
            operation = parse_operation(raw, key)
            near, path = parse_near(operation.args, key), _path(resolve(entity.fields, key, key), key)
            spec: dict[str, Any] = {"$geometry": near.geometry()}
            if near.low:
                spec["$minDistance"] = near.low
            if near.high is not None:
                spec["$maxDistance"] = near.high
            return {path: {"$nearSphere": spec}}
    return None
