"""The embedded store's geo queries answer as the MongoDB manual documents them for GeoJSON points under a 2dsphere
index ($nearSphere, $minDistance, $maxDistance, $centerSphere, $geoNear), on the store itself and through the wire
test server with the real driver."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from pymongo.errors import OperationFailure

from core.geo import EARTH_RADIUS_METERS, distance_meters
from core.storage import connect, drop_embedded
from tests.support.mongo_wire_server import MongoWireServer

ONE_DEGREE = math.pi / 180 * EARTH_RADIUS_METERS  # 111,318.8 m: one degree of a great circle, on MongoDB's sphere


def point(longitude: float, latitude: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [longitude, latitude]}


# along the equator from (0, 0): a at 1°, b at 2°, c at 3°; d has no location
DOCS = [{"_id": name, "loc": point(degrees, 0)} for name, degrees in (("c", 3), ("a", 1), ("b", 2))] + [{"_id": "d"}]


def near(longitude: float = 0, latitude: float = 0, **distances: float) -> dict[str, Any]:
    return {"$nearSphere": {"$geometry": point(longitude, latitude), **{f"${k}": v for k, v in distances.items()}}}


@pytest.fixture
def places() -> Iterator[Any]:
    store = connect(None, "embedded_geo")
    col = store.collection("places")
    col.create_index([("loc", "2dsphere")], name="geo_loc")
    col.insert_many([dict(d) for d in DOCS])
    yield col
    drop_embedded("embedded_geo")


def ids(cursor: Any) -> list[str]:
    return [d["_id"] for d in cursor]


def test_distances_are_on_mongodbs_sphere_of_6378_1_km():
    assert EARTH_RADIUS_METERS == 6378100
    assert distance_meters(0, 0, 1, 0) == pytest.approx(ONE_DEGREE, rel=1e-12)
    assert distance_meters(0, 0, 180, 0) == pytest.approx(math.pi * EARTH_RADIUS_METERS, rel=1e-12)  # antipodes
    assert distance_meters(-58.3816, -34.6037, -58.3816, -34.6037) == 0


def test_near_sphere_returns_the_points_nearest_first_within_the_distances(places: Any):
    assert ids(places.find({"loc": near()})) == ["a", "b", "c"]  # d has no location: not returned
    assert ids(places.find({"loc": near(2.9, 0)})) == ["c", "b", "a"]
    assert ids(places.find({"loc": near(minDistance=1.5 * ONE_DEGREE, maxDistance=2.5 * ONE_DEGREE)})) == ["b"]
    assert ids(places.find({"loc": near(maxDistance=ONE_DEGREE * 1.0000001)})) == ["a"]
    # a radius of 6,371 km (mongomock's own) would put a at 111,195 m, inside this bound
    assert ids(places.find({"loc": near(maxDistance=111_250)})) == []
    assert ids(places.find({"loc": near()}).skip(1).limit(1)) == ["b"]


def test_near_sphere_may_sit_in_the_top_level_and_and_a_sort_reorders_its_matches(places: Any):
    both = {"$and": [{"_id": {"$ne": "b"}}, {"loc": near(maxDistance=2.5 * ONE_DEGREE)}]}
    assert ids(places.find(both)) == ["a"]
    assert ids(places.find({"loc": near(2.9, 0, maxDistance=1.5 * ONE_DEGREE)}).sort("_id", 1)) == ["b", "c"]


def test_near_sphere_needs_a_2dsphere_index_and_a_count_refuses_it(places: Any):
    with pytest.raises(OperationFailure, match="unable to find index"):
        list(places.find({"other": near()}))
    with pytest.raises(OperationFailure, match="not allowed in this context"):
        places.count_documents({"loc": near()})
    with pytest.raises(OperationFailure, match="not allowed in this context"):
        places.count_documents({"$and": [{"loc": near()}]})


def test_center_sphere_holds_the_points_within_the_angle(places: Any):
    def within(longitude: float, latitude: float, radians: float) -> list[str]:
        spec = {"loc": {"$geoWithin": {"$centerSphere": [[longitude, latitude], radians]}}}
        return sorted(ids(places.find(spec)))

    assert within(0, 0, math.radians(2.5)) == ["a", "b"]
    assert within(0, 0, math.pi) == ["a", "b", "c"]  # the whole sphere: every document with a point
    assert within(180, 0, math.pi - math.radians(1.5)) == ["b", "c"]  # the cap around the antipode: ≥ 1.5° away
    assert places.count_documents({"loc": {"$geoWithin": {"$centerSphere": [[0, 0], math.radians(1.5)]}}}) == 1
    with pytest.raises(OperationFailure):
        list(places.find({"loc": {"$geoWithin": {"$centerSphere": [[0, 0], -1]}}}))


def geo_near(**options: Any) -> dict[str, Any]:
    return {"$geoNear": {"near": point(0, 0), "distanceField": "dist", "key": "loc", "spherical": True, **options}}


def test_geo_near_measures_in_meters_and_filters_before_the_multiplier(places: Any):
    rows = places.aggregate([geo_near()])
    assert [r["_id"] for r in rows] == ["a", "b", "c"]
    assert [r["dist"] for r in rows] == pytest.approx([ONE_DEGREE, 2 * ONE_DEGREE, 3 * ONE_DEGREE], rel=1e-9)
    # minDistance / maxDistance are meters whatever distanceMultiplier makes of the output (kilometers here)
    rows = places.aggregate([geo_near(minDistance=1.5 * ONE_DEGREE, maxDistance=2.5 * ONE_DEGREE,
                                      distanceMultiplier=0.001, includeLocs="where")])
    assert [(r["_id"], r["where"]) for r in rows] == [("b", point(2, 0))]
    assert rows[0]["dist"] == pytest.approx(2 * ONE_DEGREE / 1000, rel=1e-9)
    rows = places.aggregate([geo_near(query={"_id": {"$ne": "a"}}), {"$limit": 1}])
    assert [r["_id"] for r in rows] == ["b"]
    with pytest.raises(OperationFailure, match="only valid as the first stage"):
        places.aggregate([{"$match": {}}, geo_near()])
    with pytest.raises(OperationFailure):
        places.aggregate([geo_near(distanceField=5)])
    with pytest.raises(OperationFailure):
        places.aggregate([geo_near(near=point(0, 91))])


def test_near_and_geo_near_through_the_wire_server_with_the_driver():
    server = MongoWireServer().start()
    client: pymongo.MongoClient = pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        col = client[f"geo_{ObjectId()}"]["places"]
        col.create_index([("loc", pymongo.GEOSPHERE)], name="geo_loc")
        col.insert_many([dict(d) for d in DOCS])
        assert ids(col.find({"loc": near(2.9, 0)})) == ["c", "b", "a"]
        assert ids(col.find({"$and": [{}, {"loc": near(maxDistance=2.5 * ONE_DEGREE)}]}).skip(1)) == ["b"]
        assert col.count_documents({"loc": {"$geoWithin": {"$centerSphere": [[0, 0], math.radians(2.5)]}}}) == 2
        with pytest.raises(OperationFailure):
            col.count_documents({"loc": near()})
        rows = list(col.aggregate([geo_near(maxDistance=1.5 * ONE_DEGREE)]))
        assert [(r["_id"], round(r["dist"], 3)) for r in rows] == [("a", round(ONE_DEGREE, 3))]
    finally:
        client.close()
        server.stop()
