"""The patched document walk of the embedded store returns what mongomock's own returns."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any

import pytest
from bson import Binary, ObjectId, Timestamp
from bson.son import SON

from core import embedded_documents, embedded_index

embedded_index.install()

NAIVE = dt.datetime(2024, 3, 1, 10, 0, 0, 123456)
AWARE = dt.datetime(2024, 3, 1, 10, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=2)))


@pytest.mark.parametrize("doc", [
    {"_id": ObjectId(), "n": 1, "f": 1.5, "b": True, "s": "x", "none": None, "raw": b"\x00",
     "packed": [{"_id": ObjectId(), "bson": Binary(b"\x05\x00\x00\x00\x00")}]},
    {"at": NAIVE, "nested": {"at": AWARE, "list": [AWARE, {"deep": NAIVE}, (1, NAIVE)]}},
    {"ordered": OrderedDict([("b", NAIVE), ("a", 1)]), "son": SON([("x", AWARE)]), "ts": Timestamp(0, 0)},
    [1, [NAIVE, {"a": [AWARE]}]], NAIVE, "text", Timestamp(5, 1),
])
def test_the_patched_walk_returns_what_mongomock_returns(doc: Any):
    got, expected = embedded_documents.patched(doc), embedded_documents.upstream(doc)
    if isinstance(doc, dict) and "ts" in doc:  # an empty timestamp becomes "now" each time
        got.pop("ts"), expected.pop("ts")
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(doc, dict):
        assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
        assert got is not doc  # a copy, as upstream's


def test_inserted_documents_are_stored_as_mongomock_stores_them():
    import mongomock_ng

    col = mongomock_ng.MongoClient().db.things
    col.insert_one({"_id": 1, "at": AWARE, "items": [{"at": NAIVE}]})
    stored = col.find_one({"_id": 1})
    assert stored["at"] == dt.datetime(2024, 3, 1, 8, 0, 0, 999000) and stored["at"].tzinfo is None
    assert stored["items"][0]["at"] == dt.datetime(2024, 3, 1, 10, 0, 0, 123000)


@pytest.mark.parametrize("doc", [
    {"_id": ObjectId(), "n": 1, "f": 1.5, "b": True, "s": "x", "none": None, "raw": b"\x00", "big": 2**70,
     "packed": [{"_id": ObjectId(), "bson": Binary(b"\x05\x00\x00\x00\x00", 0)}], "uuid": Binary(b"u" * 16, 4)},
    {"at": NAIVE, "keys": ["1:a", "2:b"], "nested": {"at": AWARE, "list": [AWARE, {"deep": NAIVE}, (1, NAIVE)]}},
    {"ordered": OrderedDict([("b", [NAIVE, "x"]), ("a", {"c": 1})]), "son": SON([("x", {"y": [1]})]),
     "ts": Timestamp(5, 1), "set": frozenset({1})},
    [1, "a", [NAIVE, {"a": [AWARE, ObjectId()]}], SON([("k", "v")])], NAIVE, "text", ObjectId(), None,
])
@pytest.mark.parametrize("container", [dict, SON, OrderedDict])
def test_the_patched_read_copy_returns_what_mongomock_returns(doc: Any, container: type):
    from mongomock_ng import collection

    patched_copy = collection._copy_field
    got = patched_copy(doc, container)
    with embedded_index.upstream():
        assert collection._copy_field is not patched_copy  # mongomock's own
        expected = collection._copy_field(doc, container)
    assert got == expected and type(got) is type(expected)

    def shape(value: Any) -> Any:  # the types all the way down, and which values are the original objects
        if isinstance(value, dict):
            return [(k, shape(v)) for k, v in value.items()], type(value)
        if isinstance(value, list):
            return [shape(v) for v in value], type(value)
        return type(value)
    assert shape(got) == shape(expected)
    if isinstance(doc, dict | list):
        assert got is not doc


def test_reads_return_copies_as_mongomock_does():
    import mongomock_ng

    col = mongomock_ng.MongoClient().db.copies
    col.insert_one({"_id": 1, "keys": ["a", "b"], "sub": {"n": 1}})
    first = col.find_one({"_id": 1})
    first["keys"].append("c")
    first["sub"]["n"] = 2
    assert col.find_one({"_id": 1}) == {"_id": 1, "keys": ["a", "b"], "sub": {"n": 1}}
