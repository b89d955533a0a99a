"""Decimal128 on the embedded store answers as MongoDB does (exact comparisons, sorts and accumulators), where
mongomock's own paths compare through floats, add in 28 digits, or refuse; other values are left to mongomock."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128

from core import embedded_index
from core.storage import connect, drop_embedded

NEAR = ["8.997738199773819977381", "8.997738199773819977382", "8.997738199773819977380"]  # equal as floats


@pytest.fixture
def col() -> Iterator[Any]:
    store = connect(None, "embedded_decimal")
    try:
        yield store.collection("numbers")
    finally:
        drop_embedded("embedded_decimal")


def put(col: Any, *values: Any) -> None:
    col.insert_many([{"_id": ObjectId(), "v": v, "g": 1} for v in values])


def values(docs: Any) -> list[Any]:
    return [str(d["v"]) if isinstance(d.get("v"), Decimal128) else d.get("v") for d in docs]


def test_comparisons_and_sorts_are_exact(col: Any):
    put(col, *(Decimal128(v) for v in NEAR))
    assert values(col.find({"v": {"$gt": Decimal128(NEAR[0])}})) == [NEAR[1]]
    assert values(col.find({"v": {"$lte": Decimal128(NEAR[0])}})) == [NEAR[0], NEAR[2]]
    assert values(col.find({}).sort("v", 1)) == [NEAR[2], NEAR[0], NEAR[1]]
    assert values(col.find({}).sort("v", -1).limit(1)) == [NEAR[1]]  # the top-k path


def test_decimals_compare_with_ints_and_floats_as_numbers(col: Any):
    put(col, Decimal128("2.5"), 2, 3.0, Decimal128("-1"), None, "text")
    assert values(col.find({"v": {"$gt": 2}}).sort("v", 1)) == ["2.5", 3.0]
    assert values(col.find({"v": {"$lt": Decimal128("2.5")}}).sort("v", 1)) == ["-1", 2]
    assert values(col.find({}).sort("v", 1)) == [None, "-1", 2, "2.5", 3.0, "text"]  # numbers in one bracket
    with embedded_index.upstream(), pytest.raises(AttributeError):  # mongomock alone: a Decimal128 beside an int
        list(col.find({"v": {"$gt": 2}}))


def test_accumulators_are_exact_and_answer_decimals(col: Any):
    put(col, *(Decimal128(v) for v in NEAR), Decimal128("1" + "0" * 30), None)
    col.insert_one({"_id": ObjectId(), "g": 1})
    group = {"_id": "$g", "sum": {"$sum": "$v"}, "avg": {"$avg": "$v"}, "min": {"$min": "$v"}, "max": {"$max": "$v"}}
    (row,) = col.aggregate([{"$group": group}])
    # 1E+30 + 26.993214599321459932143, to Decimal128's 34 significant digits (half even), and that over 4
    assert str(row["sum"]) == "1000000000000000000000000000026.993"
    assert str(row["avg"]) == "250000000000000000000000000006.7482"
    assert (str(row["min"]), str(row["max"])) == (NEAR[2], "1" + "0" * 30)
    with embedded_index.upstream(), pytest.raises(TypeError):  # mongomock alone: min and max refuse
        list(col.aggregate([{"$group": group}]))


def test_groups_keyed_by_decimals_and_plain_values_are_left_to_mongomock(col: Any):
    put(col, Decimal128("1.5"), Decimal128("1.5"), Decimal128("-2"))
    rows = col.aggregate([{"$group": {"_id": "$v", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert [(str(r["_id"]), r["n"]) for r in rows] == [("-2", 1), ("1.5", 2)]
    col.delete_many({})
    put(col, 1, 2.5, None, 4)
    pipeline = [{"$group": {"_id": "$g", "s": {"$sum": "$v"}, "a": {"$avg": "$v"}, "lo": {"$min": "$v"},
                            "hi": {"$max": "$v"}}}]
    patched = list(col.aggregate(pipeline))
    with embedded_index.upstream():
        assert list(col.aggregate(pipeline)) == patched == [{"_id": 1, "s": 7.5, "a": 2.5, "lo": 1, "hi": 4}]


def test_a_process_on_a_mongodb_server_evaluates_conditions_on_decimals_exactly():
    """Permission rules and listener conditions run mongomock's filter in the process whatever the store: connecting
    to a server installs the Decimal128 comparison too (a fresh process: no embedded store patched it before)."""
    script = ("from bson.decimal128 import Decimal128 as D\n"
              "from mongomock_ng.filtering import filter_applies\n"
              "from core.storage import connect\n"
              "connect('mongodb://127.0.0.1:9/none', 'none', timeout_ms=100)\n"
              f"print(filter_applies({{'v': {{'$gt': D('{NEAR[0]}')}}}}, {{'v': D('{NEAR[1]}')}}),"
              " filter_applies({'v': {'$gt': 2}}, {'v': D('2.5')}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.stdout.split() == ["True", "True"], done.stderr
