"""The patched document walk of the embedded store returns what mongomock's own returns."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any

import pytest
from bson import ObjectId, Timestamp
from bson.son import SON

from core import embedded_documents, embedded_index

embedded_index.install()

NAIVE = dt.datetime(2024, 3, 1, 10, 0, 0, 123456)
AWARE = dt.datetime(2024, 3, 1, 10, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=2)))


@pytest.mark.parametrize("doc", [
    {"_id": ObjectId(), "n": 1, "f": 1.5, "b": True, "s": "x", "none": None, "raw": b"\x00"},
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
